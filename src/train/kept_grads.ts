/**
 * The sparse-gradient mode (`--dense-grad-every R`, R > 1): steps whose weight-gradient and
 * optimizer work follow the nonzeros, with a dense-gradient step every R steps so that pruned
 * weights can grow back (in the spirit of RigL, Evci et al. 2020). R = 1 is the paper's method
 * (docs/method.md §2) and never comes here.
 *
 * Kept tensors: the weights of every Linear, i.e. the four block matrices of each layer and
 * lm_head. A kept tensor's pattern is its nonzeros after the previous step.
 *
 * Dense-gradient step: (step + 1) % R = 0 for the 0-based step (steps R, 2R, … counted from 1),
 * during the L0 anneal as after it. It is exactly the method's step (src/train/step.ts): dense
 * gradients of every tensor, the global RMS over all of them, Adam over every entry (pruned ones
 * too: their moments advance and their weights move off zero), top-k over all entries to the
 * annealed count, decay. Pruned entries that this top-k keeps have grown back.
 *
 * Sparse step (every other step):
 *   - each kept tensor's gradient at its pattern only (sddmm; the same bits as the dense dW there);
 *   - every other tensor (wte, biases, norms, sink logits, bigram table) exactly as in the method:
 *     its gradient costs O(tokens × width) whatever the density and its Adam and top-k O(its
 *     size), so keeping them whole costs little and changes nothing;
 *   - the global RMS over the gradients that exist: Σ g² over the patterns and every entry of
 *     the other tensors, over their count (a fully dense pattern gives the method's RMS, up to
 *     the order of the f64 sum);
 *   - Adam at the pattern only: pruned entries stay 0 and their m and v stay as they are;
 *   - top-k of a kept tensor only when its annealed count is below its pattern size (during the
 *     anneal; with a sparse anneal only on dense-gradient steps, src/train/sparse_anneal.ts), over
 *     the whole tensor (entries outside the pattern are 0, so it can only prune); otherwise the
 *     pattern stays as it is;
 *   - decay of the kept tensors' entries (fused into the Adam kernel when no top-k runs between
 *     them: the same f32 products as the method's separate pass).
 *
 * Moments of entries that are pruned and regrow (docs/sparsity.md): m and v stay one dense buffer
 * and are never reset. An entry's moments advance on every step on which it has a gradient:
 * every step while it is kept, only the dense-gradient steps while it is pruned. A pruned entry
 * keeps its moments (frozen between dense steps, advanced on each dense step by its dense
 * gradient, as in the method but every R steps), and an entry that regrows continues from them,
 * with the bias correction of the global step like every entry.
 *
 * Resuming needs nothing beyond the method's checkpoint (weights, moments, step, data state):
 * the pattern is always exactly W's nonzeros (Linear.refreshKept), and whether a step is dense
 * depends on its number only.
 *
 * On a GPU (a backend with device forms) a pattern's entry count lives on the device
 * (GpuSparseMatrix: the host sees the capacity rows·cols), and the step records without a wait.
 * The two places the CPU reads it decide on the device instead, with the same results:
 *   - the RMS: each kept gradient span is its capacity, zeroed before backward so that the
 *     entries past the pattern add nothing to Σ g², and the count it divides by is the rest's
 *     (known) plus every pattern's rowPtr[rows], summed by the finishing kernel;
 *   - "top-k only when the annealed count is below the pattern size": the host skips it when an
 *     upper bound of the size it keeps (#bound) says so, which is every sparse step of a sparse
 *     anneal; otherwise the top-k is recorded with its final pass guarded by the pattern's count
 *     on the device (ops.magnitudeTopK unlessAbove), and its decay as a separate pass (the fused
 *     one's f32 products, so a skipped top-k leaves the bits of the CPU's path without it).
 */
