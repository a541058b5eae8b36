/**
 * Node ablation for circuit pruning (asm/kernels/ablate.ts; docs/method.md §4): right after a node
 * location's AbsTopK, each channel c (one node, shared by every token) becomes
 * x̃ = m[c]·x + (1 − m[c])·μ[c]; the backward passes m·dout to the input and accumulates the mask
 * gradient Σ_tokens (x − μ)·dout. Also the f64 per-channel token sums the node means are made of.
 */
import type { ComputeBackend } from "../backend.ts";
import { checkBuffers, checkDims } from "./layer_args.ts";

export interface AblateForwardArgs {
  /** x [C,N]: replaced in place by m·x + (1 − m)·μ. */
  x: number;
  /** raw [C,N]: receives x as it was (the backward needs it); 0 = keep no copy. */
  raw: number;
  /** m [C]: mask per channel (1 keeps the node, 0 ablates it). */
  m: number;
  /** μ [C]: the value of an ablated node; 0 = zero ablation. */
  mean: number;
  C: number;
  N: number;
}

/** Ablates the channels of x [C,N] in place, keeping the original in raw. */
export function ablateForward(be: ComputeBackend, a: AblateForwardArgs): void {
  const { C, N } = a;
  const shapes = `x [C=${C}, N=${N}]`;
  checkDims("ablate_forward", shapes, { C, N });
  checkBuffers(be, "ablate_forward", shapes, {
    x: [a.x, 4 * C * N],
    ...(a.raw ? { raw: [a.raw, 4 * C * N] as [number, number] } : {}),
    m: [a.m, 4 * C],
    ...(a.mean ? { mean: [a.mean, 4 * C] as [number, number] } : {}),
  });
  be.run("ablate_forward", [a.x, a.raw, a.m, a.mean, C, N], 3 * C * N);
}

export interface AblateBackwardArgs {
  /** dinp [C,N] = m·dout (may be dout itself). */
  dinp: number;
  /** dm [C] += Σ_n (raw − μ)·dout. */
  dm: number;
  dout: number;
  raw: number;
  m: number;
  /** μ [C], or 0 for zero ablation. */
  mean: number;
  C: number;
  N: number;
}

/** Gradient of ablateForward: to its input (overwrites dinp) and to the mask (accumulates dm). */
export function ablateBackward(be: ComputeBackend, a: AblateBackwardArgs): void {
  const { C, N } = a;
  const shapes = `dout [C=${C}, N=${N}]`;
  checkDims("ablate_backward", shapes, { C, N });
  checkBuffers(be, "ablate_backward", shapes, {
    dinp: [a.dinp, 4 * C * N],
    dm: [a.dm, 4 * C],
    dout: [a.dout, 4 * C * N],
    raw: [a.raw, 4 * C * N],
    m: [a.m, 4 * C],
    ...(a.mean ? { mean: [a.mean, 4 * C] as [number, number] } : {}),
  });
  be.run("ablate_backward", [a.dinp, a.dm, a.dout, a.raw, a.m, a.mean, C, N], 4 * C * N);
}

/** acc [C] (f64, 8-byte entries) += Σ_n x[c,n] over the N tokens of x [C,N], in token order. */
export function rowSumF64(
  be: ComputeBackend,
  a: { acc: number; x: number; C: number; N: number },
): void {
  const { C, N } = a;
  const shapes = `x [C=${C}, N=${N}]`;
  checkDims("row_sum_f64", shapes, { C, N });
  checkBuffers(be, "row_sum_f64", shapes, {
    acc: [a.acc, 8 * C, 8],
    x: [a.x, 4 * C * N],
  });
  be.run("row_sum_f64", [a.acc, a.x, C, N], C * N);
}
