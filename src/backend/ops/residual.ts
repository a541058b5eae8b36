/**
 * Elementwise ops on flat f32 buffers (asm/kernels/residual.ts, fill from common.ts): the residual
 * adds, in-place scaling, copies and fills. n counts floats; pointers are byte offsets; n = 0 is a
 * no-op.
 */
import type { ComputeBackend } from "../backend.ts";
import { KernelError } from "../../errors.ts";
import { checkBuffers, checkDims, checkFinite } from "./layer_args.ts";

/** out[i] = a[i] + b[i], i < n (out may be a or b). */
export function add(be: ComputeBackend, p: { out: number; a: number; b: number; n: number }): void {
  const shapes = `n=${p.n}`;
  checkDims("add_f32", shapes, { n: p.n }, 0);
  checkBuffers(be, "add_f32", shapes, {
    out: [p.out, 4 * p.n],
    a: [p.a, 4 * p.n],
    b: [p.b, 4 * p.n],
  });
  if (p.n > 0) be.run("add_f32", [p.out, p.a, p.b, p.n], p.n);
}

/** x[i] += y[i], i < n. */
export function addInPlace(be: ComputeBackend, p: { x: number; y: number; n: number }): void {
  const shapes = `n=${p.n}`;
  checkDims("add_inplace_f32", shapes, { n: p.n }, 0);
  checkBuffers(be, "add_inplace_f32", shapes, { x: [p.x, 4 * p.n], y: [p.y, 4 * p.n] });
  if (p.n > 0) be.run("add_inplace_f32", [p.x, p.y, p.n], p.n);
}

/** x[i] *= factor (rounded to f32), i < n. */
export function scale(be: ComputeBackend, p: { x: number; n: number; factor: number }): void {
  const shapes = `n=${p.n} factor=${p.factor}`;
  checkDims("scale_f32", shapes, { n: p.n }, 0);
  checkFinite("scale_f32", shapes, { factor: p.factor });
  checkBuffers(be, "scale_f32", shapes, { x: [p.x, 4 * p.n] });
  if (p.n > 0) be.run("scale_f32", [p.x, p.n, p.factor], p.n);
}

/** dst[i] = src[i], i < n (the ranges must not overlap unless dst = src). */
export function copy(be: ComputeBackend, p: { dst: number; src: number; n: number }): void {
  const shapes = `n=${p.n}`;
  checkDims("copy_f32", shapes, { n: p.n }, 0);
  checkBuffers(be, "copy_f32", shapes, { dst: [p.dst, 4 * p.n], src: [p.src, 4 * p.n] });
  if (p.dst !== p.src && p.dst < p.src + 4 * p.n && p.src < p.dst + 4 * p.n) {
    throw new KernelError("copy_f32", `dst and src overlap (${shapes})`);
  }
  if (p.n > 0) be.run("copy_f32", [p.dst, p.src, p.n], p.n);
}

/** x[i] = value (rounded to f32), i < n. */
export function fill(be: ComputeBackend, p: { x: number; n: number; value: number }): void {
  const shapes = `n=${p.n} value=${p.value}`;
  checkDims("fill_f32", shapes, { n: p.n }, 0);
  if (typeof p.value !== "number") {
    throw new KernelError("fill_f32", `value must be a number (${shapes})`);
  }
  checkBuffers(be, "fill_f32", shapes, { x: [p.x, 4 * p.n] });
  if (p.n > 0) be.run("fill_f32", [p.x, p.n, p.value], p.n);
}

/** out[i] = e^inp[i], i < n, with the kernels' exp (Mathf.exp's bits); out may be inp. */
export function exp(be: ComputeBackend, p: { out: number; inp: number; n: number }): void {
  const shapes = `n=${p.n}`;
  checkDims("exp_f32", shapes, { n: p.n }, 0);
  checkBuffers(be, "exp_f32", shapes, { out: [p.out, 4 * p.n], inp: [p.inp, 4 * p.n] });
  if (p.n > 0) be.run("exp_f32", [p.out, p.inp, p.n], 20 * p.n);
}
