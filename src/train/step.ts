/**
 * One optimizer step of the method (docs/method.md §2), shared by the training loop and the benchmark:
 * forward, backward, global gradient RMS → 1, lr schedule (warmup, linear decay, sharkfin),
 * Adam, per-tensor top-k to the annealed L0, decoupled weight decay, sparse-copy refresh. With
 * --dense-grad-every R > 1, the steps between dense ones are sparse-gradient steps
 * (src/train/kept_grads.ts).
 */
import type { Backend } from "../backend/backend.ts";
import { adamStep, fill, gradRmsNormalize, lrSchedule } from "../backend/ops/index.ts";
import { Model } from "../model/model.ts";
import { type RunConfig } from "../run/config.ts";
import { isDenseGradStep, KeptGrads } from "./kept_grads.ts";
import { blockDensity, sparsifyAndDecay } from "./sparsify.ts";

export class StepRunner {
  readonly model: Model;
  /** Byte offsets of the Adam moments (same layout as the parameters). */
  readonly adamM: number;
  readonly adamV: number;
  /** The sparse-gradient steps' state, when R = denseGradEvery > 1. */
  readonly kept: KeptGrads | null;

  constructor(readonly be: Backend, readonly rc: RunConfig) {
    this.model = new Model(be, rc.model);
    const total = this.model.layout.total;
    this.adamM = be.arena.tensor([total], "Adam m").ptr;
    this.adamV = be.arena.tensor([total], "Adam v").ptr;
    this.kept = rc.train.denseGradEvery > 1
      ? new KeptGrads(be, this.model, rc, this.adamM, this.adamV)
      : null;
  }

  /**
   * Runs step `step` (0-based) on B×T inputs/targets; returns the loss before the update and the
   * learning rate used. A non-finite loss returns before changing any parameter.
   */
  step(inputs: Int32Array, targets: Int32Array, step: number): { loss: number; lr: number } {
    const { be, model, rc } = this;
    const t = rc.train;
    const loss = model.forward(inputs, targets, t.batchSize, rc.model.nCtx);
    if (!Number.isFinite(loss)) return { loss, lr: NaN };
    const kept = this.kept && !isDenseGradStep(step, rc) ? this.kept : null;
    this.kept?.setKept(kept !== null);
    if (kept) kept.zeroGrads();
    else fill(be, { x: model.grads, n: model.layout.total, value: 0 });
    model.backward();
    if (kept) kept.gradRmsNormalize();
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
      return { loss, lr };
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
    model.refresh(!t.dense);
    return { loss, lr };
  }
}
