/**
 * The sparse anneal (`--anneal-from D`, D < 1): a step that costs what its nonzeros cost from the
 * first step on. The method (docs/method.md §2) starts dense and anneals the nonzeros down to the
 * target; while a block matrix keeps 30% or more of its entries its products are dense GEMMs
 * (src/model/linear.ts), and at ef 4 such a step costs several times a step at the target
 * (docs/sparsity.md). A sparse anneal starts at block density D instead:
 *
 *   - at init, every sparsified tensor keeps D / (block target density) times its target density
 *     (at most all of it): the method's magnitude top-k (j protected per neuron) of the method's
 *     Gaussian init. On i.i.d. weights that keeps a uniformly random pattern, balanced over
 *     neurons by the protection: the random sparse init of sparse training from scratch (SET,
 *     Mocanu et al. 2018; RigL, Evci et al. 2020), with the method's weights at its positions;
 *   - the anneal (its shape, start and end as configured) runs from those counts to the target,
 *     and the sharkfin lr factor follows the block density from D (src/train/sparsify.ts);
 *   - with R > 1 (src/train/kept_grads.ts) the kept tensors (the linear weights) are pruned only
 *     on dense-gradient steps: their counts follow the schedule at the last multiple of R, so a
 *     sparse step never runs the O(size) top-k and rebuild of the compressed copies. Pruned
 *     entries regrow on the dense-gradient steps, as after the method's anneal in the
 *     sparse-gradient mode: RigL's periodic growth from the dense gradient, every R steps.
 *
 * Everything else is the sparse-gradient mode's. Resuming needs nothing new: the init prune runs
 * only for a new run, and the counts are a function of the step. annealFrom absent (or 1) is the
 * method, and nothing here runs.
 */
import type { ComputeBackend } from "../backend/backend.ts";
import type { Model } from "../model/model.ts";
import type { RunConfig } from "../run/config.ts";
import { isSparseAnneal, isSparsified, keptCount, topKTensor } from "./sparsify.ts";

/** With a sparse anneal: prunes a freshly initialised model to the anneal's start counts. */
export function pruneAtInit(be: ComputeBackend, model: Model, rc: RunConfig): void {
  if (!isSparseAnneal(rc)) return;
  for (const spec of model.layout.specs) {
    if (!isSparsified(spec, rc)) continue;
    const k = keptCount(spec, 0, rc);
    if (k < spec.size) topKTensor(be, model, spec, k, rc);
  }
}

/**
 * The step whose anneal count a kept tensor has after `done` steps: `done` itself, or with a sparse
 * anneal and R > 1 the last multiple of R (the last dense-gradient step's), so that the counts
 * fall only on dense-gradient steps.
 */
export function keptCountStep(done: number, rc: RunConfig): number {
  const R = rc.train.denseGradEvery;
  return isSparseAnneal(rc) && R > 1 ? done - (done % R) : done;
}
