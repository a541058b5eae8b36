/**
 * Scalar reference for src/backend/ops/reduce.ts (the test oracle), bit-exact: f64 sums in the
 * kernel's order. Blocks of 8192 floats; inside a block, lanes (i mod 4) ∈ {0,1} and {2,3} of each
 * full quad feed four running sums s0..s3, combined as (s0 + s1) + (s2 + s3), then the block's
 * last floats in order; block sums are added in block order.
 */
const BLOCK = 8192;

/** Σ x[i]² over i < n (f64). */
export function sumSquares(a: { x: Float32Array; n: number }): number {
  let total = 0;
  for (let s = 0; s < a.n; s += BLOCK) {
    const e = Math.min(a.n, s + BLOCK), e4 = s + ((e - s) & ~3);
    const lane = [0, 0, 0, 0];
    for (let i = s; i < e4; i++) lane[(i - s) % 4] += a.x[i] * a.x[i];
    let block = (lane[0] + lane[1]) + (lane[2] + lane[3]);
    for (let i = e4; i < e; i++) block += a.x[i] * a.x[i];
    total += block;
  }
  return total;
}

/** grad *= f32(1/(rms + 1e-5)), rms = sqrt(Σ grad²/n); returns rms. */
export function gradRmsNormalize(a: { grad: Float32Array; n: number }): number {
  const rms = Math.sqrt(sumSquares({ x: a.grad, n: a.n }) / a.n);
  const s = Math.fround(1 / (rms + 1e-5));
  for (let i = 0; i < a.n; i++) a.grad[i] = Math.fround(a.grad[i] * s);
  return rms;
}