import type { ComputeBackend } from "../backend/backend.ts";
import { deviceResult } from "../backend/ops/layer_args.ts";
import {
  adamStep,
  adamStepCsr,
  decayWeights,
  fill,
  gradRmsNormalizeSpans,
} from "../backend/ops/index.ts";
import type { Linear } from "../model/linear.ts";
import type { Model } from "../model/model.ts";
import type { ParamSpec } from "../model/params.ts";
import { type RunConfig } from "../run/config.ts";
import { keptCountStep } from "./sparse_anneal.ts";
import { isSparsified, keptCount, sparsifyAndDecay, topKTensor } from "./sparsify.ts";

/** Does 0-based step `step` compute dense weight gradients (always, when R = 1)? */
export function isDenseGradStep(step: number, rc: RunConfig): boolean {
  return (step + 1) % rc.train.denseGradEvery === 0;
}

/** The sparse steps of one model: its kept tensors and everything else, in layout order. */
export class KeptGrads {
  /** The kept tensors with their Linears, by offset. */
  readonly tensors: { spec: ParamSpec; lin: Linear }[];
  /** Float ranges [start, end) of the parameter buffer outside the kept tensors. */
  readonly rest: [number, number][];
  readonly #kept: Set<ParamSpec>;
  /**
   * On a GPU: per kept tensor, a count its nonzeros cannot exceed (its size until a step of this
   * runner bounds it); and the arena list of the word indices of the patterns' counts.
   */
  readonly #bound: number[];
  readonly #countWords: number = 0;
  /** Entries outside the kept tensors (the rest spans' total). */
  readonly #restCount: number;

