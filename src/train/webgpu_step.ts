/**
 * The method's optimizer step (src/train/step.ts) on a GpuBackend, recorded as one submission
 * with no waits: the same Model and ops wrappers, with the GPU forms (src/backend/webgpu/ops.ts)
 * where the CPU step needs a result on the host (the mean loss, the gradient RMS, top-k).
 *
 * What differs from StepRunner, and what phase 2 of docs/webgpu.md folds into it:
 *   - the loss stays on the device (`loss()` downloads it: one wait), so a non-finite loss is
 *     seen when it is read, not before the update; NaN/Inf reaching a top-k is reported at the
 *     next download;
 *   - the products stay dense (Linear.refresh asks the host for a nonzero count; the GEMM's sums
 *     equal the sparse kernels' up to the sign of zero, so only speed differs);
 *   - only the method's dense-gradient steps (--dense-grad-every 1).
 */
import type { Backend } from "../backend/backend.ts";
import {
  adamStep,
  crossEntropyBackward,
  crossEntropyForward,
  decayWeights,
  fill,
  lrSchedule,
} from "../backend/ops/index.ts";
import type { GpuBackend } from "../backend/webgpu/gpu_backend.ts";
import * as gpuOps from "../backend/webgpu/ops.ts";
import { UserError } from "../errors.ts";
import { Model } from "../model/model.ts";
import type { RunConfig } from "../run/config.ts";
import { blockDensity, isSparsified, keptCount } from "./sparsify.ts";

export class GpuStepRunner {
  readonly model: Model;
  readonly adamM: number;
  readonly adamV: number;
  /** f32 results on the device: the last step's mean loss, its gradient RMS and 1/(rms + 1e-5). */
  readonly results: number;
  readonly #be: Backend;

  constructor(readonly gpu: GpuBackend, readonly rc: RunConfig) {
    if (rc.train.denseGradEvery > 1) {
      throw new UserError("--backend webgpu runs the method's steps only (--dense-grad-every 1)");
    }
    this.#be = gpu as unknown as Backend;
    this.model = new Model(this.#be, rc.model);
    const total = this.model.layout.total;
    this.adamM = gpu.arena.tensor([total], "Adam m").ptr;
    this.adamV = gpu.arena.tensor([total], "Adam v").ptr;
    this.results = gpu.arena.tensor([4], "step results").ptr;
  }

  /** Model.init (the CPU path's bits: the Gaussians come from the WASM module), then uploaded. */
  init(seed: number): void {
    this.model.init(seed);
    this.gpu.upload(this.model.params, 4 * this.model.layout.total);
  }

  /**
   * Records step `step` (0-based) on B×T inputs/targets and submits it; returns the learning
   * rate (computed on the host). The loss is at `results` (see loss()).
   */
  step(inputs: Int32Array, targets: Int32Array, step: number): { lr: number } {
    const { gpu, model, rc } = this;
    const be = this.#be;
    const t = rc.train;
    const B = t.batchSize, T = rc.model.nCtx, N = B * T;
    const { V } = model.d;
    const total = model.layout.total;
    const a = model.prepare(B, T);
    // Model.forward writes the tokens (and position ids) into the host copy; the device needs
    // them uploaded.
    gpu.arena.i32(a.tokens, N).set(inputs.subarray(0, N));
    gpu.arena.i32(a.targets, N).set(targets.subarray(0, N));
    gpu.upload(a.tokens, 4 * N);
    gpu.upload(a.targets, 4 * N);
    if (model.layout.wpe) {
      gpu.arena.i32(a.posIds, N).forEach((_, i, ids) => (ids[i] = i % T));
      gpu.upload(a.posIds, 4 * N);
    }
    model.forward(inputs, null, B, T);
    // Model.forward's loss tail, with the mean kept on the device.
    const xent = { logits: a.logits, targets: a.targets, V, N, stats: a.xentStats };
    crossEntropyForward(be, { losses: a.losses, ...xent });
    gpuOps.meanLoss(gpu, { losses: a.losses, targets: a.targets, N, out: this.results });
    let count = 0;
    for (let i = 0; i < N; i++) if (targets[i] >= 0) count++;
    crossEntropyBackward(be, { dlogits: a.dlogits, ...xent, scale: count > 0 ? 1 / count : 0 });
    fill(be, { x: model.grads, n: total, value: 0 });
    model.backward({ seed: "dlogits" });
    gpuOps.gradRmsNormalize(gpu, { grad: model.grads, n: total, out: this.results + 4 });
    const dens = blockDensity(step + 1, rc);
    const lr = lrSchedule(be, {
      step,
      total: t.steps,
      warmupFrac: t.warmupFrac,
      base: t.lr,
      pfracTarget: t.dense ? 1 : dens.target,
      pfracNow: t.dense ? 1 : dens.now,
    });
    adamStep(be, {
      param: model.params,
      grad: model.grads,
      m: this.adamM,
      v: this.adamV,
      n: total,
      lr,
      beta1: t.beta1,
      beta2: t.beta2,
      eps: t.eps,
      t: step + 1,
    });
    // sparsifyAndDecay with the GPU top-k.
    for (const spec of model.layout.specs) {
      if (!isSparsified(spec, rc)) continue;
      const k = keptCount(spec, step + 1, rc);
      if (k >= spec.size) continue;
      const [rows, cols] = spec.shape.length === 2 ? spec.shape : [1, spec.size];
      const block = spec.cls === "block";
      gpuOps.magnitudeTopK(gpu, {
        w: model.ptr(spec),
        rows,
        cols,
        k,
        j: block ? t.protectJ : 0,
        axis: block ? spec.axis : "none",
      });
    }
    const factor = 1 - lr * t.weightDecay;
    for (const spec of model.layout.specs) {
      if (spec.decay) decayWeights(be, { param: model.ptr(spec), n: spec.size, factor });
    }
    gpu.flush();
    return { lr };
  }

  /** The last step's mean training loss (waits for the device). */
  async loss(): Promise<number> {
    return (await this.gpu.readF32(this.results, 1))[0];
  }
}
