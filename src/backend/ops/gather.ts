/**
 * Column gathers and scatters of feature-major activations (asm/kernels/gather.ts): logits at
 * only the positions a loss reads.
 */
import type { ComputeBackend } from "../backend.ts";
import { checkBuffers, checkDims, checkIdsInRange } from "./layer_args.ts";

interface ColsArgs {
  /** Int32 [R]: columns of the [C, N] tensor, each in [0, N). */
  idx: number;
  C: number;
  N: number;
  R: number;
}

function check(
  be: ComputeBackend,
  kernel: string,
  a: ColsArgs & { out: number; inp: number },
  outCols: number,
  inCols: number,
) {
  const shapes = `C=${a.C} N=${a.N} R=${a.R}`;
  checkDims(kernel, shapes, { C: a.C, N: a.N, R: a.R });
  checkBuffers(be, kernel, shapes, {
    out: [a.out, 4 * a.C * outCols],
    inp: [a.inp, 4 * a.C * inCols],
    idx: [a.idx, 4 * a.R],
  });
  checkIdsInRange(be, kernel, shapes, "idx", a.idx, a.R, 0, a.N);
}

/** out [C, R] = inp [C, N] at columns idx. */
export function gatherCols(be: ComputeBackend, a: ColsArgs & { out: number; inp: number }): void {
  check(be, "gather_cols_f32", a, a.R, a.N);
  be.run("gather_cols_f32", [a.out, a.inp, a.idx, a.C, a.N, a.R], a.C * a.R);
}

/** out [C, N] at columns idx += inp [C, R] (in r order where columns repeat). */
export function scatterAddCols(
  be: ComputeBackend,
  a: ColsArgs & { out: number; inp: number },
): void {
  check(be, "scatter_add_cols_f32", a, a.N, a.R);
  be.run("scatter_add_cols_f32", [a.out, a.inp, a.idx, a.C, a.N, a.R], a.C * a.R);
}
