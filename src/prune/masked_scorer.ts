/**
 * A task's items scored under node masks (docs/method.md §4): the mask, mean and mask-gradient vectors the
 * model's ablation reads, the task loss and its gradient in the mask, and the calibrated loss.
 * Every pass runs under a scoped intervention (Model.under), so the model is always left plain.
 */
import * as ops from "../backend/ops/index.ts";
import type { BatchResume, PairScorer, PromptItem, PromptScores } from "../eval/task_eval.ts";
import type { Ablation, Model } from "../model/model.ts";
import { type Calibration, fitCalibration } from "./calibrate.ts";

/** Scores item sets under node masks; owns the ablation vectors the model reads. */
export class MaskedScorer {
  readonly n: number;
  readonly ablation: Ablation;
  readonly #d: number;
  readonly #losses: number;
  readonly #capacity: number;
  /**
   * True while kernels own the mask (the learned masks' optimiser writes it on the device): the
   * host copy is stale until `mask` downloads it. Otherwise the host owns it (keepOnly, measure,
   * the viewer write it through `mask`) and every pass uploads it first.
   */
  #maskOnDevice = false;

  constructor(
    readonly model: Model,
    readonly scorer: PairScorer,
    means: Float32Array | null,
    readonly freezeNorm: boolean,
  ) {
    const arena = model.be.arena;
    this.n = model.nodes.total;
    this.#capacity = scorer.capacity;
    const f = (n: number, what: string) => arena.tensor([n], what).ptr;
    const mean = means ? f(this.n, "node means") : 0;
    if (means) {
      arena.f32(mean, this.n).set(means);
      model.be.upload(mean, 4 * this.n);
    }
    this.ablation = { mask: f(this.n, "node mask"), mean, dmask: f(this.n, "mask gradient") };
    this.#d = f(this.#capacity, "logit differences");
    this.#losses = f(this.#capacity, "calibrated losses");
    // Before the buffers of whoever uses this (the optimiser's τ and Adam state): every pass then
    // fits in the activations reserved here (already there when the scorer was made `ablated`).
    scorer.reserveActs(true);
  }

