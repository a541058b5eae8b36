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

/** gradRmsNormalize over several buffers as one: block sums of each in order, one total. */
export function gradRmsNormalizeSpans(spans: Float32Array[]): number {
  let total = 0, n = 0;
  for (const x of spans) {
    for (let s = 0; s < x.length; s += BLOCK) {
      total += sumSquares({
        x: x.subarray(s, Math.min(x.length, s + BLOCK)),
        n: Math.min(BLOCK, x.length - s),
      });
    }
    n += x.length;
  }
  const rms = Math.sqrt(total / n);
  const s = Math.fround(1 / (rms + 1e-5));
  for (const x of spans) for (let i = 0; i < x.length; i++) x[i] = Math.fround(x[i] * s);
  return rms;
}
