/**
 * The weight-sparse GPT-2-style decoder (docs/method.md §1): parameters in one buffer, activations in
 * named buffers per layer, and the forward/backward composition of embedding → blocks → head.
 * Every number is computed by the WASM kernels; this file and src/model/block.ts only wire
 * buffers together.
 *
 *   x = wte[token]                    (+ positions pos = wpe[t] as read-only channels, P > 0;
 *                                        or x = wte[token] + wpe[t] with addPosEmb)
 *   x = Block_i(x)  for each layer    (src/model/block.ts; node locations in src/model/nodes.ts)
 *   logits = lm_head(RMSNorm_f(x)) + bigram[token]
 *
 * Backward accumulates into the gradient buffer (llm.c: the caller zeroes it once per step). It
 * starts from the mean next-token cross-entropy of the last forward, or from logit gradients the
 * caller wrote into `acts.dlogits` (pruning's two-candidate task loss); pruning also switches off
 * every weight gradient and trains only node masks (`under({ ablation })`).
 */
import type { ComputeBackend } from "../backend/backend.ts";
import * as ops from "../backend/ops/index.ts";
import {
  type Ablation,
  actBytes,
  type ActShape,
  Block,
  BLOCK_GRADS,
  type BlockGrads,
  type BlockPass,
  LAYER_ACTS,
  type LayerActs,
  normForward,
  type NormMode,
} from "./block.ts";
import { dims, type ModelConfig, type ModelDims } from "./config.ts";
import { Linear } from "./linear.ts";
import { type NodeLayout, nodeLayout } from "./nodes.ts";
import { linearWeights, type ParamLayout, paramLayout, type ParamSpec } from "./params.ts";

export type { Ablation, LayerActs, NormMode } from "./block.ts";

export interface Acts {
  B: number;
  T: number;
  N: number;
  tokens: number;
  targets: number;
  /**
   * Position ids (t of each token) and their embeddings [PW, N] (P read channels, or C added with
   * addPosEmb), when the model has positions.
   */
  posIds: number;
  pos: number;
  layers: LayerActs[];
  resF: number;
  lnF: number;
  rstdF: number;
  rstdFFrozen: number;
  /** [V, N], or [V, R] when the last forward asked for the logits of R columns only. */
  logits: number;
  losses: number;
  /** Per-token max and Σexp of the logits [2N], from the loss forward for its backward. */
  xentStats: number;
  /** ∂L/∂logits, laid out as `logits`: written by backward from the cross-entropy, or the caller. */
  dlogits: number;
  dlnF: number;
  /** Columns of the last forward's logits: R and an Int32 [R] pointer (0, 0: all N). */
  logitRows: number;
  logitCols: number;
  /** ln_f at those columns [C, R], its gradient, and their tokens (Int32 [R]). */
  lnR: number;
  dlnR: number;
  tokR: number;
  grads: BlockGrads;
}

const f32 = (rows: (d: ModelDims) => number): ActShape => ({ rows, type: "f32" });
const perToken = f32(() => 1);

/** The decoder's own buffers in Acts, beside each block's (LAYER_ACTS) and the gradients'. */
export const MODEL_ACTS: Record<
  Exclude<keyof Acts, "B" | "T" | "N" | "layers" | "grads" | "logitRows" | "logitCols">,
  ActShape
> = {
  tokens: perToken,
  targets: perToken,
  posIds: f32((d) => (d.PW > 0 ? 1 : 0)),
  pos: f32((d) => d.PW),
  resF: f32((d) => d.C),
  lnF: f32((d) => d.C),
  rstdF: perToken,
  rstdFFrozen: perToken,
  logits: f32((d) => d.V),
  losses: perToken,
  xentStats: f32(() => 2),
  dlogits: f32((d) => d.V),
  dlnF: f32((d) => d.C),
  lnR: f32((d) => d.C),
  dlnR: f32((d) => d.C),
  tokR: perToken,
};