  /**
   * The mask vector (a view: write 1 to keep a node, 0 to ablate it); the next pass sees what
   * was written.
   */
  get mask(): Float32Array {
    const be = this.model.be;
    if (this.#maskOnDevice) be.download([this.ablation.mask, 4 * this.n]);
    this.#maskOnDevice = false;
    return be.arena.f32(this.ablation.mask, this.n);
  }

  /** Kernels wrote the mask (the optimiser's clamp): the host's view is stale until `mask`. */
  maskWrittenByKernels(): void {
    this.#maskOnDevice = true;
  }

  /** Before a pass: the host's writes to the mask reach the kernels (no-op on the CPU). */
  #uploadMask(): void {
    if (!this.#maskOnDevice) this.model.be.upload(this.ablation.mask, 4 * this.n);
  }

  /** Keeps exactly the nodes in `kept`. */
  keepOnly(kept: Iterable<number>): void {
    const m = this.mask;
    m.fill(0);
    for (const i of kept) m[i] = 1;
  }

  /**
   * Scores items under the current mask (ablation: false = the plain model); `resume` skips
   * blocks an earlier pass over the same items already has (src/eval/task_eval.ts BatchResume).
   */
  score(items: readonly PromptItem[], ablation = true, resume?: BatchResume): PromptScores {
    if (ablation) this.#uploadMask();
    return this.model.under(
      { ablation: ablation ? this.#forwardAblation() : null },
      () => this.scorer.score(items, { freezeNorm: ablation && this.freezeNorm, resume }),
    );
  }

  /** The model on B rows of T tokens under the current mask, as `score` runs it. */
  forward(tokens: Int32Array, B: number, T: number): void {
    const model = this.model;
    this.#uploadMask();
    model.under({ ablation: this.#forwardAblation() }, () => {
      if (this.freezeNorm) model.forwardFrozenNorms(tokens, B, T);
      else model.forward(tokens, null, B, T);
    });
  }

  /** Forward only: no mask gradient, so the ablation keeps no copies for a backward. */
  #forwardAblation(): Ablation {
    return { ...this.ablation, dmask: 0 };
  }

  /**
   * The task loss of items under the current mask, with its gradient in the mask: dmask +=
   * scale·∂(Σ_items loss)/∂m (scale 1/items.length, the mean's gradient, by default; zero dmask
   * first unless accumulating). Backward runs from the two-candidate loss without weight gradients.
   * With logitScale s, the loss (returned and differentiated) is taken on the logits × s.
   */
  maskGradient(
    items: readonly PromptItem[],
    opts: { scale?: number; accumulate?: boolean; logitScale?: number } = {},
  ): number {
    const { model } = this, be = model.be, { V } = model.d;
    const scale = opts.scale ?? 1 / items.length;
    const logitScale = opts.logitScale ?? 1;
    if (!opts.accumulate) ops.fill(be, { x: this.ablation.dmask, n: this.n, value: 0 });
    this.#uploadMask();
    const s = model.under({ ablation: this.ablation }, () =>
      this.scorer.score(items, {
        freezeNorm: this.freezeNorm,
        onBatch: (b) => {
          const a = model.acts;
          ops.fill(be, { x: a.dlogits, n: V * b.N, value: 0 });
          ops.pairLossBackward(be, {
            dlogits: a.dlogits,
            logits: a.logits,
            pos: b.pos,
            a: b.a,
            b: b.b,
            count: b.B,
            V,
            N: b.N,
            scale,
            logitScale,
          });
          model.backward({ seed: "dlogits", weightGrads: false });
        },
      }));
    return logitScale === 1 ? s.meanLoss : this.scaledLoss(s, logitScale);
  }

  /** Mean task loss of scored items on their logits × s. */
  scaledLoss(s: PromptScores, logitScale: number): number {
    return this.calibrated(s, { scale: logitScale, shift: 0 }).loss;
  }

  /** Mean calibrated loss of scored items; per-item losses too when asked. */
  calibrated(
    s: PromptScores,
    c: Calibration,
    perItem = false,
  ): { loss: number; items?: Float32Array } {
    const be = this.model.be, n = s.diff.length;
    be.arena.f32(this.#d, n).set(s.diff);
    const r = ops.calibLossGrad(be, {
      d: this.#d,
      n,
      scale: c.scale,
      shift: c.shift,
      losses: perItem ? this.#losses : undefined,
    });
    return { loss: r.loss, items: perItem ? be.arena.f32(this.#losses, n).slice() : undefined };
  }

  /**
   * The standard error of scored items' mean calibrated loss: the sample standard deviation of
   * their losses (one per prompt) over √n (0 for fewer than two), the sum of squares in WASM.
   */
  stdError(s: PromptScores, c: Calibration): number {
    const n = s.diff.length;
    if (n < 2) return 0;
    const mean = this.calibrated(s, c, true).loss;
    const ss = ops.sumSquares(this.model.be, { x: this.#losses, n });
    return Math.sqrt(Math.max(0, (ss - n * mean * mean) / (n - 1)) / n);
  }

  /** Fits a calibration to scored items (16 LBFGS steps). */
  fit(s: PromptScores): Calibration {
    const be = this.model.be, n = s.diff.length;
    be.arena.f32(this.#d, n).set(s.diff);
    return fitCalibration(be, this.#d, n);
  }

  /** Raw and calibrated (fitted here, or given) loss of items under the current mask. */
  measure(
    items: readonly PromptItem[],
    c?: Calibration,
  ): { raw: number; cal: number; c: Calibration; s: PromptScores } {
    const s = this.score(items);
    const cal = c ?? this.fit(s);
    return { raw: s.meanLoss, cal: this.calibrated(s, cal).loss, c: cal, s };
  }
}
