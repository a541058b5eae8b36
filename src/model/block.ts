/**
 * One transformer block (nanoGPT's `Block`): attention then MLP, forward and backward side by side
 * (llm.c's `*_forward` / `*_backward`). Node names as in the reference's hooks (src/model/nodes.ts):
 *
 *   h = AbsTopK([RMSNorm_1(x); RMSNorm_p1(pos)])   i.attn.act_in   (rows 0..C)
 *   q,k,v = AbsTopK each(c_attn(h))                 i.attn.q / k / v
 *   a = AbsTopK(c_proj(attn(q,k,v)))                i.attn.resid_delta      mid = x + a
 *   h = AbsTopK([RMSNorm_2(mid); RMSNorm_p2(pos)])  i.mlp.act_in
 *   u = AbsTopK(GELU(c_fc(h)))                      i.mlp.post_act
 *   m = AbsTopK(c_proj(u))                          i.mlp.resid_delta       out = mid + m
 *
 * Each AbsTopK runs where the config's afracLoctypes list it (all eight unless it says otherwise);
 * elsewhere it keeps every channel.
 *
 * Without positions (P = 0) the block inputs are AbsTopK(RMSNorm(x)) over C channels. With them,
 * AbsTopK runs over the C + P channels of the concatenation, k = floor(afrac·(C + P)), exactly the
 * reference's function; the position rows are read-only (nothing writes to them) and never nodes.
 *
 * Circuit pruning hooks in at each node location, right after its AbsTopK: with an ablation set,
 * x̃ = m·x + (1 − m)·μ per node (the AbsTopK output is kept in a `*Raw` buffer for the mask
 * gradient). Pruning's `--freeze-norm` makes every RMSNorm use the scale (rstd) recorded by an
 * unablated forward of the same batch. Both are off in training, which then computes exactly what
 * it computed before they existed.
 */
import { u8At, type U8Ptr } from "../backend/arena.ts";
import type { ComputeBackend } from "../backend/backend.ts";
import * as ops from "../backend/ops/index.ts";
import {
  afracAt,
  type AfracLoctype,
  keepCount,
  type ModelConfig,
  type ModelDims,
} from "./config.ts";
import type { Linear } from "./linear.ts";
import { type LayerNodeOffsets, locationSpec, type NodeLocation } from "./nodes.ts";
import type { LayerParams, ParamSpec } from "./params.ts";

/**
 * Saved activations of one block: byte offsets into the arena, feature-major [rows, N] over the
 * N = B·T tokens of a pass (C = d_model, P = d_pos_emb, HD = heads·d_head, M = d_mlp, H = heads).
 * f32 unless typed U8Ptr (AbsTopK's kept-entry masks, one byte per entry). The six fields named
 * after node locations hold the nodes' activations (src/model/nodes.ts LOCATIONS); their `Raw`
 * twins hold them before ablation (0 when no ablation buffers are allocated). Each buffer's shape
 * is LAYER_ACTS below, which allocates them and sizes a pass's memory.
 */
export interface LayerActs {
  /** The residual stream entering the block (hook `resid_in`). */
  residIn: number;
  /** [RMSNorm_1(residIn); RMSNorm_p1(pos)], the first AbsTopK's input; rstd1 = 1/rms per token. */
  ln1: number;
  rstd1: number;
  rstdPos1: number;
  /** AbsTopK(ln1); rows 0..C are the attn.act_in nodes. */
  attnActIn: number;
  attnActInMask: U8Ptr;
  /** c_attn(attnActIn): q | k | v before AbsTopK, then after it (the attn.q, k, v nodes). */
  qkvPre: number;
  attnQkv: number;
  attnQkvMask: U8Ptr;
  /** Softmax weights, [H, B, T, T] (query row, key column). */
  attnPattern: number;
  /** The heads' outputs side by side. */
  attnY: number;
  /** attn.c_proj(attnY) before AbsTopK, and after: the attn.resid_delta nodes. */
  attnOutPre: number;
  attnResidDelta: number;
  attnResidDeltaMask: U8Ptr;
  /** residIn + attnResidDelta. */
  residMid: number;
  /** The MLP's norms, as ln1, rstd1, rstdPos1. */
  ln2: number;
  rstd2: number;
  rstdPos2: number;
  /** AbsTopK(ln2); rows 0..C are the mlp.act_in nodes. */
  mlpActIn: number;
  mlpActInMask: U8Ptr;
  /** c_fc(mlpActIn), GELU of it, and 1 + erf(fcPre/√2) for GELU's backward. */
  fcPre: number;
  gelu: number;
  phi: number;
  /** AbsTopK(gelu): the mlp.post_act nodes. */
  mlpPostAct: number;
  mlpPostActMask: U8Ptr;
  /** mlp.c_proj(mlpPostAct) before AbsTopK, and after: the mlp.resid_delta nodes. */
  mlpOutPre: number;
  mlpResidDelta: number;
  mlpResidDeltaMask: U8Ptr;
  /** Scales recorded by an unablated forward, for frozen norms. */
  rstd1Frozen: number;
  rstd2Frozen: number;
  /** The node activations before ablation. */
  attnActInRaw: number;
  attnQkvRaw: number;
  attnResidDeltaRaw: number;
  mlpActInRaw: number;
  mlpPostActRaw: number;
  mlpResidDeltaRaw: number;
}

