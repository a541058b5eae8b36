/**
 * AbsTopK activation sparsity (asm/kernels/abstopk.ts; docs/method.md §1): per token, keep the k entries
 * of largest |x| among its C channels and zero the rest; ties go to the lower channel. The mask
 * (u8 [C,N], 1 = kept) carries the choice to the backward. k ≥ C keeps everything, k = 0 nothing.
 */
import type { U8Ptr } from "../arena.ts";
import type { ComputeBackend } from "../backend.ts";
import { checkBuffers, checkDims, withScratch } from "./layer_args.ts";

/** out [C,N] = inp with each token's C − k smallest-|x| entries zeroed; mask [C,N] u8. out may be inp. */
export function absTopKForward(
  be: ComputeBackend,
  a: { out: number; mask: U8Ptr; inp: number; C: number; N: number; k: number },
): void {
  const { C, N, k } = a;
  const shapes = `inp [C=${C}, N=${N}] k=${k}`;
  checkDims("abstopk_forward", shapes, { C, N });
  checkDims("abstopk_forward", shapes, { k }, 0);
  checkBuffers(be, "abstopk_forward", shapes, {
    out: [a.out, 4 * C * N],
    mask: [a.mask, C * N, 1],
    inp: [a.inp, 4 * C * N],
  });
  const perThread = be.run("abstopk_scratch_bytes", [C, N], 0);
  withScratch(be, perThread * be.threads, (scratch) => {
    be.run("abstopk_forward", [a.out, a.mask, a.inp, C, N, k, scratch], 8 * C * N);
  });
}

export interface AbsTopKBackwardArgs {
  /** dinp [C,N]: added to (absTopKBackward) or written (absTopKBackwardWrite). */
  dinp: number;
  /** dout [C,N]: the gradient of the forward's out. */
  dout: number;
  /** The forward's mask [C,N] (u8). */
  mask: U8Ptr;
  C: number;
  N: number;
}

function backward(be: ComputeBackend, kernel: string, a: AbsTopKBackwardArgs): void {
  const { C, N } = a;
  const shapes = `dout [C=${C}, N=${N}]`;
  checkDims(kernel, shapes, { C, N });
  checkBuffers(be, kernel, shapes, {
    dinp: [a.dinp, 4 * C * N],
    dout: [a.dout, 4 * C * N],
    mask: [a.mask, C * N, 1],
  });
  be.run(kernel, [a.dinp, a.dout, a.mask, C * N], C * N);
}

/** dinp [C,N] += dout where mask is set (the gradient flows through kept entries only). */
export function absTopKBackward(be: ComputeBackend, a: AbsTopKBackwardArgs): void {
  backward(be, "abstopk_backward", a);
}

/**
 * dinp [C,N] = dout where mask is set, 0 elsewhere: bit for bit what a zero-filled dinp gets from
 * absTopKBackward (−0 gradients become +0), without the fill. dinp may be dout.
 */
export function absTopKBackwardWrite(be: ComputeBackend, a: AbsTopKBackwardArgs): void {
  backward(be, "abstopk_backward_write", a);
}