/**
 * Bytes of the activations (and their gradients) of a pass of B sequences of T tokens, as the
 * model allocates them (`withRaw`: an ablation's pre-ablation copies too), alignment aside.
 */
export function activationBytes(d: ModelDims, B: number, T: number, withRaw: boolean): number {
  let sum = 0;
  const add = (table: Record<string, ActShape>, times = 1) => {
    for (const s of Object.values(table)) sum += times * actBytes(s, d, B, T, withRaw);
  };
  add(LAYER_ACTS, d.L);
  add(MODEL_ACTS);
  add(BLOCK_GRADS);
  return sum;
}

export interface ForwardOptions {
  /**
   * Logits only at these token columns (Int32 [count] arena pointer, each in [0, B·T)): what a
   * loss over a few positions needs (the pair loss reads one per prompt). Logits are then
   * [V, count], column r for token cols[r]; the rest of the forward is unchanged.
   */
  logitCols?: { ptr: number; count: number };
  /**
   * Run the blocks from this one on (default 0: embedding and every block). The caller has
   * written its input into `acts.layers[fromLayer].res` (after `prepare(B, T)`), e.g. kept from
   * an earlier pass over the same tokens whose earlier blocks have not changed: the viewer's
   * live toggles. The token embedding is skipped; positions are embedded as usual.
   */
  fromLayer?: number;
  /**
   * With targets, on a backend with device forms (a GPU): leave the mean loss on the device, as
   * an f32 at this arena pointer, and return NaN: a training step reads it only when it logs it,
   * instead of waiting for the device once per step.
   */
  lossTo?: number;
}

/** What the next passes do differently from the plain model: circuit pruning's interventions. */
export interface Intervention {
  /**
   * Node ablation (null: none). Its vectors are f32 over `nodes.total` nodes; the caller owns
   * them and may change their contents between passes. Absent: unchanged.
   */
  ablation?: Ablation | null;
  /** How the RMSNorms get their scale. Absent: unchanged. */
  norm?: NormMode;
}

export interface BackwardOptions {
  /**
   * "xent" (default): start from the mean next-token cross-entropy of the last forward (which
   * had targets). "dlogits": start from what the caller wrote into acts.dlogits.
   */
  seed?: "xent" | "dlogits";
  /** Accumulate weight gradients (default true); false for pruning, which trains only masks. */
  weightGrads?: boolean;
}

export class Model {
  readonly d: ModelDims;
  readonly layout: ParamLayout;
  /** The node indexing of circuit pruning (src/model/nodes.ts). */
  readonly nodes: NodeLayout;
  /**
   * Byte offsets of the parameter and gradient buffers (same layout). A model with packed weights
   * stores the others only, in layout order (`storedFloats` in all).
   */
  readonly params: number;
  readonly grads: number;
  /** Floats of the parameter buffer: the layout's total, less the packed weights. */
  readonly storedFloats: number;
  /** Float offset in the parameter buffer of each stored tensor, by name (with packed weights). */
  readonly #stored: Map<string, number> | null = null;
  /** The Linear of each linear weight (src/model/params.ts linearWeights), by name. */
  readonly #linears = new Map<string, Linear>();
  readonly blocks: Block[];
  readonly lmHead: Linear;
  #norm: NormMode = "compute";
  #ablation: Ablation | null = null;
  #acts: Acts | null = null;
  #actsRaw = false;
  /** Arena span of the activations, and the largest N and attention size they hold. */
  #actsMark = 0;
  #actsEnd = 0;
  #capN = 0;
  #capAtt = 0;
  #count = 0;

