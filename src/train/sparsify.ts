/**
 * Weight sparsity (docs/method.md §2): the annealed L0 schedule and the per-tensor magnitude top-k that
 * runs after every optimizer step, followed by decoupled weight decay (after top-k, so zeros stay
 * zero).
 */
import type { ComputeBackend } from "../backend/backend.ts";
import { decayWeights } from "../backend/ops/index.ts";
import { magnitudeTopK } from "../backend/ops/topk.ts";
import type { Model } from "../model/model.ts";
import { type ParamLayout, type ParamSpec, targetDensity } from "../model/params.ts";
import { UserError } from "../errors.ts";
import { type RunConfig } from "../run/config.ts";

/** Anneal progress in [0, 1]: 0 until annealStart, linear to 1 at annealEnd (docs/method.md §2). */
export function annealProgress(step: number, rc: RunConfig): number {
  const t = rc.train;
  const s0 = t.annealStart * t.steps, s1 = t.annealEnd * t.steps;
  if (step <= s0) return s1 <= s0 && step >= s0 ? 1 : 0;
  if (step >= s1) return 1;
  return (step - s0) / (s1 - s0);
}

/**
 * The share of the pruning (dense count − target count) done by this step. Linear (the method):
 * the anneal's progress p. Cubic (Zhu & Gupta 2017, "To prune, or not to prune"): 1 − (1 − p)³,
 * so the density is d(p) = target + (1 − target)(1 − p)³: a third of the anneal's time above
 * density 0.3 at ef 4 instead of 71% (the dense products run there, src/model/linear.ts).
 */
export function annealPruned(step: number, rc: RunConfig): number {
  const p = annealProgress(step, rc);
  if (rc.train.annealShape === "linear") return p;
  const q = 1 - p;
  return 1 - q * q * q;
}

/** Is the anneal a sparse one (train.annealFrom below 1, src/train/sparse_anneal.ts)? */
export function isSparseAnneal(rc: RunConfig): boolean {
  return rc.train.annealFrom !== undefined && rc.train.annealFrom < 1 && !rc.train.dense;
}

/**
 * Nonzeros a tensor keeps at this step: from its start count (dense, or with a sparse anneal
 * annealFrom / block target times its target density, at most dense) to its target, as
 * annealPruned says.
 */
export function keptCount(spec: ParamSpec, step: number, rc: RunConfig): number {
  const density = targetDensity(spec.cls, rc.train.pfrac, rc.model.ef);
  const target = Math.max(1, Math.round(spec.size * density));
  let start = spec.size;
  if (isSparseAnneal(rc)) {
    const scale = rc.train.annealFrom! / targetDensity("block", rc.train.pfrac, rc.model.ef);
    start = Math.max(target, Math.min(spec.size, Math.round(spec.size * density * scale)));
  }
  return start - Math.floor((start - target) * annealPruned(step, rc));
}

/** The block matrices' density now and at the end (for the sharkfin lr factor). */
export function blockDensity(step: number, rc: RunConfig): { now: number; target: number } {
  const target = targetDensity("block", rc.train.pfrac, rc.model.ef);
  if (isSparseAnneal(rc)) {
    const from = rc.train.annealFrom!;
    return { target, now: target + (from - target) * (1 - annealPruned(step, rc)) };
  }
  return { target, now: 1 - (1 - target) * annealPruned(step, rc) };
}

/** Is this tensor pruned by top-k in this run? */
export function isSparsified(spec: ParamSpec, rc: RunConfig): boolean {
  return !rc.train.dense && spec.cls !== "dense";
}

/**
 * Keeps the k largest-|w| entries of one tensor (block matrices: j protected per neuron); on a
 * GPU, with unlessAbove, only when the device's count there exceeds k (ops.magnitudeTopK).
 */
export function topKTensor(
  be: ComputeBackend,
  model: Model,
  spec: ParamSpec,
  k: number,
  rc: RunConfig,
  unlessAbove?: number,
) {
  const [rows, cols] = spec.shape.length === 2 ? spec.shape : [1, spec.size];
  const block = spec.cls === "block";
  magnitudeTopK(be, {
    w: model.ptr(spec),
    rows,
    cols,
    k,
    j: block ? rc.train.protectJ : 0,
    axis: block ? spec.axis : "none",
    ...(unlessAbove === undefined ? {} : { unlessAbove }),
  });
}

/**
 * After an optimizer step: top-k every sparsified tensor to its annealed count (block matrices
 * first protect the j largest entries of every neuron), then decay every ≥2-D tensor. `include`
 * limits both to some tensors (the sparse-gradient mode treats its kept tensors itself).
 */
export function sparsifyAndDecay(
  be: ComputeBackend,
  model: Model,
  step: number,
  rc: RunConfig,
  lr: number,
  include: (spec: ParamSpec) => boolean = () => true,
): void {
  for (const spec of model.layout.specs) {
    if (!isSparsified(spec, rc) || !include(spec)) continue;
    const k = keptCount(spec, step, rc);
    if (k < spec.size) topKTensor(be, model, spec, k, rc);
  }
  const factor = 1 - lr * rc.train.weightDecay;
  for (const spec of model.layout.specs) {
    if (spec.decay && include(spec)) {
      decayWeights(be, { param: model.ptr(spec), n: spec.size, factor });
    }
  }
}

/**
 * Checks that every block matrix's target count can hold the j protected entries of each neuron
 * (the reference asserts k ≥ j · neurons); throws a one-line UserError naming the tensor otherwise.
 */
export function checkSparsityFeasible(layout: ParamLayout, rc: RunConfig): void {
  if (rc.train.dense) return;
  for (const spec of layout.specs) {
    if (spec.cls !== "block") continue;
    const neurons = spec.axis === "col" ? spec.shape[1] : spec.shape[0];
    const k = keptCount(spec, rc.train.steps, rc);
    if (k < rc.train.protectJ * neurons) {
      throw new UserError(
        `pfrac ${rc.train.pfrac} keeps ${k} entries of ${spec.name}, fewer than protect-j ` +
          `${rc.train.protectJ} × ${neurons} neurons: raise --pfrac or --ef, or lower --protect-j`,
      );
    }
  }
}
