/**
 * The optimizer (asm/kernels/adamw.ts; docs/method.md §2): Adam with bias correction, the separate decoupled
 * weight decay (applied after the weight top-k so pruned zeros stay zero) and the learning-rate
 * schedule. All arithmetic happens in wasm; these wrappers only check arguments.
 */
import type { ComputeBackend } from "../backend.ts";
import { KernelError } from "../../errors.ts";
import { checkBuffers, checkDims, checkFinite } from "./layer_args.ts";
import { scale } from "./residual.ts";
import type { SparseMatrix } from "./sparse.ts";

export interface AdamStepArgs {
  /** param, grad, m, v: [n] each; param, m and v are updated in place. */
  param: number;
  grad: number;
  m: number;
  v: number;
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1-based step number, for the bias correction 1 − β^t. */
  t: number;
}

/** One Adam step: m, v updated, param −= lr·m̂/(sqrt(v̂) + eps). */
export function adamStep(be: ComputeBackend, a: AdamStepArgs): void {
  const { n } = a;
  const shapes = `n=${n} lr=${a.lr} beta1=${a.beta1} beta2=${a.beta2} eps=${a.eps} t=${a.t}`;
  checkDims("adam_step", shapes, { n }, 0);
  checkDims("adam_step", shapes, { t: a.t });
  checkFinite("adam_step", shapes, { lr: a.lr, eps: a.eps });
  for (const [name, b] of [["beta1", a.beta1], ["beta2", a.beta2]] as const) {
    if (!(b >= 0 && b < 1)) {
      throw new KernelError("adam_step", `${name} must be in [0, 1) (${shapes})`);
    }
  }
  if (!(a.eps > 0)) throw new KernelError("adam_step", `eps must be > 0 (${shapes})`);
  checkBuffers(be, "adam_step", shapes, {
    param: [a.param, 4 * n],
    grad: [a.grad, 4 * n],
    m: [a.m, 4 * n],
    v: [a.v, 4 * n],
  });
  if (n > 0) {
    be.run("adam_step", [a.param, a.grad, a.m, a.v, n, a.lr, a.beta1, a.beta2, a.eps, a.t], 12 * n);
  }
}

/**
 * adamStep for the stored entries of one weight only (the sparse-gradient mode): `w` is the
 * weight's compressed form; grad is compact [w.nnz] in its CSR order; param, m and v are the dense
 * [rows, cols] buffers, updated at the stored positions and left as they are elsewhere. The
 * updated weights are then multiplied by `factor` (the decay 1 − lr·wd, or 1 for none).
 */
export function adamStepCsr(
  be: ComputeBackend,
  a: Omit<AdamStepArgs, "n"> & { w: SparseMatrix; factor: number },
): void {
  const { w } = a;
  const n = w.rows * w.cols;
  const shapes = `W [${w.rows}, ${w.cols}] nnz=${w.nnz} lr=${a.lr} beta1=${a.beta1} ` +
    `beta2=${a.beta2} eps=${a.eps} t=${a.t} factor=${a.factor}`;
  checkDims("adam_step_csr", shapes, { t: a.t });
  checkFinite("adam_step_csr", shapes, { lr: a.lr, eps: a.eps, factor: a.factor });
  for (const [name, b] of [["beta1", a.beta1], ["beta2", a.beta2]] as const) {
    if (!(b >= 0 && b < 1)) {
      throw new KernelError("adam_step_csr", `${name} must be in [0, 1) (${shapes})`);
    }
  }
  if (!(a.eps > 0)) throw new KernelError("adam_step_csr", `eps must be > 0 (${shapes})`);
  if (w.be !== be) {
    throw new KernelError("adam_step_csr", `W belongs to another backend (${shapes})`);
  }
  checkBuffers(be, "adam_step_csr", shapes, {
    param: [a.param, 4 * n],
    grad: [a.grad, 4 * Math.max(1, w.nnz)],
    m: [a.m, 4 * n],
    v: [a.v, 4 * n],
  });
  if (w.nnz === 0) return;
  be.run("adam_step_csr_f32", [
    w.rowPtr,
    w.rowIdx,
    w.rows,
    w.cols,
    a.grad,
    a.param,
    a.m,
    a.v,
    a.lr,
    a.beta1,
    a.beta2,
    a.eps,
    a.t,
    a.factor,
  ], 12 * w.nnz);
}

/** param[i] *= factor, i < n (the caller passes factor = 1 − lr·wd): the scale kernel. */
export function decayWeights(
  be: ComputeBackend,
  a: { param: number; n: number; factor: number },
): void {
  scale(be, { x: a.param, n: a.n, factor: a.factor });
}

export interface LrScheduleArgs {
  /** 0-based step, in [0, total). */
  step: number;
  total: number;
  /** Fraction of the run spent warming up linearly (the paper's: 0.01). */
  warmupFrac: number;
  /** Peak learning rate. */
  base: number;
  /** Target fraction of nonzero weights, and the current one (sharkfin sqrt(target/now)). */
  pfracTarget: number;
  pfracNow: number;
}

/**
 * Learning rate at `step`: base · warmup/decay factor · sqrt(pfracTarget/pfracNow) (docs/method.md §2).
 * Warmup (step+1)/W over the first W = warmupFrac·total steps, then (total − step)/(total − W).
 */
export function lrSchedule(be: ComputeBackend, a: LrScheduleArgs): number {
  const shapes = `step=${a.step} total=${a.total} warmupFrac=${a.warmupFrac} ` +
    `pfracTarget=${a.pfracTarget} pfracNow=${a.pfracNow}`;
  checkDims("lr_schedule", shapes, { total: a.total });
  checkDims("lr_schedule", shapes, { step: a.step }, 0);
  checkFinite("lr_schedule", shapes, { base: a.base });
  if (a.step >= a.total) throw new KernelError("lr_schedule", `step must be < total (${shapes})`);
  if (!(a.warmupFrac >= 0 && a.warmupFrac <= 1)) {
    throw new KernelError("lr_schedule", `warmupFrac must be in [0, 1] (${shapes})`);
  }
  for (const [name, f] of [["pfracTarget", a.pfracTarget], ["pfracNow", a.pfracNow]] as const) {
    if (!(f > 0 && f <= 1)) {
      throw new KernelError("lr_schedule", `${name} must be in (0, 1] (${shapes})`);
    }
  }
  return be.run(
    "lr_schedule",
    [a.step, a.total, a.warmupFrac, a.base, a.pfracTarget, a.pfracNow],
    0,
  );
}