  constructor(
    readonly be: ComputeBackend,
    readonly model: Model,
    readonly rc: RunConfig,
    /** Byte offsets of the Adam moments (the parameters' layout). */
    readonly adamM: number,
    readonly adamV: number,
  ) {
    const lay = model.layout;
    this.tensors = [
      ...lay.layers.flatMap((p, l) => {
        const lin = model.blocks[l].lin;
        return [
          { spec: p.cAttnW, lin: lin.cAttn },
          { spec: p.attnProjW, lin: lin.attnProj },
          { spec: p.fcW, lin: lin.fc },
          { spec: p.mlpProjW, lin: lin.mlpProj },
        ];
      }),
      { spec: lay.lmHead, lin: model.lmHead },
    ].sort((a, b) => a.spec.offset - b.spec.offset);
    for (const { lin } of this.tensors) lin.enableKeptGrads();
    this.#kept = new Set(this.tensors.map((t) => t.spec));
    this.rest = [];
    let at = 0;
    for (const { spec } of this.tensors) {
      if (spec.offset > at) this.rest.push([at, spec.offset]);
      at = spec.offset + spec.size;
    }
    if (lay.total > at) this.rest.push([at, lay.total]);
    this.#restCount = this.rest.reduce((n, [s, e]) => n + e - s, 0);
    this.#bound = this.tensors.map(({ spec }) => spec.size);
    if (be.forms) {
      const n = this.tensors.length;
      this.#countWords = be.arena.tensor([n], "kept pattern count addresses").ptr;
      const words = be.arena.u32(this.#countWords, n);
      this.tensors.forEach(({ lin }, i) => words[i] = (lin.pattern.rowPtr >> 2) + lin.rows);
      be.upload(this.#countWords, 4 * n);
    }
  }

  /** Makes backward compute the kept tensors' gradients at their patterns only (or densely). */
  setKept(on: boolean): void {
    for (const { lin } of this.tensors) lin.weightGrad = on ? "kept" : "dense";
  }

  /**
   * Zeroes the gradients a sparse step accumulates: everything but the kept tensors, whose dW
   * spans backward leaves alone or overwrites while setKept(true); on a GPU also the kept
   * gradients past their patterns (whole: see the file comment).
   */
  zeroGrads(): void {
    for (const [s, e] of this.rest) {
      fill(this.be, { x: this.model.grads + 4 * s, n: e - s, value: 0 });
    }
    if (!this.be.forms) return;
    for (const { spec, lin } of this.tensors) {
      fill(this.be, { x: lin.keptGrad, n: spec.size, value: 0 });
    }
  }

  /**
   * A sparse step's global gradient RMS → 1 (after backward with setKept(true)); returns rms.
   * On a GPU with `out` it records only: rms and 1/(rms + 1e-5) go to the 2 f32 at out, and
   * NaN is returned (without `out` it waits for the rms).
   */
  gradRmsNormalize(out?: number): number {
    const forms = this.be.forms;
    const spans: [number, number][] = [];
    let r = 0;
    const restUpTo = (end: number) => {
      for (; r < this.rest.length && this.rest[r][0] < end; r++) {
        const [s, e] = this.rest[r];
        spans.push([this.model.grads + 4 * s, e - s]);
      }
    };
    for (const { spec, lin } of this.tensors) {
      restUpTo(spec.offset);
      spans.push([lin.keptGrad, forms ? spec.size : lin.pattern.nnz]);
    }
    restUpTo(Infinity);
    if (!forms) return gradRmsNormalizeSpans(this.be, spans);
    const count = { base: this.#restCount, words: this.#countWords, n: this.tensors.length };
    if (out !== undefined) {
      forms.gradRmsNormalizeSpans(spans, out, count);
      return NaN;
    }
    return deviceResult(this.be, 2, (o) => forms.gradRmsNormalizeSpans(spans, o, count)).f32[0];
  }

  /**
   * After a dense-gradient step `step` (0-based): every kept tensor was pruned to its count for
   * step + 1 (src/train/sparsify.ts sparsifyAndDecay), which bounds its nonzeros (#bound).
   */
  denseStepDone(step: number): void {
    this.tensors.forEach(({ spec }, i) => {
      this.#bound[i] = isSparsified(spec, this.rc)
        ? Math.min(spec.size, keptCount(spec, step + 1, this.rc))
        : spec.size;
    });
  }

  /** A sparse step's Adam, top-k, decay and refresh, for 0-based `step` at learning rate lr. */
  optimize(step: number, lr: number): void {
    const { be, model, rc } = this;
    const t = rc.train;
    const hyper = { lr, beta1: t.beta1, beta2: t.beta2, eps: t.eps, t: step + 1 };
    for (const [s, e] of this.rest) {
      adamStep(be, {
        param: model.params + 4 * s,
        grad: model.grads + 4 * s,
        m: this.adamM + 4 * s,
        v: this.adamV + 4 * s,
        n: e - s,
        ...hyper,
      });
    }
    const factor = 1 - lr * t.weightDecay;
    const gpu = be.forms !== null;
    this.tensors.forEach(({ spec, lin }, i) => {
      const k = keptCount(spec, keptCountStep(step + 1, rc), rc);
      // On a GPU: "may be below", the device decides (see the file comment).
      const prune = k < (gpu ? this.#bound[i] : lin.pattern.nnz);
      // A sparse step adds no nonzero, and one that prunes keeps at most k.
      this.#bound[i] = Math.min(this.#bound[i], k);
      adamStepCsr(be, {
        w: lin.pattern,
        grad: lin.keptGrad,
        param: model.ptr(spec),
        m: this.adamM + 4 * spec.offset,
        v: this.adamV + 4 * spec.offset,
        ...hyper,
        factor: prune || !spec.decay ? 1 : factor,
      });
      if (prune) {
        const guard = gpu ? lin.pattern.rowPtr + 4 * lin.rows : undefined;
        topKTensor(be, model, spec, k, rc, guard);
        if (spec.decay) decayWeights(be, { param: model.ptr(spec), n: spec.size, factor });
        lin.refresh(true);
      } else {
        lin.refreshKept();
      }
    });
    sparsifyAndDecay(be, model, step + 1, rc, lr, (spec) => !this.#kept.has(spec));
  }
}
