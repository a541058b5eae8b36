/**
 * AbsTopK activation sparsity (asm/kernels/abstopk.ts; PAPER §1): per token, keep the k entries
 * of largest |x| among its C channels and zero the rest; ties go to the lower channel. The mask
 * (u8 [C,N], 1 = kept) carries the choice to the backward. k ≥ C keeps everything, k = 0 nothing.
 */
import type { Backend } from "../backend.ts";
import { checkBuffers, checkDims, withScratch } from "./layer_args.ts";

/** out [C,N] = inp with each token's C − k smallest-|x| entries zeroed; mask [C,N] u8. out may be inp. */
export function absTopKForward(
  be: Backend,
  a: { out: number; mask: number; inp: number; C: number; N: number; k: number },
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
  const perThread = be.run("abstopk_scratch_bytes", [C], 0);
  withScratch(be, perThread * be.threads, (scratch) => {
    be.run("abstopk_forward", [a.out, a.mask, a.inp, C, N, k, scratch], 8 * C * N);
  });
}

/** dinp [C,N] += dout where mask is set (the gradient flows through kept entries only). */
export function absTopKBackward(
  be: Backend,
  a: { dinp: number; dout: number; mask: number; C: number; N: number },
): void {
  const { C, N } = a;
  const shapes = `dout [C=${C}, N=${N}]`;
  checkDims("abstopk_backward", shapes, { C, N });
  checkBuffers(be, "abstopk_backward", shapes, {
    dinp: [a.dinp, 4 * C * N],
    dout: [a.dout, 4 * C * N],
    mask: [a.mask, C * N, 1],
  });
  be.run("abstopk_backward", [a.dinp, a.dout, a.mask, C * N], C * N);
}