  /**
   * `training: false` (a run opened for evaluation, pruning or viewing) allocates no weight
   * gradients: backward then computes only what flows to activations and node masks. Its sparse
   * weights' compressed forms then hold their nonzeros only (src/model/linear.ts). `packed`
   * (names of linear weights, such a model only): those keep the compressed forms alone, no dense
   * copy; each is loaded with `pack` (src/run/open.ts does both).
   */
  constructor(
    readonly be: ComputeBackend,
    readonly cfg: ModelConfig,
    opts: { training?: boolean; packed?: ReadonlySet<string> } = {},
  ) {
    this.d = dims(cfg);
    this.layout = paramLayout(cfg);
    this.nodes = nodeLayout(this.d);
    const training = opts.training ?? true, packed = opts.packed ?? new Set<string>();
    let n = this.layout.total;
    if (packed.size > 0) {
      const linear = new Set(linearWeights(this.layout).map((s) => s.name));
      if (training || ![...packed].every((name) => linear.has(name))) {
        throw new Error("Model: only an opened model's linear weights can be packed");
      }
      // The stored tensors in layout order, each 16-byte aligned as in the layout.
      this.#stored = new Map();
      n = 0;
      for (const s of this.layout.specs) {
        if (packed.has(s.name)) continue;
        this.#stored.set(s.name, n);
        n = Math.ceil((n + s.size) / 4) * 4;
      }
    }
    this.storedFloats = n;
    this.params = be.arena.tensor([n], "parameters").ptr;
    this.grads = training ? be.arena.tensor([n], "gradients").ptr : 0;
    const { C, M, HD, V, P } = this.d;
    // Without gradients a Linear gets gradient offsets of 0, which its backward refuses to use.
    const g = (s: ParamSpec) => (this.grads ? this.gptr(s) : 0);
    // Without gradients the compressed forms of sparse weights hold only their nonzeros.
    const lin = (w: ParamSpec, b: ParamSpec | null, rows: number, cols: number) => {
      const p = packed.has(w.name), bias = b ? this.ptr(b) : 0;
      const l = new Linear(
        be,
        p ? 0 : this.ptr(w),
        g(w),
        bias,
        b ? g(b) : 0,
        rows,
        cols,
        !training,
        p,
      );
      this.#linears.set(w.name, l);
      return l;
    };
    const ptr = (s: ParamSpec) => this.ptr(s), gptr = (s: ParamSpec) => this.gptr(s);
    this.blocks = this.layout.layers.map((p, l) =>
      new Block(
        be,
        this.d,
        cfg,
        p,
        {
          cAttn: lin(p.cAttnW, p.cAttnB, 3 * HD, C + P),
          attnProj: lin(p.attnProjW, p.attnProjB, C, HD),
          fc: lin(p.fcW, p.fcB, M, C + P),
          mlpProj: lin(p.mlpProjW, p.mlpProjB, C, M),
        },
        ptr,
        gptr,
        this.nodes.offsets[l],
      )
    );
    this.lmHead = lin(this.layout.lmHead, null, V, C);
  }

