/**
 * Exact (erf) GELU, elementwise (asm/kernels/gelu.ts): gelu(x) = 0.5·x·(1 + erf(x/√2)), with erf
 * computed in the module (musl's erff for |x| < 1.19, a fitted erfc tail beyond; ≤ 2 ulp above
 * x = −1.19, ≤ 6 ulp in the negative tail).
 */
import type { U8Ptr } from "../arena.ts";
import type { ComputeBackend } from "../backend.ts";
import { KernelError } from "../../errors.ts";
import { checkBuffers, checkDims, withScratch } from "./layer_args.ts";

/** Runs a GELU kernel with its per-thread scratch (gelu_scratch_bytes each). */
function run(be: ComputeBackend, kernel: string, args: number[], work: number): void {
  const bytes = be.run("gelu_scratch_bytes", [], 0) * be.threads;
  withScratch(be, bytes, (scratch) => be.run(kernel, [...args, scratch], work));
}

/**
 * out[i] = gelu(inp[i]), i < n (out may be inp). With `phi` ([n] f32, overlapping neither), also
 * phi[i] = 1 + erf(inp[i]/√2), which geluBackwardWrite then reads instead of evaluating again.
 */
export function geluForward(
  be: ComputeBackend,
  a: { out: number; inp: number; n: number; phi?: number },
): void {
  const kernel = a.phi === undefined ? "gelu_forward" : "gelu_forward_phi";
  const shapes = `n=${a.n}`;
  checkDims(kernel, shapes, { n: a.n }, 0);
  checkBuffers(be, kernel, shapes, {
    out: [a.out, 4 * a.n],
    inp: [a.inp, 4 * a.n],
    ...(a.phi !== undefined ? { phi: [a.phi, 4 * a.n] as [number, number] } : {}),
  });
  if (a.phi !== undefined) {
    const bytes = 4 * a.n, p = a.phi;
    for (const [name, q] of [["out", a.out], ["inp", a.inp]] as const) {
      if (p < q + bytes && q < p + bytes) {
        throw new KernelError(kernel, `phi overlaps ${name} (${shapes})`);
      }
    }
  }
  if (a.n === 0) return;
  if (a.phi === undefined) run(be, kernel, [a.out, a.inp, a.n], 30 * a.n);
  else run(be, kernel, [a.out, a.phi, a.inp, a.n], 30 * a.n);
}

/**
 * dinp[i] = dout[i]·gelu'(inp[i]), i < n: bit for bit what a zero-filled dinp gets from
 * geluBackward, without the fill. With `mask` (u8 [n], AbsTopK's mask of the GELU output), dout
 * is first taken through AbsTopK's backward (0 where the mask is 0), as absTopKBackward into a
 * zero-filled buffer would leave it: one pass instead of fill, absTopKBackward, fill,
 * geluBackward. With `phi` (geluForward's, for this inp), 1 + erf(x/√2) is read, not evaluated:
 * the same bits at about half the cost. dinp may be dout.
 */
export function geluBackwardWrite(
  be: ComputeBackend,
  a: { dinp: number; dout: number; inp: number; n: number; mask?: U8Ptr; phi?: number },
): void {
  const kernel = a.phi === undefined ? "gelu_backward_write" : "gelu_backward_write_phi";
  const shapes = `n=${a.n}`;
  checkDims(kernel, shapes, { n: a.n }, 0);
  checkBuffers(be, kernel, shapes, {
    dinp: [a.dinp, 4 * a.n],
    dout: [a.dout, 4 * a.n],
    inp: [a.inp, 4 * a.n],
    ...(a.mask !== undefined ? { mask: [a.mask, a.n, 1] as [number, number, number] } : {}),
    ...(a.phi !== undefined ? { phi: [a.phi, 4 * a.n] as [number, number] } : {}),
  });
  if (a.n === 0) return;
  const mask = a.mask ?? 0;
  if (a.phi === undefined) run(be, kernel, [a.dinp, a.dout, mask, a.inp, a.n], 40 * a.n);
  else be.run(kernel, [a.dinp, a.dout, mask, a.inp, a.phi, a.n], 20 * a.n);
}

/** dinp[i] += dout[i]·gelu'(inp[i]), i < n. */
export function geluBackward(
  be: ComputeBackend,
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
