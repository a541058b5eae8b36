/** Scalar reference for src/backend/ops/residual.ts (the test oracle); exact (one f32 op each). */
const f = Math.fround;

/** out = a + b. */
export function add(p: { out: Float32Array; a: Float32Array; b: Float32Array; n: number }): void {
  for (let i = 0; i < p.n; i++) p.out[i] = f(p.a[i] + p.b[i]);
}

/** x += y. */
export function addInPlace(p: { x: Float32Array; y: Float32Array; n: number }): void {
  for (let i = 0; i < p.n; i++) p.x[i] = f(p.x[i] + p.y[i]);
}

/** x *= factor (factor rounded to f32 first, as the kernel receives it). */
export function scale(p: { x: Float32Array; n: number; factor: number }): void {
  const s = f(p.factor);
  for (let i = 0; i < p.n; i++) p.x[i] = f(p.x[i] * s);
}

/** dst = src. */
export function copy(p: { dst: Float32Array; src: Float32Array; n: number }): void {
  for (let i = 0; i < p.n; i++) p.dst[i] = p.src[i];
}

/** x = value. */
export function fill(p: { x: Float32Array; n: number; value: number }): void {
  p.x.fill(f(p.value), 0, p.n);
}
