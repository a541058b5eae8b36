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
import type { Backend } from "../backend/backend.ts";
import * as ops from "../backend/ops/index.ts";
import {
  afracAt,
  type AfracLoctype,
  keepCount,
  type ModelConfig,
  type ModelDims,
} from "./config.ts";
import type { Linear } from "./linear.ts";
import type { LayerNodeOffsets, NodeLocation } from "./nodes.ts";
import type { LayerParams, ParamSpec } from "./params.ts";

/** Saved activations of one block (byte offsets into the arena; masks are u8). */
export interface LayerActs {
  res: number;
  /** [RMSNorm_1(res); RMSNorm_p1(pos)]: C + P rows, the input of the first AbsTopK. */
  ln1: number;
  rstd1: number;
  /** AbsTopK(ln1): C + P rows; rows 0..C are the attn.act_in nodes. */
  ain: number;
  rstdPos1: number;
  ainMask: number;
  qkvPre: number;
  /** AbsTopK'd q | k | v, HD rows each. */
  qkv: number;
  qkvMask: number;
  att: number;
  y: number;
  aoPre: number;
  ao: number;
  aoMask: number;
  mid: number;
  ln2: number;
  rstd2: number;
  min: number;
  rstdPos2: number;
  minMask: number;
  fcPre: number;
  gel: number;
  /** 1 + erf(fcPre/√2) from the GELU forward, read by its backward. */
  phi: number;
  u: number;
  uMask: number;
  moPre: number;
  mo: number;
  moMask: number;
  /** Scales recorded by an unablated forward, for frozen norms. */
  rstd1Frozen: number;
  rstd2Frozen: number;
  /** Node activations before ablation (0 when no ablation buffers are allocated). */
  ainRaw: number;
  qkvRaw: number;
  aoRaw: number;
  minRaw: number;
  uRaw: number;
  moRaw: number;
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
    readonly be: Backend,
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
    this.#norm(r, s.ln1, s.rstd1, s.rstd1Frozen, s.res, p.ln1);
    this.#readPositions(r, s.ln1, s.rstdPos1, p.lnPos1);
    ops.absTopKForward(be, {
      out: s.ain,
      mask: s.ainMask,
      inp: s.ln1,
      C: C + P,
      N,
      k: this.#kAttnIn,
    });
    this.#ablate(r, s.ain, s.ainRaw, "attn.act_in", C);
    lin.cAttn.forward(s.ain, s.qkvPre, N);
    for (let j = 0; j < 3; j++) {
      const o = j * HD * N;
      ops.absTopKForward(be, {
        out: s.qkv + 4 * o,
        mask: s.qkvMask + o,
        inp: s.qkvPre + 4 * o,
        C: HD,
        N,
        k: this.#kQkv[j],
      });
    }
    this.#ablate(r, s.qkv, s.qkvRaw, "attn.q", 3 * HD);
    ops.attentionForward(be, {
      out: s.y,
      att: s.att,
      q: s.qkv,
      k: s.qkv + 4 * HD * N,
      v: s.qkv + 8 * HD * N,
      sink: p.sink ? this.ptr(p.sink) : 0,
      B: r.B,
      T: r.T,
      H,
      dh: D,
    });
    lin.attnProj.forward(s.y, s.aoPre, N);
    ops.absTopKForward(be, { out: s.ao, mask: s.aoMask, inp: s.aoPre, C, N, k: this.#kAttnOut });
    this.#ablate(r, s.ao, s.aoRaw, "attn.resid_delta", C);
    ops.add(be, { out: s.mid, a: s.res, b: s.ao, n: C * N });
    // MLP
    this.#norm(r, s.ln2, s.rstd2, s.rstd2Frozen, s.mid, p.ln2);
    this.#readPositions(r, s.ln2, s.rstdPos2, p.lnPos2);
    ops.absTopKForward(be, {
      out: s.min,
      mask: s.minMask,
      inp: s.ln2,
      C: C + P,
      N,
      k: this.#kMlpIn,
    });
    this.#ablate(r, s.min, s.minRaw, "mlp.act_in", C);
    lin.fc.forward(s.min, s.fcPre, N);
    ops.geluForward(be, { out: s.gel, inp: s.fcPre, n: M * N, phi: s.phi });
    ops.absTopKForward(be, { out: s.u, mask: s.uMask, inp: s.gel, C: M, N, k: this.#kM });
    this.#ablate(r, s.u, s.uRaw, "mlp.post_act", M);
    lin.mlpProj.forward(s.u, s.moPre, N);
    ops.absTopKForward(be, { out: s.mo, mask: s.moMask, inp: s.moPre, C, N, k: this.#kMlpOut });
    this.#ablate(r, s.mo, s.moRaw, "mlp.resid_delta", C);
    ops.add(be, { out, a: s.mid, b: s.mo, n: C * N });
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
    const dMo = this.#ablateBack(r, g.dabl, g.dres, s.moRaw, "mlp.resid_delta", C);
    ops.absTopKBackwardWrite(be, { dinp: g.dC1, dout: dMo, mask: s.moMask, C, N });
    lin.mlpProj.backward(g.dC1, s.u, g.dM1, N, false, wg);
    this.#ablateBack(r, g.dM1, g.dM1, s.uRaw, "mlp.post_act", M);
    // Through AbsTopK's mask and GELU in one pass (in place).
    ops.geluBackwardWrite(be, {
      dinp: g.dM1,
      dout: g.dM1,
      mask: s.uMask,
      inp: s.fcPre,
      phi: s.phi,
      n: M * N,
    });
    lin.fc.backward(g.dM1, s.min, g.dC2, N, false, wg);
    this.#ablateBack(r, g.dC2, g.dC2, s.minRaw, "mlp.act_in", C);
    // The norms read the block input's gradient through its AbsTopK mask (rows 0..C residual,
    // C..C+P positions).
    this.#positionsBack(r, g, g.dC2, s.minMask, s.rstdPos2, p.lnPos2);
    this.#normBack(r, g, g.dres, g.dC2, s.minMask, s.mid, p.ln2, s.rstd2, s.rstd2Frozen);
    // Attention branch: mid = res + a.
    const dAo = this.#ablateBack(r, g.dabl, g.dres, s.aoRaw, "attn.resid_delta", C);
    ops.absTopKBackwardWrite(be, { dinp: g.dC1, dout: dAo, mask: s.aoMask, C, N });
    lin.attnProj.backward(g.dC1, s.y, g.dy, N, false, wg);
    ops.attentionBackwardWrite(be, {
      dq: g.dqkv,
      dk: g.dqkv + 4 * HD * N,
      dv: g.dqkv + 8 * HD * N,
      dsink: p.sink ? (wg ? this.gptr(p.sink) : g.discard) : 0,
      datt: g.datt,
      dout: g.dy,
      q: s.qkv,
      k: s.qkv + 4 * HD * N,
      v: s.qkv + 8 * HD * N,
      att: s.att,
      sink: p.sink ? this.ptr(p.sink) : 0,
      B: r.B,
      T: r.T,
      H,
      dh: D,
    });
    this.#ablateBack(r, g.dqkv, g.dqkv, s.qkvRaw, "attn.q", 3 * HD);
    ops.absTopKBackwardWrite(be, {
      dinp: g.dqkvPre,
      dout: g.dqkv,
      mask: s.qkvMask,
      C: 3 * HD,
      N,
    });
    lin.cAttn.backward(g.dqkvPre, s.ain, g.dC2, N, false, wg);
    this.#ablateBack(r, g.dC2, g.dC2, s.ainRaw, "attn.act_in", C);
    if (!r.inputGrad) return;
    this.#positionsBack(r, g, g.dC2, s.ainMask, s.rstdPos1, p.lnPos1);
    this.#normBack(r, g, g.dres, g.dC2, s.ainMask, s.res, p.ln1, s.rstd1, s.rstd1Frozen);
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
    mask: number,
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
    mask: number,
    rstd: number,
    norm: ParamSpec | null,
  ) {
    if (!norm || !r.weightGrads) return;
    const { C, P } = this.d;
    ops.rmsnormBackward(this.be, {
      dinp: g.dpos,
      dweight: this.gptr(norm),
      dout: dinp + 4 * C * r.N,
      doutMask: mask + C * r.N,
      inp: r.pos,
      weight: this.ptr(norm),
      rstd,
      C: P,
      N: r.N,
    });
  }

  /** With an ablation: x[0..rows] = m·x + (1 − m)·μ for this location's nodes, x kept in raw. */
  #ablate(r: BlockPass, x: number, raw: number, loc: NodeLocation, rows: number) {
    const a = r.ablation;
    if (!a) return;
    const o = 4 * this.nodes[loc];
    ops.ablateForward(this.be, {
      x,
      // The raw copy serves only the mask gradient: a pass without dmask keeps none.
      raw: a.dmask ? raw : 0,
      m: a.mask + o,
      mean: a.mean ? a.mean + o : 0,
      C: rows,
      N: r.N,
    });
  }

  /**
   * With an ablation: dinp = m·dout and the mask gradient; returns the buffer holding the
   * gradient of the node's pre-ablation value (dinp, or dout itself without an ablation).
   */
  #ablateBack(
    r: BlockPass,
    dinp: number,
    dout: number,
    raw: number,
    loc: NodeLocation,
    rows: number,
  ): number {
    const a = r.ablation;
    if (!a) return dout;
    if (!a.dmask) throw new Error("backward with an ablation needs its dmask buffer");
    const o = 4 * this.nodes[loc];
    ops.ablateBackward(this.be, {
      dinp,
      dm: a.dmask + o,
      dout,
      raw,
      m: a.mask + o,
      mean: a.mean ? a.mean + o : 0,
      C: rows,
      N: r.N,
    });
    return dinp;
  }
}

/**
 * RMSNorm of C channels under a norm mode: "compute" as usual; "record" also copies rstd to
 * `frozen`; "frozen" scales by `frozen` instead of computing (rstd is left untouched).
 */
export function normForward(
  be: Backend,
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
