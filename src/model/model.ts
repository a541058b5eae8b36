/**
 * The weight-sparse GPT-2-style decoder (PAPER.md §1): parameters in one buffer, activations in
 * named buffers per layer, and the forward/backward composition of embedding → blocks → head.
 * Every number is computed by the WASM kernels; this file only wires buffers together.
 *
 * Block, in order (node names as in the reference's hooks):
 *   h = AbsTopK(RMSNorm1(x))            i.attn.act_in
 *   q,k,v = AbsTopK each(c_attn(h))     i.attn.q / k / v
 *   a = AbsTopK(c_proj(attn(q,k,v)))    i.attn.resid_delta      x += a
 *   h = AbsTopK(RMSNorm2(x))            i.mlp.act_in
 *   u = AbsTopK(GELU(c_fc(h)))          i.mlp.post_act
 *   m = AbsTopK(c_proj(u))              i.mlp.resid_delta       x += m
 * logits = lm_head(RMSNormF(x)) + bigram[token]
 *
 * With d_pos_emb = P > 0, learned positions pos = wpe[t] are read-only channels: c_attn and c_fc
 * read [AbsTopK(RMSNorm(x)); RMSNorm_pos(pos)], C + P inputs, each block with its own position
 * norms; nothing writes to them. Feature-major layout makes the concatenation two row ranges of
 * one buffer.
 */
import type { Backend } from "../backend/backend.ts";
import * as ops from "../backend/ops/index.ts";
import { dims, keepCount, type ModelConfig, type ModelDims } from "./config.ts";
import { Linear } from "./linear.ts";
import { type ParamLayout, paramLayout, type ParamSpec } from "./params.ts";

/** Saved activations of one block (byte offsets; masks are u8). */
interface LayerActs {
  res: number;
  ln1: number;
  rstd1: number;
  /** act_in rows 0..C, then the normalised positions in rows C..C+P. */
  ain: number;
  rstdPos1: number;
  ainMask: number;
  qkvPre: number;
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
  u: number;
  uMask: number;
  moPre: number;
  mo: number;
  moMask: number;
}

interface Acts {
  B: number;
  T: number;
  N: number;
  tokens: number;
  targets: number;
  /** Position ids (t of each token) and their embeddings [P, N], when the model has positions. */
  posIds: number;
  pos: number;
  layers: LayerActs[];
  resF: number;
  lnF: number;
  rstdF: number;
  logits: number;
  losses: number;
  // backward scratch
  dres: number;
  dC1: number;
  dC2: number;
  dM1: number;
  dM2: number;
  dqkv: number;
  dqkvPre: number;
  dy: number;
  datt: number;
  dlogits: number;
  dlnF: number;
  dpos: number;
}

interface LayerLinears {
  cAttn: Linear;
  attnProj: Linear;
  fc: Linear;
  mlpProj: Linear;
}

export class Model {
  readonly d: ModelDims;
  readonly layout: ParamLayout;
  /** Byte offsets of the parameter and gradient buffers (same layout). */
  readonly params: number;
  readonly grads: number;
  readonly linears: LayerLinears[];
  readonly lmHead: Linear;
  #acts: Acts | null = null;
  /** Arena span of the activations, and the largest N and attention size they hold. */
  #actsMark = 0;
  #actsEnd = 0;
  #capN = 0;
  #capAtt = 0;
  #count = 0;

  constructor(readonly be: Backend, readonly cfg: ModelConfig) {
    this.d = dims(cfg);
    this.layout = paramLayout(cfg);
    const n = this.layout.total;
    this.params = be.arena.tensor([n], "parameters").ptr;
    this.grads = be.arena.tensor([n], "gradients").ptr;
    const { C, M, HD, V, P } = this.d;
    const lin = (w: ParamSpec, b: ParamSpec | null, rows: number, cols: number) =>
      new Linear(
        be,
        this.ptr(w),
        this.gptr(w),
        b ? this.ptr(b) : 0,
        b ? this.gptr(b) : 0,
        rows,
        cols,
      );
    this.linears = this.layout.layers.map((p) => ({
      cAttn: lin(p.cAttnW, p.cAttnB, 3 * HD, C + P),
      attnProj: lin(p.attnProjW, p.attnProjB, C, HD),
      fc: lin(p.fcW, p.fcB, M, C + P),
      mlpProj: lin(p.mlpProjW, p.mlpProjB, C, M),
    }));
    this.lmHead = lin(this.layout.lmHead, null, V, C);
  }

