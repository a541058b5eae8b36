// SIMD (f32x4) transcendental and lane helpers shared by the layer kernels; inlined, never exported.
//
// exp_f32x4 is the Cephes expf scheme: n = round(x·log2 e), r = x − n·ln2 (ln2 split in two so
// n·ln2_hi is exact), e^r by a degree-6 polynomial, then 2^n through the exponent bits. Relative
// error ≤ ~1.5 ulp for x in [-87.3, 88.3]; below, results flush to 0 (no denormals); above 88.37
// they are +inf. Every caller here passes x ≤ 0.

const LOG2E: f32 = 1.44269504088896341;
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const EXP_HI: f32 = 88.72283935546875;
const EXP_LO: f32 = -88.0;

// Rounding to an integer by adding 1.5·2^23: the sum's low mantissa bits then hold n itself
// (f32x4.nearest and i32x4.trunc_sat are slow multi-instruction sequences in V8 on x64). pmin/pmax
// are single instructions; min/max (NaN and ±0 rules) are not.
const ROUND_MAGIC: f32 = 12582912.0;
const MAGIC_BITS_MINUS_BIAS: i32 = 0x4b400000 - 127;

// V8 on x64 builds every v128.const where it is used (a 64-bit immediate move, a move to xmm and a
// shuffle, per use, inside the loop), so a polynomial spends more instructions on its constants
// than on its arithmetic. A load of the constant from memory is one instruction: kernels keep
// their splatted constants in a table like EXP_K and read them with splat_at (≈1.2× on GELU).
/** The 16 bytes at table + 16·i (a splatted constant of a memory.data table). */
@inline export function splat_at(table: usize, i: i32): v128 {
  return v128.load(table + (<usize>i << 4));
}

const ABS_MASK = memory.data<i32>([0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff]);

/** 0x7fffffff in every lane: v & abs_mask() clears the sign bits (|x| as bits). */
@inline export function abs_mask(): v128 {
  return v128.load(ABS_MASK);
}

// Subnormal floats make every x86 multiply that touches them ~100× slower, and WebAssembly cannot
// set flush-to-zero: kernels whose outputs feed later products write such values as 0.
const FLT_MIN: f32 = 1.17549435e-38;

/** v with every subnormal lane (|v| < FLT_MIN, v ≠ 0) replaced by 0. */
@inline export function flush_subnormal_f32x4(v: v128): v128 {
  return v128.andnot(v, f32x4.lt(f32x4.abs(v), splat_at(EXP_K, K_FLT_MIN)));
}

/** v, or 0 when it is subnormal. */
@inline export function flush_subnormal_f32(v: f32): f32 {
  return Mathf.abs(v) < FLT_MIN ? 0 : v;
}

const P0: f32 = 1.9875691500e-4, P1: f32 = 1.3981999507e-3, P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2, P4: f32 = 1.6666665459e-1, P5: f32 = 5.0000001201e-1;

// exp's constants, splatted (splat_at(EXP_K, K_…)); the last row is MAGIC_BITS_MINUS_BIAS.
const EXP_K = memory.data<f32>([
  EXP_HI, EXP_HI, EXP_HI, EXP_HI,
  EXP_LO, EXP_LO, EXP_LO, EXP_LO,
  LOG2E, LOG2E, LOG2E, LOG2E,
  ROUND_MAGIC, ROUND_MAGIC, ROUND_MAGIC, ROUND_MAGIC,
  LN2_HI, LN2_HI, LN2_HI, LN2_HI,
  LN2_LO, LN2_LO, LN2_LO, LN2_LO,
  P0, P0, P0, P0,
  P1, P1, P1, P1,
  P2, P2, P2, P2,
  P3, P3, P3, P3,
  P4, P4, P4, P4,
  P5, P5, P5, P5,
  1, 1, 1, 1,
  FLT_MIN, FLT_MIN, FLT_MIN, FLT_MIN,
]);
const K_HI = 0, K_LO = 1, K_LOG2E = 2, K_MAGIC = 3, K_LN2_HI = 4, K_LN2_LO = 5, K_P0 = 6;
const K_ONE = 12, K_FLT_MIN = 13;
const MAGIC_BIAS = memory.data<i32>([
  MAGIC_BITS_MINUS_BIAS, MAGIC_BITS_MINUS_BIAS, MAGIC_BITS_MINUS_BIAS, MAGIC_BITS_MINUS_BIAS,
]);