/**
 * A saved activation's shape: `rows` per token of the pass ([rows, N]), or per query and key of
 * every head (`attention`: [H, B, T, T]); u8 or f32; `raw`: allocated only when an ablation needs
 * the pre-ablation values for its mask gradient.
 */
export interface ActShape {
  rows: (d: ModelDims) => number;
  type: "f32" | "u8";
  attention?: boolean;
  raw?: boolean;
  /** `rows` entries in all, whatever the pass's size. */
  fixed?: boolean;
}

const f32 = (rows: (d: ModelDims) => number): ActShape => ({ rows, type: "f32" });
const u8 = (rows: (d: ModelDims) => number): ActShape => ({ rows, type: "u8" });
const raw = (rows: (d: ModelDims) => number): ActShape => ({ rows, type: "f32", raw: true });
const byC = (d: ModelDims) => d.C, byCP = (d: ModelDims) => d.C + d.P;
const byM = (d: ModelDims) => d.M, byHD = (d: ModelDims) => d.HD;
const by3HD = (d: ModelDims) => 3 * d.HD;
const one = () => 1, ifPos = (d: ModelDims) => (d.P > 0 ? 1 : 0);

/** Every buffer of LayerActs with its shape (llm.c's one place for activation sizes). */
export const LAYER_ACTS: Record<keyof LayerActs, ActShape> = {
  residIn: f32(byC),
  ln1: f32(byCP),
  rstd1: f32(one),
  rstdPos1: f32(ifPos),
  attnActIn: f32(byCP),
  attnActInMask: u8(byCP),
  qkvPre: f32(by3HD),
  attnQkv: f32(by3HD),
  attnQkvMask: u8(by3HD),
  attnPattern: { rows: (d) => d.H, type: "f32", attention: true },
  attnY: f32(byHD),
  attnOutPre: f32(byC),
  attnResidDelta: f32(byC),
  attnResidDeltaMask: u8(byC),
  residMid: f32(byC),
  ln2: f32(byCP),
  rstd2: f32(one),
  rstdPos2: f32(ifPos),
  mlpActIn: f32(byCP),
  mlpActInMask: u8(byCP),
  fcPre: f32(byM),
  gelu: f32(byM),
  phi: f32(byM),
  mlpPostAct: f32(byM),
  mlpPostActMask: u8(byM),
  mlpOutPre: f32(byC),
  mlpResidDelta: f32(byC),
  mlpResidDeltaMask: u8(byC),
  rstd1Frozen: f32(one),
  rstd2Frozen: f32(one),
  attnActInRaw: raw(byC),
  attnQkvRaw: raw(by3HD),
  attnResidDeltaRaw: raw(byC),
  mlpActInRaw: raw(byC),
  mlpPostActRaw: raw(byM),
  mlpResidDeltaRaw: raw(byC),
};

/** The gradient scratch's shapes (BlockGrads). */
export const BLOCK_GRADS: Record<keyof BlockGrads, ActShape> = {
  dres: f32(byC),
  dC1: f32(byCP),
  dC2: f32(byCP),
  dM1: f32(byM),
  dM2: f32(byM),
  dqkv: f32(by3HD),
  dqkvPre: f32(by3HD),
  dy: f32(byHD),
  datt: { rows: (d) => d.H, type: "f32", attention: true },
  dpos: f32((d) => d.P),
  dabl: raw(byC),
  discard: { rows: (d) => Math.max(d.C, d.P, d.H), type: "f32", fixed: true },
};

