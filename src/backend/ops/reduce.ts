/**
 * Deterministic reductions of one long f32 buffer (asm/kernels/reduce.ts): Σx² in f64 over fixed
 * 8192-float blocks summed in block order (the same bits for any thread count), and the global
 * gradient RMS normalisation of docs/method.md §2.
 */
import type { ComputeBackend } from "../backend.ts";
import { checkBuffers, checkDims, deviceResult, withScratch } from "./layer_args.ts";
import { scale } from "./residual.ts";

function blockPartials<T>(
  be: ComputeBackend,
  kernel: string,
  x: number,
  n: number,
  fn: (partials: number, nb: number) => T,
): T {
  const shapes = `n=${n}`;
  checkDims(kernel, shapes, { n });
  checkBuffers(be, kernel, shapes, { x: [x, 4 * n] });
  const nb = be.run("sumsq_block_count", [n], 0);
  return withScratch(be, 8 * nb, (partials) => {
    be.run("sumsq_blocks_f64", [x, n, partials], 2 * n);
    return fn(partials, nb);
  });
}

/** Σ x[i]² over i < n, in f64 (on a GPU: f32, docs/webgpu.md). */
export function sumSquares(be: ComputeBackend, a: { x: number; n: number }): number {
  const gpu = be.forms;
  if (gpu) {
    checkDims("sum_squares", `n=${a.n}`, { n: a.n });
    return deviceResult(be, 3, (out) => gpu.sumSquares({ ...a, out })).f32[0];
  }
  return blockPartials(be, "sum_squares", a.x, a.n, (p, nb) => be.run("sum_f64", [p, nb], 0));
}

/**
 * x *= clip/‖x‖ when ‖x‖ > clip (the norm of the n floats; pruning's gradient clip). On a GPU the
 * norm and the decision stay on the device (no wait); the CPU decides on its f64 sum.
 */
export function clipByNorm(be: ComputeBackend, a: { x: number; n: number; clip: number }): void {
  const gpu = be.forms;
  if (gpu) {
    checkDims("sum_squares", `n=${a.n}`, { n: a.n });
    withScratch(be, 12, (out) => gpu.sumSquares({ x: a.x, n: a.n, out, clip: a.clip }));
    return;
  }
  const norm = Math.sqrt(sumSquares(be, a));
  if (norm > a.clip) scale(be, { x: a.x, n: a.n, factor: a.clip / norm });
}

/** grad /= rms + 1e-5 with rms = sqrt(mean grad²) over the n floats; returns rms. */
export function gradRmsNormalize(be: ComputeBackend, a: { grad: number; n: number }): number {
  if (be.forms) return gradRmsNormalizeSpans(be, [[a.grad, a.n]]);
  return blockPartials(be, "grad_rms_normalize", a.grad, a.n, (p, nb) => {
    const rms = be.run("rms_from_partials", [p, nb, a.n], 0);
    be.run("scale_by_inv_rms_f32", [a.grad, a.n, rms], a.n);
    return rms;
  });
}

/**
 * gradRmsNormalize over the union of several buffers ([ptr, floats] each) as if they were one:
 * rms = sqrt(Σ x² / Σ n), the block partials of each span in span order, then every span scaled.
 * Returns rms. (The sparse-gradient mode's gradient lives in several buffers.)
 */
export function gradRmsNormalizeSpans(
  be: ComputeBackend,
  spans: [ptr: number, n: number][],
): number {
  const kernel = "grad_rms_normalize_spans";
  let total = 0, blocks = 0;
  const first: number[] = [];
  for (const [ptr, n] of spans) {
    const shapes = `span at ${ptr}, n=${n}`;
    checkDims(kernel, shapes, { n }, 0);
    checkBuffers(be, kernel, shapes, { x: [ptr, 4 * n] });
    first.push(blocks);
    blocks += be.run("sumsq_block_count", [n], 0);
    total += n;
  }
  checkDims(kernel, `${spans.length} spans`, { n: total });
  const gpu = be.forms;
  if (gpu) return deviceResult(be, 2, (out) => gpu.gradRmsNormalizeSpans(spans, out)).f32[0];
  return withScratch(be, 8 * blocks, (partials) => {
    spans.forEach(([ptr, n], i) => {
      if (n > 0) be.run("sumsq_blocks_f64", [ptr, n, partials + 8 * first[i]], 2 * n);
    });
    const rms = be.run("rms_from_partials", [partials, blocks, total], 0);
    for (const [ptr, n] of spans) if (n > 0) be.run("scale_by_inv_rms_f32", [ptr, n, rms], n);
    return rms;
  });
}