  /** Byte offset of a parameter. */
  ptr(spec: ParamSpec): number {
    return this.params + spec.offset * 4;
  }
  /** Byte offset of a parameter's gradient. */
  gptr(spec: ParamSpec): number {
    return this.grads + spec.offset * 4;
  }
  /** A parameter's values (a view into the arena). */
  view(spec: ParamSpec): Float32Array {
    return this.be.arena.f32(this.ptr(spec), spec.size);
  }

  /** Initialises every parameter from the seed (PAPER §1 init; Gaussians drawn in WASM). */
  init(seed: number): void {
    this.layout.specs.forEach((s, stream) => {
      if (s.init === "normal") {
        ops.randnFill(this.be, { x: this.ptr(s), n: s.size, seed, stream, std: s.std });
      } else {
        this.be.arena.f32(this.ptr(s), s.size).fill(s.init === "ones" ? 1 : 0);
      }
    });
  }

  /** Re-reads the weights after they changed (picks sparse or dense products per matrix). */
  refresh(allowSparse: boolean): void {
    for (const l of this.linears) {
      for (const lin of [l.cAttn, l.attnProj, l.fc, l.mlpProj]) lin.refresh(allowSparse);
    }
    this.lmHead.refresh(allowSparse);
  }

  /** Allocates (or reuses) activation buffers for B sequences of T tokens. */
  #ensureActs(B: number, T: number): Acts {
    const a = this.#acts;
    if (a && a.B === B && a.T === T) return a;
    const { C, M, HD, H, V, P } = this.d;
    const N = B * T;
    if (a && N <= this.#capN && H * B * T * T <= this.#capAtt) {
      // Same buffers, new shape: every buffer is sized by N or by the attention size.
      this.#acts = { ...a, B, T, N };
      return this.#acts;
    }
    const arena = this.be.arena;
    // Reuse the old span only when nothing was allocated after it; otherwise leave it be.
    if (a && arena.used === this.#actsEnd) arena.reset(this.#actsMark);
    this.#actsMark = arena.mark();
    const f = (n: number, what: string) => arena.tensor([n], what).ptr;
    const u8 = (n: number, what: string) => arena.allocBytes(n, what);
    const layers: LayerActs[] = [];
    for (let l = 0; l < this.d.L; l++) {
      layers.push({
        res: f(C * N, "residual"),
        ln1: f(C * N, "ln1"),
        rstd1: f(N, "rstd1"),
        ain: f((C + P) * N, "attn.act_in"),
        rstdPos1: f(P > 0 ? N : 0, "rstd_pos1"),
        ainMask: u8(C * N, "mask"),
        qkvPre: f(3 * HD * N, "qkv"),
        qkv: f(3 * HD * N, "qkv"),
        qkvMask: u8(3 * HD * N, "mask"),
        att: f(H * B * T * T, "attention"),
        y: f(HD * N, "attn.y"),
        aoPre: f(C * N, "attn.out"),
        ao: f(C * N, "attn.resid_delta"),
        aoMask: u8(C * N, "mask"),
        mid: f(C * N, "resid_mid"),
        ln2: f(C * N, "ln2"),
        rstd2: f(N, "rstd2"),
        min: f((C + P) * N, "mlp.act_in"),
        rstdPos2: f(P > 0 ? N : 0, "rstd_pos2"),
        minMask: u8(C * N, "mask"),
        fcPre: f(M * N, "c_fc"),
        gel: f(M * N, "gelu"),
        u: f(M * N, "mlp.post_act"),
        uMask: u8(M * N, "mask"),
        moPre: f(C * N, "mlp.out"),
        mo: f(C * N, "mlp.resid_delta"),
        moMask: u8(C * N, "mask"),
      });
    }
    const acts: Acts = {
      B,
      T,
      N,
      tokens: f(N, "tokens"),
      targets: f(N, "targets"),
      posIds: f(P > 0 ? N : 0, "position ids"),
      pos: f(P * N, "positions"),
      layers,
      resF: f(C * N, "final residual"),
      lnF: f(C * N, "ln_f"),
      rstdF: f(N, "rstd_f"),
      logits: f(V * N, "logits"),
      losses: f(N, "losses"),
      dres: f(C * N, "grad"),
      dC1: f(C * N, "grad"),
      dC2: f((C + P) * N, "grad"),
      dM1: f(M * N, "grad"),
      dM2: f(M * N, "grad"),
      dqkv: f(3 * HD * N, "grad"),
      dqkvPre: f(3 * HD * N, "grad"),
      dy: f(HD * N, "grad"),
      datt: f(H * B * T * T, "grad"),
      dlogits: f(V * N, "grad"),
      dlnF: f(C * N, "grad"),
      dpos: f(P * N, "grad"),
    };
    this.#acts = acts;
    this.#actsEnd = arena.used;
    this.#capN = N;
    this.#capAtt = H * B * T * T;
    return acts;
  }