/** Bytes of one buffer of this shape for a pass of B sequences of T tokens (0: not allocated). */
export function actBytes(
  s: ActShape,
  d: ModelDims,
  B: number,
  T: number,
  withRaw: boolean,
): number {
  if (s.raw && !withRaw) return 0;
  const n = s.rows(d) * (s.fixed ? 1 : s.attention ? B * T * T : B * T);
  return s.type === "u8" ? n : 4 * n;
}

/** Gradient scratch shared by every block's backward (sized for the widest use). */
export interface BlockGrads {
  /** [C, N]: the residual stream's gradient, in on entry (∂/∂out), out on exit (∂/∂res). */
  dres: number;
  /** [(C + P), N] each. */
  dC1: number;
  dC2: number;
  /** [M, N] each. */
  dM1: number;
  dM2: number;
  /** [3·HD, N] each. */
  dqkv: number;
  dqkvPre: number;
  /** [HD, N]. */
  dy: number;
  /** [H, B, T, T]. */
  datt: number;
  /** [P, N]: the positions' gradient, accumulated over blocks. */
  dpos: number;
  /** [C, N]: the ablation's input gradient where its output gradient must stay intact. */
  dabl: number;
  /** Scratch [max(C, P, H)] that receives weight gradients nobody wants. */
  discard: number;
}

/** Circuit-pruning node ablation: f32 vectors over the model's nodes (src/model/nodes.ts). */
export interface Ablation {
  /** Mask m per node (1 kept, 0 ablated). */
  mask: number;
  /** Mean μ per node; 0 = zero ablation. */
  mean: number;
  /** Mask gradient, accumulated by backward; 0 when only forward passes will run (then no raw copies are kept). */
  dmask: number;
}

/** How the RMSNorms get their scale: computed, computed and recorded, or the recorded one. */
export type NormMode = "compute" | "record" | "frozen";

/** What one forward or backward pass of a block needs beyond the block's own weights. */
export interface BlockPass {
  B: number;
  T: number;
  N: number;
  /** Position embeddings [P, N] (P > 0). */
  pos: number;
  ablation: Ablation | null;
  norm: NormMode;
  /** Backward only: accumulate weight gradients (off in pruning: only masks are trained). */
  weightGrads: boolean;
  /** Backward only: compute ∂L/∂res (off below the lowest node when no weight gradients). */
  inputGrad: boolean;
}

export interface BlockLinears {
  cAttn: Linear;
  attnProj: Linear;
  fc: Linear;
  mlpProj: Linear;
}

export class Block {
  // AbsTopK keep counts per place (all channels where the config runs none).
  readonly #kAttnIn: number;
  readonly #kMlpIn: number;
  readonly #kQkv: number[];
  readonly #kAttnOut: number;
  readonly #kMlpOut: number;
  readonly #kM: number;

  constructor(
    readonly be: ComputeBackend,
    readonly d: ModelDims,
    readonly cfg: ModelConfig,
    readonly p: LayerParams,
    readonly lin: BlockLinears,
    /** Byte offset of parameter spec s, and of its gradient. */
    readonly ptr: (s: ParamSpec) => number,
    readonly gptr: (s: ParamSpec) => number,
    readonly nodes: LayerNodeOffsets,
  ) {
    const { C, M, HD, P } = d;
    const k = (loc: AfracLoctype, n: number) => keepCount(afracAt(cfg, loc), n);
    this.#kAttnIn = k("attn_in", C + P);
    this.#kMlpIn = k("mlp_in", C + P);
    this.#kQkv = [k("attn_q", HD), k("attn_k", HD), k("attn_v", HD)];
    this.#kAttnOut = k("attn_out", C);
    this.#kMlpOut = k("mlp_out", C);
    this.#kM = k("mlp_neuron", M);
  }