/** 2^n · e^r, with n = m − 1.5·2^23 (m the rounding sum) and |r| ≲ ln2/2 (the Cephes polynomial). */
@inline function exp_reduced(m: v128, r: v128): v128 {
  let p = splat_at(EXP_K, K_P0);
  p = f32x4.add(f32x4.mul(p, r), splat_at(EXP_K, K_P0 + 1));
  p = f32x4.add(f32x4.mul(p, r), splat_at(EXP_K, K_P0 + 2));
  p = f32x4.add(f32x4.mul(p, r), splat_at(EXP_K, K_P0 + 3));
  p = f32x4.add(f32x4.mul(p, r), splat_at(EXP_K, K_P0 + 4));
  p = f32x4.add(f32x4.mul(p, r), splat_at(EXP_K, K_P0 + 5));
  p = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), splat_at(EXP_K, K_ONE));
  // 2^n as a float: n in [-127, 128]; -127 gives +0 (flush), 128 gives +inf.
  const e = i32x4.shl(i32x4.sub(m, v128.load(MAGIC_BIAS)), 23);
  return f32x4.mul(p, e);
}

/** e^x per lane (see the file comment for accuracy and range). */
@inline export function exp_f32x4(x: v128): v128 {
  x = f32x4.pmax(f32x4.pmin(x, splat_at(EXP_K, K_HI)), splat_at(EXP_K, K_LO));
  const m = f32x4.add(f32x4.mul(x, splat_at(EXP_K, K_LOG2E)), splat_at(EXP_K, K_MAGIC));
  const n = f32x4.sub(m, splat_at(EXP_K, K_MAGIC));
  let r = f32x4.sub(x, f32x4.mul(n, splat_at(EXP_K, K_LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, splat_at(EXP_K, K_LN2_LO)));
  return exp_reduced(m, r);
}

/**
 * e^(hi + lo) for an argument carried as two floats (|lo| ≲ 2): hi is reduced exactly and lo is
 * added to the small reduced argument, so the rounding of hi + lo (up to ulp(hi)/2, a relative
 * error |hi|·2^-24 in the result) never happens.
 */
@inline export function exp_hilo_f32x4(hi: v128, lo: v128): v128 {
  const x = f32x4.pmax(f32x4.pmin(f32x4.add(hi, lo), splat_at(EXP_K, K_HI)), splat_at(EXP_K, K_LO));
  const m = f32x4.add(f32x4.mul(x, splat_at(EXP_K, K_LOG2E)), splat_at(EXP_K, K_MAGIC));
  const n = f32x4.sub(m, splat_at(EXP_K, K_MAGIC));
  let r = f32x4.add(f32x4.sub(hi, f32x4.mul(n, splat_at(EXP_K, K_LN2_HI))), lo);
  r = f32x4.sub(r, f32x4.mul(n, splat_at(EXP_K, K_LN2_LO)));
  return exp_reduced(m, r);
}

/** Loads `r` (1..4) consecutive floats at p into the low lanes; the other lanes are 0. */
@inline export function load_f32x4_partial(p: usize, r: i32): v128 {
  if (r >= 4) return v128.load(p);
  let v = f32x4.splat(0);
  v = f32x4.replace_lane(v, 0, load<f32>(p));
  if (r > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (r > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Stores the low `r` (1..4) lanes of v at p. */
@inline export function store_f32x4_partial(p: usize, v: v128, r: i32): void {
  if (r >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (r > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (r > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** Loads `r` (1..4) consecutive i32 at p into the low lanes; the other lanes are `fill`. */
@inline export function load_i32x4_partial(p: usize, r: i32, fill: i32): v128 {
  if (r >= 4) return v128.load(p);
  let v = i32x4.splat(fill);
  v = i32x4.replace_lane(v, 0, load<i32>(p));
  if (r > 1) v = i32x4.replace_lane(v, 1, load<i32>(p, 4));
  if (r > 2) v = i32x4.replace_lane(v, 2, load<i32>(p, 8));
  return v;
}

/** Lane j (0..3, a run-time index) of an f32x4. */
@inline export function lane_f32(v: v128, j: i32): f32 {
  return j == 0 ? f32x4.extract_lane(v, 0) : j == 1 ? f32x4.extract_lane(v, 1) : j == 2 ? f32x4.extract_lane(v, 2) : f32x4.extract_lane(v, 3);
}

/** v with lane j (0..3, a run-time index) set to x. */
@inline export function with_lane_i32(v: v128, j: i32, x: i32): v128 {
  return j == 0 ? i32x4.replace_lane(v, 0, x) : j == 1 ? i32x4.replace_lane(v, 1, x) : j == 2 ? i32x4.replace_lane(v, 2, x) : i32x4.replace_lane(v, 3, x);
}

/** p[0..n) = 0 for n floats (a loop: the build does not enable bulk-memory instructions). */
@inline export function zero_f32(p: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(p + (<usize>i << 2), i32x4.splat(0));
  for (; i < n; i++) store<f32>(p + (<usize>i << 2), 0);
}

// musl's exp2f_data table (AssemblyScript's std/assembly/util/math.ts, EXP2F_DATA_TAB): entry i
// is the bits of 2^(i/32) minus i << 47, so adding k << 47 gives 2^(k/32) for any integer k.
const EXP2F_TAB = memory.data<u64>([
  0x3FF0000000000000, 0x3FEFD9B0D3158574, 0x3FEFB5586CF9890F, 0x3FEF9301D0125B51,
  0x3FEF72B83C7D517B, 0x3FEF54873168B9AA, 0x3FEF387A6E756238, 0x3FEF1E9DF51FDEE1,
  0x3FEF06FE0A31B715, 0x3FEEF1A7373AA9CB, 0x3FEEDEA64C123422, 0x3FEECE086061892D,
  0x3FEEBFDAD5362A27, 0x3FEEB42B569D4F82, 0x3FEEAB07DD485429, 0x3FEEA47EB03A5585,
  0x3FEEA09E667F3BCD, 0x3FEE9F75E8EC5F74, 0x3FEEA11473EB0187, 0x3FEEA589994CCE13,
  0x3FEEACE5422AA0DB, 0x3FEEB737B0CDC5E5, 0x3FEEC49182A3F090, 0x3FEED503B23E255D,
  0x3FEEE89F995AD3AD, 0x3FEEFF76F2FB5E47, 0x3FEF199BDD85529C, 0x3FEF3720DCEF9069,
  0x3FEF5818DCFBA487, 0x3FEF7C97337B9B5F, 0x3FEFA4AFA2A490DA, 0x3FEFD0765B6E4540,
]);

// expf_lut's f64 constants (shift 0x1.8p52, 32/ln2, the cubic's C0..C2 and 1), splatted; the
// decimals are the shortest that round-trip musl's hex values 0x1.71547652b82fep0 etc. exactly.
const MUSL_SHIFT: f64 = 6755399441055744.0;
const MUSL_INV_LN2_N: f64 = 1.4426950408889634 * 32;
const MUSL_C0: f64 = 0.05550361559341535 / 32 / 32 / 32;
const MUSL_C1: f64 = 0.2402284522445722 / 32 / 32;
const MUSL_C2: f64 = 0.6931471806916203 / 32;
const MUSL_K = memory.data<f64>([
  MUSL_SHIFT, MUSL_SHIFT, MUSL_INV_LN2_N, MUSL_INV_LN2_N, MUSL_C0, MUSL_C0, MUSL_C1, MUSL_C1,
  MUSL_C2, MUSL_C2, 1, 1,
]);

/** Mathf.exp's main path (expf_lut) on two f64 lanes; see musl_expf_f32x4. */
@inline function musl_expf_f64x2(x: v128): v128 {
  const shift = splat_at(MUSL_K, 0);
  const z = f64x2.mul(splat_at(MUSL_K, 1), x);
  const kd = f64x2.add(z, shift);
  const r = f64x2.sub(z, f64x2.sub(kd, shift));
  const i0 = <usize>(i64x2.extract_lane(kd, 0) & 31), i1 = <usize>(i64x2.extract_lane(kd, 1) & 31);
  let t = i64x2.splat(load<u64>(EXP2F_TAB + (i0 << 3)));
  t = i64x2.replace_lane(t, 1, load<u64>(EXP2F_TAB + (i1 << 3)));
  const s = i64x2.add(t, i64x2.shl(kd, 47));
  const zz = f64x2.add(f64x2.mul(splat_at(MUSL_K, 2), r), splat_at(MUSL_K, 3));
  let y = f64x2.add(f64x2.mul(splat_at(MUSL_K, 4), r), splat_at(MUSL_K, 5));
  y = f64x2.add(y, f64x2.mul(zz, f64x2.mul(r, r)));
  return f64x2.mul(y, s);
}

/**
 * e^x per lane, bit for bit what Mathf.exp (AssemblyScript's port of musl expf: a 32-entry table
 * and a cubic in f64) returns, for |x| < 88 (its special-case branches are not taken there).
 * Lanes outside that range or NaN give unspecified values: callers mask or avoid them.
 */
@inline export function musl_expf_f32x4(x: v128): v128 {
  const lo = f32x4.demote_f64x2_zero(musl_expf_f64x2(f64x2.promote_low_f32x4(x)));
  const hi = f32x4.demote_f64x2_zero(
    musl_expf_f64x2(f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 2, 3))),
  );
  return v128.shuffle<f32>(lo, hi, 0, 1, 4, 5);
}

// Lane compaction with i8x16.swizzle: for a 4-bit lane mask m (i32x4.bitmask), LEFT_PACK + 16m
// moves the selected lanes, in order, to the low lanes; EXPAND + 16m is its inverse, putting
// packed lane k back at the k-th selected lane. Indices 0x80 give 0.
const LEFT_PACK = memory.data<u8>([
  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x04, 0x05, 0x06, 0x07, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x08, 0x09, 0x0a, 0x0b, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x80, 0x80, 0x80, 0x80,
  0x0c, 0x0d, 0x0e, 0x0f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x0c, 0x0d, 0x0e, 0x0f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x04, 0x05, 0x06, 0x07, 0x0c, 0x0d, 0x0e, 0x0f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0c, 0x0d, 0x0e, 0x0f, 0x80, 0x80, 0x80, 0x80,
  0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x80, 0x80, 0x80, 0x80,
  0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
]);
const EXPAND = memory.data<u8>([
  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02, 0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02, 0x03, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x80, 0x80, 0x80, 0x80, 0x04, 0x05, 0x06, 0x07, 0x80, 0x80, 0x80, 0x80,
  0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x80, 0x80, 0x80, 0x80,
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x80, 0x80, 0x80, 0x80,
  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02, 0x03,
  0x00, 0x01, 0x02, 0x03, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x04, 0x05, 0x06, 0x07,
  0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02, 0x03, 0x80, 0x80, 0x80, 0x80, 0x04, 0x05, 0x06, 0x07,
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x80, 0x80, 0x80, 0x80, 0x08, 0x09, 0x0a, 0x0b,
  0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
  0x00, 0x01, 0x02, 0x03, 0x80, 0x80, 0x80, 0x80, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
  0x80, 0x80, 0x80, 0x80, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
]);

/** The lanes of v selected by the 4-bit mask m, moved to the low lanes in order (rest 0). */
@inline export function left_pack_f32x4(v: v128, m: i32): v128 {
  return i8x16.swizzle(v, v128.load(LEFT_PACK + (<usize>m << 4)));
}

/** Inverse of left_pack_f32x4: packed lane k of v to the k-th lane selected by m (rest 0). */
@inline export function expand_f32x4(v: v128, m: i32): v128 {
  return i8x16.swizzle(v, v128.load(EXPAND + (<usize>m << 4)));
}
