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

// musl's expf (AssemblyScript's Mathf.exp, std/assembly/util/math.ts expf_lut), step by step in
// float64 as it computes: k = round(x·32/ln2), e^x = 2^(k/32)·p(r) with 2^(k/32) from a table.
const EXP2F_TAB = new BigUint64Array([
  0x3FF0000000000000n,
  0x3FEFD9B0D3158574n,
  0x3FEFB5586CF9890Fn,
  0x3FEF9301D0125B51n,
  0x3FEF72B83C7D517Bn,
  0x3FEF54873168B9AAn,
  0x3FEF387A6E756238n,
  0x3FEF1E9DF51FDEE1n,
  0x3FEF06FE0A31B715n,
  0x3FEEF1A7373AA9CBn,
  0x3FEEDEA64C123422n,
  0x3FEECE086061892Dn,
  0x3FEEBFDAD5362A27n,
  0x3FEEB42B569D4F82n,
  0x3FEEAB07DD485429n,
  0x3FEEA47EB03A5585n,
  0x3FEEA09E667F3BCDn,
  0x3FEE9F75E8EC5F74n,
  0x3FEEA11473EB0187n,
  0x3FEEA589994CCE13n,
  0x3FEEACE5422AA0DBn,
  0x3FEEB737B0CDC5E5n,
  0x3FEEC49182A3F090n,
  0x3FEED503B23E255Dn,
  0x3FEEE89F995AD3ADn,
  0x3FEEFF76F2FB5E47n,
  0x3FEF199BDD85529Cn,
  0x3FEF3720DCEF9069n,
  0x3FEF5818DCFBA487n,
  0x3FEF7C97337B9B5Fn,
  0x3FEFA4AFA2A490DAn,
  0x3FEFD0765B6E4540n,
]);
const f64 = new Float64Array(1), u64 = new BigUint64Array(f64.buffer);
const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
const fromBits = (b: bigint) => (u64[0] = b, f64[0]);
const bitsOf = (x: number) => (f64[0] = x, u64[0]);
const SHIFT = fromBits(0x4338000000000000n);
const INV_LN2_N = fromBits(0x3FF71547652B82FEn) * 32;
const C0 = fromBits(0x3FAC6AF84B912394n) / 32 / 32 / 32;
const C1 = fromBits(0x3FCEBFCE50FAC4F3n) / 32 / 32;
const C2 = fromBits(0x3FE62E42FF0C52D6n) / 32;

/** e^x for an f32 x, the bits musl's expf (Mathf.exp in the kernels) returns. */
export function expf(x: number): number {
  x = Math.fround(x);
  f32[0] = x;
  const ix = u32[0];
  if (((ix >>> 20) & 0x7ff) >= 0x42b) {
    if (ix === 0xff800000) return 0;
    if (((ix >>> 20) & 0x7ff) >= 0x7f8) return x + x;
    if (x > 88.72283172607422) return Infinity;
    if (x < -103.97207641601562) return 0;
  }
  const z = INV_LN2_N * x;
  const kd = z + SHIFT;
  const ki = bitsOf(kd);
  const r = z - (kd - SHIFT);
  const s = fromBits((EXP2F_TAB[Number(ki & 31n)] + (ki << 47n)) & 0xffffffffffffffffn);
  const zz = C0 * r + C1;
  let y = C2 * r + 1;
  y += zz * (r * r);
  return Math.fround(y * s);
}

/** out = e^inp, elementwise (expf). */
export function exp(p: { out: Float32Array; inp: Float32Array; n: number }): void {
  for (let i = 0; i < p.n; i++) p.out[i] = expf(p.inp[i]);
}