  /** Runs the block on s.res; writes every saved activation of s and the output to `out`. */
  forward(s: LayerActs, out: number, r: BlockPass): void {
    const be = this.be, p = this.p, lin = this.lin;
    const { C, M, HD, H, D, P } = this.d;
    const N = r.N;
    // Attention
    this.#norm(r, s.ln1, s.rstd1, s.rstd1Frozen, s.residIn, p.ln1);
    this.#readPositions(r, s.ln1, s.rstdPos1, p.lnPos1);
    ops.absTopKForward(be, {
      out: s.attnActIn,
      mask: s.attnActInMask,
      inp: s.ln1,
      C: C + P,
      N,
      k: this.#kAttnIn,
    });
    this.#ablate(r, s, "attn.act_in");
    lin.cAttn.forward(s.attnActIn, s.qkvPre, N);
    for (let j = 0; j < 3; j++) {
      const o = j * HD * N;
      ops.absTopKForward(be, {
        out: s.attnQkv + 4 * o,
        mask: u8At(s.attnQkvMask, o),
        inp: s.qkvPre + 4 * o,
        C: HD,
        N,
        k: this.#kQkv[j],
      });
    }
    for (const loc of QKV) this.#ablate(r, s, loc);
    ops.attentionForward(be, {
      out: s.attnY,
      att: s.attnPattern,
      q: s.attnQkv,
      k: s.attnQkv + 4 * HD * N,
      v: s.attnQkv + 8 * HD * N,
      sink: p.sink ? this.ptr(p.sink) : 0,
      B: r.B,
      T: r.T,
      H,
      dh: D,
    });
    lin.attnProj.forward(s.attnY, s.attnOutPre, N);
    ops.absTopKForward(be, {
      out: s.attnResidDelta,
      mask: s.attnResidDeltaMask,
      inp: s.attnOutPre,
      C,
      N,
      k: this.#kAttnOut,
    });
    this.#ablate(r, s, "attn.resid_delta");
    ops.add(be, { out: s.residMid, a: s.residIn, b: s.attnResidDelta, n: C * N });
    // MLP
    this.#norm(r, s.ln2, s.rstd2, s.rstd2Frozen, s.residMid, p.ln2);
    this.#readPositions(r, s.ln2, s.rstdPos2, p.lnPos2);
    ops.absTopKForward(be, {
      out: s.mlpActIn,
      mask: s.mlpActInMask,
      inp: s.ln2,
      C: C + P,
      N,
      k: this.#kMlpIn,
    });
    this.#ablate(r, s, "mlp.act_in");
    lin.fc.forward(s.mlpActIn, s.fcPre, N);
    ops.geluForward(be, { out: s.gelu, inp: s.fcPre, n: M * N, phi: s.phi });
    ops.absTopKForward(be, {
      out: s.mlpPostAct,
      mask: s.mlpPostActMask,
      inp: s.gelu,
      C: M,
      N,
      k: this.#kM,
    });
    this.#ablate(r, s, "mlp.post_act");
    lin.mlpProj.forward(s.mlpPostAct, s.mlpOutPre, N);
    ops.absTopKForward(be, {
      out: s.mlpResidDelta,
      mask: s.mlpResidDeltaMask,
      inp: s.mlpOutPre,
      C,
      N,
      k: this.#kMlpOut,
    });
    this.#ablate(r, s, "mlp.resid_delta");
    ops.add(be, { out, a: s.residMid, b: s.mlpResidDelta, n: C * N });
  }

