/**
 * Scalar reference for src/backend/ops/gelu.ts (the test oracle): exact GELU in float64 with an
 * erf accurate to ~1e-14, rounded to f32 at the end. The kernel (f32, musl's erff) agrees to a
 * few ulp; tests compare with a tolerance.
 */

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** erfc(x) for x ≥ 0: Taylor series of erf below 2.5, a continued fraction above. */
function erfcPos(x: number): number {
  if (x < 2.5) {
    // erf(x) = 2/√π Σ (−1)^k x^(2k+1) / (k!·(2k+1))
    let term = x, sum = x;
    for (let k = 1; k < 80; k++) {
      term *= -x * x / k;
      sum += term / (2 * k + 1);
    }
    return 1 - TWO_OVER_SQRT_PI * sum;
  }
  // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …))))
  let t = x;
  for (let k = 120; k >= 1; k--) t = x + (k / 2) / t;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * t);
}

/**
 * From |x| = 9 on, erfc(|x|/√2) and the pdf (< 1e-18) are exactly 0, as in the kernel, which
 * keeps such tiny activations from making subnormal products later.
 */
export const GELU_FLUSH = 9;

/** 1 + erf(x/√2), float64. */
export function phi2(x: number): number {
  const e = Math.abs(x) >= GELU_FLUSH ? 0 : erfcPos(Math.abs(x) / Math.SQRT2);
  return x < 0 ? e : 2 - e;
}

/** gelu(x) = 0.5·x·(1 + erf(x/√2)), float64. */
export function gelu(x: number): number {
  return 0.5 * x * phi2(x);
}

/** gelu'(x) = 0.5·(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π), float64. */
export function geluGrad(x: number): number {
  const pdf = Math.abs(x) >= GELU_FLUSH ? 0 : Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  return 0.5 * phi2(x) + x * pdf;
}

/** out[i] = gelu(inp[i]). */
export function geluForward(a: { out: Float32Array; inp: Float32Array; n: number }): void {
  for (let i = 0; i < a.n; i++) a.out[i] = gelu(a.inp[i]);
}

/** dinp[i] += dout[i]·gelu'(inp[i]). */
export function geluBackward(
  a: { dinp: Float32Array; dout: Float32Array; inp: Float32Array; n: number },
): void {
  for (let i = 0; i < a.n; i++) a.dinp[i] = a.dinp[i] + a.dout[i] * geluGrad(a.inp[i]);
}

/**
 * dinp[i] = d·gelu'(inp[i]) with d = dout[i], or with a mask d = dout[i] where mask[i] ≠ 0 and 0
 * elsewhere: geluBackward into a zero-filled dinp, after AbsTopK's backward when masked; d = ±0
 * gives +0 whatever inp[i] is.
 */
export function geluBackwardWrite(
  a: { dinp: Float32Array; dout: Float32Array; inp: Float32Array; n: number; mask?: Uint8Array },
): void {
  const d = a.dout.slice(0, a.n);
  if (a.mask) { for (let i = 0; i < a.n; i++) d[i] = a.mask[i] ? Math.fround(0 + d[i]) : 0; }
  a.dinp.fill(0, 0, a.n);
  geluBackward({ dinp: a.dinp, dout: d, inp: a.inp, n: a.n });
  // d = ±0 gives +0 (what it gives for finite x; gelu' at ±∞ is 1 or 0, not the formula's NaN).
  for (let i = 0; i < a.n; i++) if (d[i] === 0) a.dinp[i] = 0;
}