  /** The activations of the last forward pass (for evaluation, pruning and the viewer). */
  get acts(): Readonly<Acts> {
    if (!this.#acts) throw new Error("no forward pass yet");
    return this.#acts;
  }

  /**
   * Runs the model on B sequences of T tokens (row b, position t at b·T + t). With targets
   * (-1 = ignore), returns the mean next-token cross-entropy; else NaN. Logits stay in acts.logits
   * as [V, N].
   */
  forward(tokens: Int32Array, targets: Int32Array | null, B: number, T: number): number {
    const a = this.#ensureActs(B, T);
    const be = this.be;
    const { C, M, HD, H, V, D, P } = this.d;
    const N = a.N;
    const lay = this.layout;
    const afrac = this.cfg.afrac;
    be.arena.i32(a.tokens, N).set(tokens.subarray(0, N));
    ops.embeddingForward(be, {
      out: a.layers[0].res,
      tokens: a.tokens,
      wte: this.ptr(lay.wte),
      C,
      N,
      V,
    });
    if (lay.wpe) {
      const ids = be.arena.i32(a.posIds, N);
      for (let i = 0; i < N; i++) ids[i] = i % T;
      ops.embeddingForward(be, {
        out: a.pos,
        tokens: a.posIds,
        wte: this.ptr(lay.wpe),
        C: P,
        N,
        V: this.cfg.nCtx,
      });
    }
    // The position rows of a block input: RMSNorm_pos(pos) into rows C..C+P of `inp`.
    const readPositions = (inp: number, rstd: number, norm: ParamSpec | null) => {
      if (!norm) return;
      ops.rmsnormForward(be, {
        out: inp + C * N * 4,
        rstd,
        inp: a.pos,
        weight: this.ptr(norm),
        C: P,
        N,
      });
    };
    for (let l = 0; l < this.d.L; l++) {
      const s = a.layers[l], p = lay.layers[l], lin = this.linears[l];
      const next = l + 1 < this.d.L ? a.layers[l + 1].res : a.resF;
      ops.rmsnormForward(be, {
        out: s.ln1,
        rstd: s.rstd1,
        inp: s.res,
        weight: this.ptr(p.ln1),
        C,
        N,
      });
      ops.absTopKForward(be, {
        out: s.ain,
        mask: s.ainMask,
        inp: s.ln1,
        C,
        N,
        k: keepCount(afrac, C),
      });
      readPositions(s.ain, s.rstdPos1, p.lnPos1);
      lin.cAttn.forward(s.ain, s.qkvPre, N);
      for (let j = 0; j < 3; j++) {
        ops.absTopKForward(be, {
          out: s.qkv + j * HD * N * 4,
          mask: s.qkvMask + j * HD * N,
          inp: s.qkvPre + j * HD * N * 4,
          C: HD,
          N,
          k: keepCount(afrac, HD),
        });
      }
      ops.attentionForward(be, {
        out: s.y,
        att: s.att,
        q: s.qkv,
        k: s.qkv + HD * N * 4,
        v: s.qkv + 2 * HD * N * 4,
        sink: p.sink ? this.ptr(p.sink) : 0,
        B,
        T,
        H,
        dh: D,
      });
      lin.attnProj.forward(s.y, s.aoPre, N);
      ops.absTopKForward(be, {
        out: s.ao,
        mask: s.aoMask,
        inp: s.aoPre,
        C,
        N,
        k: keepCount(afrac, C),
      });
      ops.add(be, { out: s.mid, a: s.res, b: s.ao, n: C * N });
      ops.rmsnormForward(be, {
        out: s.ln2,
        rstd: s.rstd2,
        inp: s.mid,
        weight: this.ptr(p.ln2),
        C,
        N,
      });
      ops.absTopKForward(be, {
        out: s.min,
        mask: s.minMask,
        inp: s.ln2,
        C,
        N,
        k: keepCount(afrac, C),
      });
      readPositions(s.min, s.rstdPos2, p.lnPos2);
      lin.fc.forward(s.min, s.fcPre, N);
      ops.geluForward(be, { out: s.gel, inp: s.fcPre, n: M * N });
      ops.absTopKForward(be, {
        out: s.u,
        mask: s.uMask,
        inp: s.gel,
        C: M,
        N,
        k: keepCount(afrac, M),
      });
      lin.mlpProj.forward(s.u, s.moPre, N);
      ops.absTopKForward(be, {
        out: s.mo,
        mask: s.moMask,
        inp: s.moPre,
        C,
        N,
        k: keepCount(afrac, C),
      });
      ops.add(be, { out: next, a: s.mid, b: s.mo, n: C * N });
    }
    ops.rmsnormForward(be, {
      out: a.lnF,
      rstd: a.rstdF,
      inp: a.resF,
      weight: this.ptr(lay.lnF),
      C,
      N,
    });
    this.lmHead.forward(a.lnF, a.logits, N);
    if (lay.bigram) {
      ops.bigramForward(be, {
        logits: a.logits,
        tokens: a.tokens,
        table: this.ptr(lay.bigram),
        V,
        N,
      });
    }
    if (!targets) return NaN;
    const tg = be.arena.i32(a.targets, N);
    tg.set(targets.subarray(0, N));
    let count = 0;
    for (let i = 0; i < N; i++) if (tg[i] >= 0) count++;
    this.#count = count;
    ops.crossEntropyForward(be, { losses: a.losses, logits: a.logits, targets: a.targets, V, N });
    return ops.meanLoss(be, { losses: a.losses, targets: a.targets, N });
  }

  /** Gradients of the last forward's mean loss into the gradient buffer (which it zeroes first). */
  backward(): void {
    const a = this.acts;
    const be = this.be;
    const { C, M, HD, H, V, D, P } = this.d;
    const { N, B, T } = a;
    const lay = this.layout;
    const zero = (ptr: number, n: number) => ops.fill(be, { x: ptr, n, value: 0 });
    zero(this.grads, lay.total);
    if (lay.wpe) zero(a.dpos, P * N);
    // Gradient of the position rows C..C+P of a block input's dX into dpos (summed over blocks).
    const positionsBackward = (dinp: number, rstd: number, norm: ParamSpec | null) => {
      if (!norm) return;
      ops.rmsnormBackward(be, {
        dinp: a.dpos,
        dweight: this.gptr(norm),
        dout: dinp + C * N * 4,
        inp: a.pos,
        weight: this.ptr(norm),
        rstd,
        C: P,
        N,
      });
    };
    ops.crossEntropyBackward(be, {
      dlogits: a.dlogits,
      logits: a.logits,
      targets: a.targets,
      V,
      N,
      scale: this.#count > 0 ? 1 / this.#count : 0,
    });
    if (lay.bigram) {
      ops.bigramBackward(be, {
        dtable: this.gptr(lay.bigram),
        dlogits: a.dlogits,
        tokens: a.tokens,
        V,
        N,
      });
    }
    this.lmHead.backward(a.dlogits, a.lnF, a.dlnF, N);
    zero(a.dres, C * N);
    ops.rmsnormBackward(be, {
      dinp: a.dres,
      dweight: this.gptr(lay.lnF),
      dout: a.dlnF,
      inp: a.resF,
      weight: this.ptr(lay.lnF),
      rstd: a.rstdF,
      C,
      N,
    });
    for (let l = this.d.L - 1; l >= 0; l--) {
      const s = a.layers[l], p = lay.layers[l], lin = this.linears[l];
      // MLP branch: x_out = mid + m, so d(mid) = dres + (branch gradient)
      zero(a.dC1, C * N);
      ops.absTopKBackward(be, { dinp: a.dC1, dout: a.dres, mask: s.moMask, C, N });
      lin.mlpProj.backward(a.dC1, s.u, a.dM1, N);
      zero(a.dM2, M * N);
      ops.absTopKBackward(be, { dinp: a.dM2, dout: a.dM1, mask: s.uMask, C: M, N });
      zero(a.dM1, M * N);
      ops.geluBackward(be, { dinp: a.dM1, dout: a.dM2, inp: s.fcPre, n: M * N });
      lin.fc.backward(a.dM1, s.min, a.dC2, N);
      positionsBackward(a.dC2, s.rstdPos2, p.lnPos2);
      zero(a.dC1, C * N);
      ops.absTopKBackward(be, { dinp: a.dC1, dout: a.dC2, mask: s.minMask, C, N });
      ops.rmsnormBackward(be, {
        dinp: a.dres,
        dweight: this.gptr(p.ln2),
        dout: a.dC1,
        inp: s.mid,
        weight: this.ptr(p.ln2),
        rstd: s.rstd2,
        C,
        N,
      });
      // Attention branch: mid = res + a
      zero(a.dC1, C * N);
      ops.absTopKBackward(be, { dinp: a.dC1, dout: a.dres, mask: s.aoMask, C, N });
      lin.attnProj.backward(a.dC1, s.y, a.dy, N);
      zero(a.dqkv, 3 * HD * N);
      ops.attentionBackward(be, {
        dq: a.dqkv,
        dk: a.dqkv + HD * N * 4,
        dv: a.dqkv + 2 * HD * N * 4,
        dsink: p.sink ? this.gptr(p.sink) : 0,
        datt: a.datt,
        dout: a.dy,
        q: s.qkv,
        k: s.qkv + HD * N * 4,
        v: s.qkv + 2 * HD * N * 4,
        att: s.att,
        sink: p.sink ? this.ptr(p.sink) : 0,
        B,
        T,
        H,
        dh: D,
      });
      zero(a.dqkvPre, 3 * HD * N);
      ops.absTopKBackward(be, { dinp: a.dqkvPre, dout: a.dqkv, mask: s.qkvMask, C: 3 * HD, N });
      lin.cAttn.backward(a.dqkvPre, s.ain, a.dC2, N);
      positionsBackward(a.dC2, s.rstdPos1, p.lnPos1);
      zero(a.dC1, C * N);
      ops.absTopKBackward(be, { dinp: a.dC1, dout: a.dC2, mask: s.ainMask, C, N });
      ops.rmsnormBackward(be, {
        dinp: a.dres,
        dweight: this.gptr(p.ln1),
        dout: a.dC1,
        inp: s.res,
        weight: this.ptr(p.ln1),
        rstd: s.rstd1,
        C,
        N,
      });
    }
    ops.embeddingBackward(be, {
      dwte: this.gptr(lay.wte),
      dout: a.dres,
      tokens: a.tokens,
      C,
      N,
      V,
    });
    if (lay.wpe) {
      ops.embeddingBackward(be, {
        dwte: this.gptr(lay.wpe),
        dout: a.dpos,
        tokens: a.posIds,
        C: P,
        N,
        V: this.cfg.nCtx,
      });
    }
  }
}
