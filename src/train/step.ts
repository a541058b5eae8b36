/**
 * One optimizer step of the method (docs/method.md §2), shared by the training loop and the benchmark:
 * forward, backward, global gradient RMS → 1, lr schedule (warmup, linear decay, sharkfin),
 * Adam, per-tensor top-k to the annealed L0, decoupled weight decay, sparse-copy refresh. With
 * --dense-grad-every R > 1, the steps between dense ones are sparse-gradient steps
 * (src/train/kept_grads.ts).
 *
 * On a GPU (a backend with device forms) the step is recorded as one submission with no wait:
 * the loss stays on the device until `lastLoss()` reads it (the trainer does when it logs), so a
 * non-finite loss is not caught before the update but at the next read (a status word counts it),
 * and the forward and input-gradient products stay dense (docs/webgpu.md). Sparse-gradient steps
 * record without a wait too (kept_grads.ts says how).
 */
import type { ComputeBackend } from "../backend/backend.ts";
import { adamStep, fill, gradRmsNormalize, lrSchedule } from "../backend/ops/index.ts";
import { Model } from "../model/model.ts";
import { type RunConfig } from "../run/config.ts";
import { isDenseGradStep, KeptGrads } from "./kept_grads.ts";
import { blockDensity, sparsifyAndDecay } from "./sparsify.ts";

/** The status-word name a non-finite loss on a GPU is reported under (trainer.ts reads it). */
export const LOSS_CHECK = { kernel: "train", what: "the loss" } as const;

export class StepRunner {
  readonly model: Model;
  /** Byte offsets of the Adam moments (same layout as the parameters). */
  readonly adamM: number;
  readonly adamV: number;
  /** The sparse-gradient steps' state, when R = denseGradEvery > 1. */
  readonly kept: KeptGrads | null;
  /**
   * True on a GPU: the loss stays on the device (lastLoss() waits for it), and a non-finite one
   * is thrown at the next download instead of stopping the step.
   */
  readonly lossDeferred: boolean;
  /** On a GPU: f32 results of the last step (mean loss, gradient RMS, 1/(rms + 1e-5)). */
  readonly #results: number;
  #loss = NaN;

  constructor(readonly be: ComputeBackend, readonly rc: RunConfig) {
    this.model = new Model(be, rc.model);
    const total = this.model.layout.total;
    this.adamM = be.arena.tensor([total], "Adam m").ptr;
    this.adamV = be.arena.tensor([total], "Adam v").ptr;
    this.kept = rc.train.denseGradEvery > 1
      ? new KeptGrads(be, this.model, rc, this.adamM, this.adamV)
      : null;
    this.lossDeferred = be.forms !== null;
    this.#results = this.lossDeferred ? be.arena.tensor([4], "step results").ptr : 0;
  }

  /**
   * Runs step `step` (0-based) on B×T inputs/targets; returns the loss before the update and the
   * learning rate used. A non-finite loss returns before changing any parameter (on a GPU: see
   * the file comment). On a GPU this waits for the step to finish: the trainer uses `record`.
   */
  step(inputs: Int32Array, targets: Int32Array, step: number): { loss: number; lr: number } {
    const { lr } = this.record(inputs, targets, step);
    return { loss: this.lastLoss(), lr };
  }

  /** The loss of the last step recorded (on a GPU: one wait for the device). */
  lastLoss(): number {
    if (!this.lossDeferred) return this.#loss;
    this.be.download([this.#results, 4]);
    return this.be.arena.f32(this.#results, 1)[0];
  }

  /**
   * Runs (CPU) or records (GPU) step `step` without reading its loss on a GPU; returns the
   * learning rate used (NaN when a non-finite loss on the CPU stopped the step).
   */
  record(inputs: Int32Array, targets: Int32Array, step: number): { lr: number } {
    const { be, model, rc } = this;
    const t = rc.train;
    const dev = be.forms;
    const fwd = dev ? { lossTo: this.#results } : {};
    this.#loss = model.forward(inputs, targets, t.batchSize, rc.model.nCtx, fwd);
    if (dev) be.checkFinite(LOSS_CHECK.kernel, LOSS_CHECK.what, this.#results, 1);
    else if (!Number.isFinite(this.#loss)) return { lr: NaN };
    const kept = this.kept && !isDenseGradStep(step, rc) ? this.kept : null;
    this.kept?.setKept(kept !== null);
    if (kept) kept.zeroGrads();
    else fill(be, { x: model.grads, n: model.layout.total, value: 0 });
    model.backward();
    if (kept) kept.gradRmsNormalize(dev ? this.#results + 4 : undefined);
    else if (dev) dev.gradRmsNormalizeSpans([[model.grads, model.layout.total]], this.#results + 4);
    else gradRmsNormalize(be, { grad: model.grads, n: model.layout.total });
    const dens = blockDensity(step + 1, rc);
    const lr = lrSchedule(be, {
      step,
      total: t.steps,
      warmupFrac: t.warmupFrac,
      base: t.lr,
      pfracTarget: t.dense ? 1 : dens.target,
      pfracNow: t.dense ? 1 : dens.now,
    });
    if (kept) {
      kept.optimize(step, lr);
      be.flush();
      return { lr };
    }
    adamStep(be, {
      param: model.params,
      grad: model.grads,
      m: this.adamM,
      v: this.adamV,
      n: model.layout.total,
      lr,
      beta1: t.beta1,
      beta2: t.beta2,
      eps: t.eps,
      t: step + 1,
    });
    sparsifyAndDecay(be, model, step + 1, rc, lr);
    this.kept?.denseStepDone(step);
    model.refresh(!t.dense);
    be.flush();
    return { lr };
  }
}