  /**
   * Backward of forward: g.dres holds ∂L/∂out on entry and ∂L/∂res on exit (when r.inputGrad).
   * Weight gradients (r.weightGrads), the positions' gradient (g.dpos) and the mask gradient
   * (r.ablation.dmask) are accumulated.
   */
  backward(s: LayerActs, g: BlockGrads, r: BlockPass): void {
    const be = this.be, p = this.p, lin = this.lin;
    const { C, M, HD, H, D } = this.d;
    const N = r.N;
    const wg = r.weightGrads;
    // MLP branch: out = mid + m, so ∂/∂mid = ∂/∂out + (the branch's gradient).
    const dMo = this.#ablateBack(r, g.dabl, g.dres, s, "mlp.resid_delta");
    ops.absTopKBackwardWrite(be, { dinp: g.dC1, dout: dMo, mask: s.mlpResidDeltaMask, C, N });
    lin.mlpProj.backward(
      g.dC1,
      s.mlpPostAct,
      g.dM1,
      N,
      false,
      wg,
      this.#live(r, "mlp.resid_delta"),
    );
    this.#ablateBack(r, g.dM1, g.dM1, s, "mlp.post_act");
    // Through AbsTopK's mask and GELU in one pass (in place).
    ops.geluBackwardWrite(be, {
      dinp: g.dM1,
      dout: g.dM1,
      mask: s.mlpPostActMask,
      inp: s.fcPre,
      phi: s.phi,
      n: M * N,
    });
    lin.fc.backward(g.dM1, s.mlpActIn, g.dC2, N, false, wg, this.#live(r, "mlp.post_act"));
    this.#ablateBack(r, g.dC2, g.dC2, s, "mlp.act_in");
    // The norms read the block input's gradient through its AbsTopK mask (rows 0..C residual,
    // C..C+P positions).
    this.#positionsBack(r, g, g.dC2, s.mlpActInMask, s.rstdPos2, p.lnPos2);
    this.#normBack(r, g, g.dres, g.dC2, s.mlpActInMask, s.residMid, p.ln2, s.rstd2, s.rstd2Frozen);
    // Attention branch: mid = res + a.
    const dAo = this.#ablateBack(r, g.dabl, g.dres, s, "attn.resid_delta");
    ops.absTopKBackwardWrite(be, { dinp: g.dC1, dout: dAo, mask: s.attnResidDeltaMask, C, N });
    lin.attnProj.backward(g.dC1, s.attnY, g.dy, N, false, wg, this.#live(r, "attn.resid_delta"));
    ops.attentionBackwardWrite(be, {
      dq: g.dqkv,
      dk: g.dqkv + 4 * HD * N,
      dv: g.dqkv + 8 * HD * N,
      dsink: p.sink ? (wg ? this.gptr(p.sink) : g.discard) : 0,
      datt: g.datt,
      dout: g.dy,
      q: s.attnQkv,
      k: s.attnQkv + 4 * HD * N,
      v: s.attnQkv + 8 * HD * N,
      att: s.attnPattern,
      sink: p.sink ? this.ptr(p.sink) : 0,
      B: r.B,
      T: r.T,
      H,
      dh: D,
    });
    for (const loc of QKV) this.#ablateBack(r, g.dqkv, g.dqkv, s, loc);
    ops.absTopKBackwardWrite(be, {
      dinp: g.dqkvPre,
      dout: g.dqkv,
      mask: s.attnQkvMask,
      C: 3 * HD,
      N,
    });
    lin.cAttn.backward(g.dqkvPre, s.attnActIn, g.dC2, N, false, wg, this.#live(r, "attn.q"));
    this.#ablateBack(r, g.dC2, g.dC2, s, "attn.act_in");
    if (!r.inputGrad) return;
    this.#positionsBack(r, g, g.dC2, s.attnActInMask, s.rstdPos1, p.lnPos1);
    this.#normBack(r, g, g.dres, g.dC2, s.attnActInMask, s.residIn, p.ln1, s.rstd1, s.rstd1Frozen);
  }

  /** out rows 0..C = RMSNorm(inp) with the pass's norm mode. */
  #norm(r: BlockPass, out: number, rstd: number, frozen: number, inp: number, w: ParamSpec) {
    normForward(this.be, r.norm, { out, rstd, frozen, inp, weight: this.ptr(w), C: this.d.C }, r.N);
  }

  /** RMSNorm backward of rows 0..C, reading dout through AbsTopK's mask. */
  #normBack(
    r: BlockPass,
    g: BlockGrads,
    dinp: number,
    dout: number,
    mask: U8Ptr,
    inp: number,
    w: ParamSpec,
    rstd: number,
    frozen: number,
  ) {
    ops.rmsnormBackward(this.be, {
      dinp,
      dweight: r.weightGrads ? this.gptr(w) : g.discard,
      dout,
      doutMask: mask,
      inp,
      weight: this.ptr(w),
      rstd: r.norm === "frozen" ? frozen : rstd,
      C: this.d.C,
      N: r.N,
      frozen: r.norm === "frozen",
    });
  }

  /** Rows C..C+P of a block input: RMSNorm_p(pos). */
  #readPositions(r: BlockPass, inp: number, rstd: number, norm: ParamSpec | null) {
    if (!norm) return;
    const { C, P } = this.d;
    ops.rmsnormForward(this.be, {
      out: inp + 4 * C * r.N,
      rstd,
      inp: r.pos,
      weight: this.ptr(norm),
      C: P,
      N: r.N,
    });
  }