  /** Byte offset of a parameter (not of a packed one: it has no dense copy). */
  ptr(spec: ParamSpec): number {
    if (!this.#stored) return this.params + spec.offset * 4;
    const at = this.#stored.get(spec.name);
    if (at === undefined) throw new Error(`Model: ${spec.name} is packed: read it with weights()`);
    return this.params + at * 4;
  }

  /** Whether a weight is packed (its compressed forms alone: see the constructor). */
  isPacked(spec: ParamSpec): boolean {
    return this.#stored !== null && !this.#stored.has(spec.name);
  }

  /** Loads a packed weight (Linear.pack: `nnz` nonzeros among `values`; `check` sees them first). */
  pack(spec: ParamSpec, values: Float32Array, nnz: number, check?: (ptr: number) => void): void {
    if (!this.isPacked(spec)) throw new Error(`Model: ${spec.name} is not packed`);
    this.#linears.get(spec.name)!.pack(values, nnz, check);
  }

  /**
   * A parameter's values for reading: a view into the arena, or a packed weight unpacked into a
   * new array (its zeros all +0: the forms keep no −0). Writes go through `view` or `pack`.
   */
  weights(spec: ParamSpec): Float32Array {
    return this.isPacked(spec) ? this.#linears.get(spec.name)!.values() : this.view(spec);
  }

  /** A linear weight's entry (r, c), packed or not (Linear.reader). */
  weightReader(spec: ParamSpec): (r: number, c: number) => number {
    const lin = this.#linears.get(spec.name);
    if (!lin) throw new Error(`Model: ${spec.name} is not a linear weight`);
    return lin.reader();
  }
  /** Byte offset of a parameter's gradient. */
  gptr(spec: ParamSpec): number {
    if (!this.grads) throw new Error("Model: opened without gradients (training: false)");
    return this.grads + spec.offset * 4;
  }
  /** A parameter's values (a view into the arena). */
  view(spec: ParamSpec): Float32Array {
    return this.be.arena.f32(this.ptr(spec), spec.size);
  }

  /** Initialises every parameter from the seed (docs/method.md §1 init; Gaussians drawn in WASM). */
  init(seed: number): void {
    if (this.#stored) {
      throw new Error("Model: a model with packed weights is loaded, not initialised");
    }
    this.layout.specs.forEach((s, stream) => {
      if (s.init === "normal") {
        ops.randnFill(this.be, { x: this.ptr(s), n: s.size, seed, stream, std: s.std });
      } else {
        this.be.arena.f32(this.ptr(s), s.size).fill(s.init === "ones" ? 1 : 0);
        this.be.upload(this.ptr(s), 4 * s.size);
      }
    });
  }

  /**
   * Re-reads the weights after they changed (picks sparse or dense products per matrix, where the
   * backend has sparse products; rebuilds the kept tensors' patterns either way).
   */
  refresh(allowSparse: boolean): void {
    for (const b of this.blocks) {
      for (const lin of Object.values(b.lin)) lin.refresh(allowSparse);
    }
    this.lmHead.refresh(allowSparse);
  }

  /**
   * Runs `fn` with an intervention in force (TransformerLens's `hooks()` context) and restores
   * the model's previous state afterwards, whatever happens; interventions nest.
   */
  under<T>(iv: Intervention, fn: () => T): T {
    const ablation = this.#ablation, norm = this.#norm;
    if (iv.ablation !== undefined) this.#ablation = iv.ablation;
    if (iv.norm !== undefined) this.#norm = iv.norm;
    try {
      return fn();
    } finally {
      this.#ablation = ablation;
      this.#norm = norm;
    }
  }

  /** The node ablation in force (null: none). */
  get ablation(): Ablation | null {
    return this.#ablation;
  }

  /**
   * A forward pass (no targets) under the ablation in force whose RMSNorms take the scales the
   * unablated model has on the same tokens (pruning's --freeze-norm): an unablated pass records
   * them, then the ablated pass uses them. `recorded`: an earlier pass on these tokens did.
   */
  forwardFrozenNorms(
    tokens: Int32Array,
    B: number,
    T: number,
    opts: ForwardOptions & { recorded?: boolean } = {},
  ): void {
    if (!opts.recorded) {
      // Sized for the ablated pass first: resizing the activations between the passes (an
      // ablation keeps raw copies) would drop the scales the unablated pass records.
      this.#ensureActs(B, T);
      this.under({ ablation: null, norm: "record" }, () => {
        this.forward(tokens, null, B, T, { logitCols: opts.logitCols });
      });
    }
    this.under({ norm: "frozen" }, () => this.forward(tokens, null, B, T, opts));
  }

  /**
   * Allocates (or reuses) activation buffers for B sequences of T tokens, with the raw copies an
   * ablation keeps when `raw` (by default: when one is in force).
   */
  #ensureActs(B: number, T: number, raw = this.#ablation !== null): Acts {
    const a = this.#acts;
    const rawOk = !raw || this.#actsRaw;
    if (a && a.B === B && a.T === T && rawOk) return a;
    const { H } = this.d;
    const N = B * T;
    if (a && rawOk && N <= this.#capN && H * B * T * T <= this.#capAtt) {
      // Same buffers, new shape: every buffer is sized by N or by the attention size.
      this.#acts = { ...a, B, T, N };
      return this.#acts;
    }
    const arena = this.be.arena;
    // Reuse the old span only when nothing was allocated after it; otherwise leave it be.
    if (a) arena.release(this.#actsMark, this.#actsEnd);
    this.#actsMark = arena.mark();
    const alloc = <K extends string>(table: Record<K, ActShape>, what: (k: K) => string) => {
      const out = {} as Record<K, number>;
      for (const k of Object.keys(table) as K[]) {
        const t = table[k], bytes = actBytes(t, this.d, B, T, raw);
        // f32 buffers start zeroed (arena.tensor), as gradients accumulated into them need.
        out[k] = t.raw && !raw
          ? 0
          : t.type === "u8"
          ? arena.u8Buffer(bytes, what(k))
          : arena.tensor([bytes / 4], what(k)).ptr;
      }
      return out;
    };
    const layers = Array.from(
      { length: this.d.L },
      (_, l) => alloc(LAYER_ACTS, (k) => `layer ${l} ${k}`) as LayerActs,
    );
    const acts: Acts = {
      B,
      T,
      N,
      logitRows: 0,
      logitCols: 0,
      ...alloc(MODEL_ACTS, (k) => k),
      layers,
      grads: alloc(BLOCK_GRADS, (k) => `gradient ${k}`) as BlockGrads,
    };
    this.#acts = acts;
    this.#actsRaw = raw;
    this.#actsEnd = arena.used;
    // The activations outlive any scratch scope a forward may run inside.
    arena.keep();
    this.#capN = N;
    this.#capAtt = H * B * T * T;
    return acts;
  }

  /**
   * Sizes the activations for B sequences of T tokens under the current ablation, as the next
   * forward will use them, so a caller can write a block's input first (`fromLayer`).
   */
  prepare(B: number, T: number): Readonly<Acts> {
    return this.#ensureActs(B, T);
  }

  /**
   * Makes the activations hold passes of up to B sequences of T tokens (with the raw copies an
   * ablation keeps when `raw`) now. A caller that allocates buffers of its own and then runs passes
   * of varying shapes reserves the largest first: a larger pass later would have to allocate new
   * activations above those buffers and leave the old span behind, which on a wide model runs the
   * arena out of memory within a few passes.
   */
  reserveActs(B: number, T: number, raw: boolean): void {
    this.#ensureActs(B, T, raw);
  }

  /**
   * How many sequences of T tokens the activation buffers already hold (with an ablation's raw
   * copies when `raw`): a pass of at most that many reuses them and allocates nothing.
   */
  rowsHeld(T: number, raw: boolean): number {
    if (!this.#acts || (raw && !this.#actsRaw)) return 0;
    return Math.min(Math.floor(this.#capN / T), Math.floor(this.#capAtt / (this.d.H * T * T)));
  }

  /**
   * Forgets the activation buffers (freeing them when they are the arena's last kept span): for
   * a caller that is about to restore the arena below them. The next pass allocates new ones.
   */
  releaseActs(): void {
    if (this.#acts) this.be.arena.release(this.#actsMark, this.#actsEnd);
    this.#acts = null;
    this.#actsMark =
      this.#actsEnd =
      this.#capN =
      this.#capAtt =
        0;
  }

  /**
   * Brings every activation buffer of the last pass (model.acts) to the host: what a reader of
   * them calls first on a GPU (a no-op on the CPU). One download of their arena span.
   */
  downloadActs(): void {
    if (this.#acts) this.be.download([this.#actsMark, this.#actsEnd - this.#actsMark]);
  }

  /** The activations of the last forward pass (for evaluation, pruning and the viewer). */
  get acts(): Readonly<Acts> {
    if (!this.#acts) throw new Error("no forward pass yet");
    return this.#acts;
  }

  #pass(a: Acts, weightGrads: boolean, l: number): BlockPass {
    return {
      B: a.B,
      T: a.T,
      N: a.N,
      pos: a.pos,
      ablation: this.#ablation,
      norm: this.#norm,
      weightGrads,
      inputGrad: weightGrads || l > 0,
    };
  }

  /**
   * Runs the model on B sequences of T tokens (row b, position t at b·T + t). With targets
   * (-1 = ignore), returns the mean next-token cross-entropy; else NaN. Logits stay in acts.logits
   * as [V, N].
   */
  forward(
    tokens: Int32Array,
    targets: Int32Array | null,
    B: number,
    T: number,
    opts: ForwardOptions = {},
  ): number {
    const a = this.#ensureActs(B, T);
    const be = this.be;
    const { C, V, PW } = this.d;
    const N = a.N;
    const lay = this.layout;
    const from = opts.fromLayer ?? 0;
    if (!Number.isInteger(from) || from < 0 || from >= this.d.L) {
      throw new Error(`forward: fromLayer ${from} not in 0..${this.d.L - 1}`);
    }
    const cols = opts.logitCols;
    if (cols && targets) throw new Error("forward: targets need the logits of every position");
    const R = cols ? cols.count : N;
    // Every host write first, then the kernels: on a GPU the uploads then precede the pass, and
    // a training step stays one submission.
    be.arena.i32(a.tokens, N).set(tokens.subarray(0, N));
    be.upload(a.tokens, 4 * N);
    if (lay.wpe) {
      const ids = be.arena.i32(a.posIds, N);
      for (let i = 0; i < N; i++) ids[i] = i % T;
      be.upload(a.posIds, 4 * N);
    }
    if (cols) {
      const all = be.arena.i32(a.tokens, N), at = be.arena.i32(cols.ptr, R);
      const tokR = be.arena.i32(a.tokR, R);
      for (let r = 0; r < R; r++) tokR[r] = all[at[r]];
      be.upload(a.tokR, 4 * R);
    }
    if (targets) {
      const tg = be.arena.i32(a.targets, N);
      tg.set(targets.subarray(0, N));
      be.upload(a.targets, 4 * N);
      let count = 0;
      for (let i = 0; i < N; i++) if (tg[i] >= 0) count++;
      this.#count = count;
    }
    if (from === 0) {
      ops.embeddingForward(be, {
        out: a.layers[0].residIn,
        tokens: a.tokens,
        wte: this.ptr(lay.wte),
        C,
        N,
        V,
      });
    }
    if (lay.wpe) {
      ops.embeddingForward(be, {
        out: a.pos,
        tokens: a.posIds,
        wte: this.ptr(lay.wpe),
        C: PW,
        N,
        V: this.cfg.nCtx,
      });
      // Added positions are part of the first block's input, which fromLayer > 0 skips.
      if (this.cfg.addPosEmb && from === 0) {
        ops.add(be, { out: a.layers[0].residIn, a: a.layers[0].residIn, b: a.pos, n: C * N });
      }
    }
    for (let l = from; l < this.d.L; l++) {
      const out = l + 1 < this.d.L ? a.layers[l + 1].residIn : a.resF;
      this.blocks[l].forward(a.layers[l], out, this.#pass(a, false, l));
    }
    normForward(be, this.#norm, {
      out: a.lnF,
      rstd: a.rstdF,
      frozen: a.rstdFFrozen,
      inp: a.resF,
      weight: this.ptr(lay.lnF),
      C,
    }, N);
    a.logitRows = cols ? cols.count : 0;
    a.logitCols = cols ? cols.ptr : 0;
    if (cols) ops.gatherCols(be, { out: a.lnR, inp: a.lnF, idx: cols.ptr, C, N, R });
    this.lmHead.forward(cols ? a.lnR : a.lnF, a.logits, R);
    if (lay.bigram) {
      ops.bigramForward(be, {
        logits: a.logits,
        tokens: cols ? a.tokR : a.tokens,
        table: this.ptr(lay.bigram),
        V,
        N: R,
      });
    }
    if (!targets) return NaN;
    ops.crossEntropyForward(be, {
      losses: a.losses,
      logits: a.logits,
      targets: a.targets,
      V,
      N,
      stats: a.xentStats,
    });
    if (opts.lossTo !== undefined) {
      if (!be.forms) throw new Error("forward: lossTo needs a backend with device forms");
      be.forms.meanLoss({ losses: a.losses, targets: a.targets, N, out: opts.lossTo });
      return NaN;
    }
    return ops.meanLoss(be, { losses: a.losses, targets: a.targets, N });
  }

  /**
   * Gradients of the last forward's loss: weight gradients accumulate into the gradient buffer
   * (zero it first), mask gradients into the ablation's dmask.
   */
  backward(opts: BackwardOptions = {}): void {
    if ((opts.weightGrads ?? true) && !this.grads) {
      throw new Error("Model.backward: weight gradients of a model opened without them");
    }
    const a = this.acts;
    const be = this.be;
    const { C, V, P, PW } = this.d;
    const N = a.N;
    const lay = this.layout;
    const wg = opts.weightGrads ?? true;
    const g = a.grads;
    const zero = (ptr: number, n: number) => ops.fill(be, { x: ptr, n, value: 0 });
    if (P > 0 && wg) zero(g.dpos, P * N);
    const R = a.logitRows || N;
    if ((opts.seed ?? "xent") === "xent") {
      if (a.logitRows) throw new Error("backward: the cross-entropy needs every position's logits");
      ops.crossEntropyBackward(be, {
        dlogits: a.dlogits,
        logits: a.logits,
        targets: a.targets,
        V,
        N,
        scale: this.#count > 0 ? 1 / this.#count : 0,
        stats: a.xentStats,
      });
    }
    if (lay.bigram && wg) {
      ops.bigramBackward(be, {
        dtable: this.gptr(lay.bigram),
        dlogits: a.dlogits,
        tokens: a.logitRows ? a.tokR : a.tokens,
        V,
        N: R,
      });
    }
    if (a.logitRows) {
      this.lmHead.backward(a.dlogits, a.lnR, a.dlnR, R, false, wg);
      zero(a.dlnF, C * N);
      ops.scatterAddCols(be, { out: a.dlnF, inp: a.dlnR, idx: a.logitCols, C, N, R });
    } else {
      this.lmHead.backward(a.dlogits, a.lnF, a.dlnF, N, false, wg);
    }
    const frozen = this.#norm === "frozen";
    ops.rmsnormBackwardWrite(be, {
      dinp: g.dres,
      dweight: wg ? this.gptr(lay.lnF) : g.discard,
      dout: a.dlnF,
      inp: a.resF,
      weight: this.ptr(lay.lnF),
      rstd: frozen ? a.rstdFFrozen : a.rstdF,
      C,
      N,
      frozen,
    });
    for (let l = this.d.L - 1; l >= 0; l--) {
      this.blocks[l].backward(a.layers[l], g, this.#pass(a, wg, l));
    }
    if (!wg) return;
    ops.embeddingBackward(be, {
      dwte: this.gptr(lay.wte),
      dout: g.dres,
      tokens: a.tokens,
      C,
      N,
      V,
    });
    if (lay.wpe) {
      // Read positions collected their gradient in dpos; added ones share the input's.
      ops.embeddingBackward(be, {
        dwte: this.gptr(lay.wpe),
        dout: P > 0 ? g.dpos : g.dres,
        tokens: a.posIds,
        C: PW,
        N,
        V: this.cfg.nCtx,
      });
    }
  }
}
