/**
 * Scalar reference for src/backend/ops/random.ts (the test oracle): the same splitmix64 hash of
 * (seed, stream, i) in BigInt and the same Box–Muller transform in float64. JS and the module may
 * differ in the last bit of log/cos/sin, so tests compare with a 1e-6 relative tolerance.
 */
const MASK = (1n << 64n) - 1n;
const PHI = 0x9E3779B97F4A7C15n;

function mix64(z: bigint): bigint {
  z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & MASK;
  return z ^ (z >> 31n);
}

/** x[i] = std·N(0,1) from hash(seed, stream, ⌊i/2⌋): cos for even i, sin for odd. */
export function randnFill(
  a: { x: Float32Array; n: number; seed: number; stream: number; std: number },
): void {
  const key = mix64(((BigInt(a.seed >>> 0) << 32n | BigInt(a.stream >>> 0)) + PHI) & MASK);
  for (let i = 0; i < a.n; i += 2) {
    const h = mix64((key + (BigInt(i >> 1) + 1n) * PHI) & MASK);
    const u1 = (Number(h >> 32n) + 0.5) * 2 ** -32;
    const u2 = Number(h & 0xffffffffn) * 2 ** -32;
    const r = Math.sqrt(-2 * Math.log(u1)) * a.std;
    const th = 2 * Math.PI * u2;
    a.x[i] = r * Math.cos(th);
    if (i + 1 < a.n) a.x[i + 1] = r * Math.sin(th);
  }
}