  /**
   * Rows C..C+P of a block input's gradient (read through AbsTopK's mask) into dpos (only for
   * weight gradients: nothing else needs the positions' gradient).
   */
  #positionsBack(
    r: BlockPass,
    g: BlockGrads,
    dinp: number,
    mask: U8Ptr,
    rstd: number,
    norm: ParamSpec | null,
  ) {
    if (!norm || !r.weightGrads) return;
    const { C, P } = this.d;
    ops.rmsnormBackward(this.be, {
      dinp: g.dpos,
      dweight: this.gptr(norm),
      dout: dinp + 4 * C * r.N,
      doutMask: u8At(mask, C * r.N),
      inp: r.pos,
      weight: this.ptr(norm),
      rstd,
      C: P,
      N: r.N,
    });
  }

  /**
   * With an ablation: x̃ = m·x + (1 − m)·μ for this location's nodes (src/model/nodes.ts says
   * where they are), x kept in its Raw buffer for the mask gradient.
   */
  #ablate(r: BlockPass, s: LayerActs, loc: NodeLocation) {
    const a = r.ablation;
    if (!a) return;
    const l = this.#loc(s, loc, r.N);
    ops.ablateForward(this.be, {
      x: l.x,
      // The raw copy serves only the mask gradient: a pass without dmask keeps none.
      raw: a.dmask ? l.raw : 0,
      m: a.mask + l.node,
      mean: a.mean ? a.mean + l.node : 0,
      C: l.rows,
      N: r.N,
    });
  }

  /**
   * With an ablation: dinp = m·dout and the mask gradient, for this location's rows of the
   * gradient buffers; returns the buffer holding the gradient of the node's pre-ablation value
   * (dinp, or dout itself without an ablation).
   */
  #ablateBack(
    r: BlockPass,
    dinp: number,
    dout: number,
    s: LayerActs,
    loc: NodeLocation,
  ): number {
    const a = r.ablation;
    if (!a) return dout;
    if (!a.dmask) throw new Error("backward with an ablation needs its dmask buffer");
    const l = this.#loc(s, loc, r.N);
    ops.ablateBackward(this.be, {
      dinp: dinp + l.rowBytes,
      dm: a.dmask + l.node,
      dout: dout + l.rowBytes,
      raw: l.raw,
      m: a.mask + l.node,
      mean: a.mean ? a.mean + l.node : 0,
      C: l.rows,
      N: r.N,
    });
    return dinp;
  }

  /**
   * Under an ablation, the node mask of a location (for q: q, k and v, contiguous): the rows of
   * the gradient that #ablateBack multiplied by it, then AbsTopK's or GELU's backward wrote,
   * are zeros where it is 0, so the next product can leave them out (Linear.backward's live).
   * 0 without an ablation.
   */
  #live(r: BlockPass, loc: NodeLocation): number {
    return r.ablation ? r.ablation.mask + 4 * this.nodes[loc] : 0;
  }

  /** A location's rows in s (and in gradient buffers of the same layout) and its node vector offset. */
  #loc(s: LayerActs, loc: NodeLocation, N: number) {
    const spec = locationSpec(loc);
    const rowBytes = 4 * spec.row(this.d) * N;
    return {
      x: s[spec.buffer] + rowBytes,
      raw: s[`${spec.buffer}Raw` as const] + rowBytes,
      rowBytes,
      rows: spec.width(this.d),
      node: 4 * this.nodes[loc],
    };
  }
}

/** q, k and v: three locations in one buffer. */
const QKV = ["attn.q", "attn.k", "attn.v"] as const;

/**
 * RMSNorm of C channels under a norm mode: "compute" as usual; "record" also copies rstd to
 * `frozen`; "frozen" scales by `frozen` instead of computing (rstd is left untouched).
 */
export function normForward(
  be: ComputeBackend,
  mode: NormMode,
  a: { out: number; rstd: number; frozen: number; inp: number; weight: number; C: number },
  N: number,
): void {
  const { out, rstd, frozen, inp, weight, C } = a;
  if (mode === "frozen") {
    ops.rmsnormScale(be, { out, rstd: frozen, inp, weight, C, N });
    return;
  }
  ops.rmsnormForward(be, { out, rstd, inp, weight, C, N });
  if (mode === "record") ops.copy(be, { dst: frozen, src: rstd, n: N });
}
