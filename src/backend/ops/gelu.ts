/**
 * Exact (erf) GELU, elementwise (asm/kernels/gelu.ts): gelu(x) = 0.5·x·(1 + erf(x/√2)), with erf
 * computed in the module (musl's erff for |x| < 1.19, a fitted erfc tail beyond; ≤ 2 ulp above
 * x = −1.19, ≤ 6 ulp in the negative tail).
 */
import type { Backend } from "../backend.ts";
import { checkBuffers, checkDims, withScratch } from "./layer_args.ts";

/** Runs a GELU kernel with its per-thread scratch (gelu_scratch_bytes each). */
function run(be: Backend, kernel: string, args: number[], work: number): void {
  const bytes = be.run("gelu_scratch_bytes", [], 0) * be.threads;
  withScratch(be, bytes, (scratch) => be.run(kernel, [...args, scratch], work));
}

/** out[i] = gelu(inp[i]), i < n (out may be inp). */
export function geluForward(be: Backend, a: { out: number; inp: number; n: number }): void {
  const shapes = `n=${a.n}`;
  checkDims("gelu_forward", shapes, { n: a.n }, 0);
  checkBuffers(be, "gelu_forward", shapes, { out: [a.out, 4 * a.n], inp: [a.inp, 4 * a.n] });
  if (a.n > 0) run(be, "gelu_forward", [a.out, a.inp, a.n], 30 * a.n);
}

/**
 * dinp[i] = dout[i]·gelu'(inp[i]), i < n: bit for bit what a zero-filled dinp gets from
 * geluBackward, without the fill. With `mask` (u8 [n], AbsTopK's mask of the GELU output), dout
 * is first taken through AbsTopK's backward (0 where the mask is 0), as absTopKBackward into a
 * zero-filled buffer would leave it: one pass instead of fill, absTopKBackward, fill,
 * geluBackward. dinp may be dout.
 */
export function geluBackwardWrite(
  be: Backend,
  a: { dinp: number; dout: number; inp: number; n: number; mask?: number },
): void {
  const shapes = `n=${a.n}`;
  checkDims("gelu_backward_write", shapes, { n: a.n }, 0);
  checkBuffers(be, "gelu_backward_write", shapes, {
    dinp: [a.dinp, 4 * a.n],
    dout: [a.dout, 4 * a.n],
    inp: [a.inp, 4 * a.n],
    ...(a.mask !== undefined ? { mask: [a.mask, a.n, 1] as [number, number, number] } : {}),
  });
  if (a.n > 0) run(be, "gelu_backward_write", [a.dinp, a.dout, a.mask ?? 0, a.inp, a.n], 40 * a.n);
}

/** dinp[i] += dout[i]·gelu'(inp[i]), i < n. */
export function geluBackward(
  be: Backend,
  a: { dinp: number; dout: number; inp: number; n: number },
): void {
  const shapes = `n=${a.n}`;
  checkDims("gelu_backward", shapes, { n: a.n }, 0);
  checkBuffers(be, "gelu_backward", shapes, {
    dinp: [a.dinp, 4 * a.n],
    dout: [a.dout, 4 * a.n],
    inp: [a.inp, 4 * a.n],
  });
  if (a.n > 0) run(be, "gelu_backward", [a.dinp, a.dout, a.inp, a.n], 40 * a.n);
}
