// Exact (erf) GELU, forward and backward, elementwise over n floats (docs/method.md §1, as in [OA]):
//
//   gelu(x)  = 0.5·x·(1 + erf(x/√2))
//   gelu'(x) = 0.5·(1 + erf(x/√2)) + x·exp(−x²/2)/√(2π)
//
// 1 + erf(x/√2) is computed directly, never as 1 plus erf: with a = |x|/√2 it is 1 + erf(a) for
// x ≥ 0 and erfc(a) for x < 0, so the negative tail keeps full relative precision. Two ranges:
//  - a < 0.84375: musl's erff/erfcf (fdlibm s_erf.c): erf(a) = a + a·pp(a²)/qq(a²), and
//    erfc(a) = 1 − (a + a·y) below 0.25, 0.5 − ((a − 0.5) + a·y) above;
//  - a ≥ 0.84375: erfc(a) = t·exp(−a² + P(t)), t = 1/(1 + a/2) (the form of Numerical Recipes'
//    erfcc), with P of degree 11 fitted here by reweighted least squares to ln(erfc(a)/t) + a² on
//    a ∈ [0, 10.5] (max |error| 2.7e-9, far below f32). −a² = −x²/2 is carried exactly as
//    −z²/2 + (z − |x|)(z + |x|)/2 with z = |x| cut to 11 bits, into one exp_hilo_f32x4.
// Vectorised: every entry gets only its own range's formula, the tail entries of a block packed
// into dense vectors first (see BLOCK below). Measured error: ≤ 2 ulp for x > −1.19, ≤ 6 ulp
// below (relative to the small result there); erf(x/√2) itself within 1 ulp.
import { part_start_aligned } from "./common";
import { expand_f32x4, exp_hilo_f32x4, flush_subnormal_f32x4, left_pack_f32x4, load_f32x4_partial, splat_at, store_f32x4_partial } from "./vmath";

const INV_SQRT2: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;

// musl erff.c, |x| < 0.84375: erf(x) = x + x·pp(x²)/qq(x²).
const PP0: f32 = 1.2837916613e-01, PP1: f32 = -3.2504209876e-01, PP2: f32 = -2.8481749818e-02;
const PP3: f32 = -5.7702702470e-03, PP4: f32 = -2.3763017452e-05;
const QQ1: f32 = 3.9791721106e-01, QQ2: f32 = 6.5022252500e-02, QQ3: f32 = 5.0813062117e-03;
const QQ4: f32 = 1.3249473704e-04, QQ5: f32 = -3.9602282413e-06;
// P(t) = ln(erfc(a)·(1 + a/2)) + a², t = 1/(1 + a/2): T0 + T1·t + … + T11·t^11.
const T0: f32 = -1.265540719e+00, T1: f32 = 1.000819087e+00, T2: f32 = 3.648358881e-01;
const T3: f32 = 1.550035626e-01, T4: f32 = -4.021582603e-01, T5: f32 = 7.568045855e-01;
const T6: f32 = -1.715363145e+00, T7: f32 = 1.689513683e+00, T8: f32 = -3.966340721e-01;
const T9: f32 = -4.774692059e-01, T10: f32 = 3.703292906e-01, T11: f32 = -8.014082164e-02;
// Flush: from |x| = 9 on, erfc(|x|/√2) and the pdf (both below 1e-18) become exactly 0. Left as
// they are, such tiny activations times weights or gradients make subnormal products, and
// subnormal operands slow every x86 multiply ~100× (a trained model's step was 20% slower).
const AX_MAX: f32 = 9;

const ONE: f32 = 1, HALF: f32 = 0.5, TWO: f32 = 2, ZERO: f32 = 0, MINUS_HALF: f32 = -0.5;

// Every f32 constant above, splatted, for splat_at (vmath.ts says why); K_x is x's row.
const GK = memory.data<f32>([
  PP0, PP0, PP0, PP0,
  PP1, PP1, PP1, PP1,
  PP2, PP2, PP2, PP2,
  PP3, PP3, PP3, PP3,
  PP4, PP4, PP4, PP4,
  QQ1, QQ1, QQ1, QQ1,
  QQ2, QQ2, QQ2, QQ2,
  QQ3, QQ3, QQ3, QQ3,
  QQ4, QQ4, QQ4, QQ4,
  QQ5, QQ5, QQ5, QQ5,
  T0, T0, T0, T0,
  T1, T1, T1, T1,
  T2, T2, T2, T2,
  T3, T3, T3, T3,
  T4, T4, T4, T4,
  T5, T5, T5, T5,
  T6, T6, T6, T6,
  T7, T7, T7, T7,
  T8, T8, T8, T8,
  T9, T9, T9, T9,
  T10, T10, T10, T10,
  T11, T11, T11, T11,
  INV_SQRT2, INV_SQRT2, INV_SQRT2, INV_SQRT2,
  INV_SQRT_2PI, INV_SQRT_2PI, INV_SQRT_2PI, INV_SQRT_2PI,
  AX_MAX, AX_MAX, AX_MAX, AX_MAX,
  ONE, ONE, ONE, ONE,
  HALF, HALF, HALF, HALF,
  TWO, TWO, TWO, TWO,
  ZERO, ZERO, ZERO, ZERO,
  MINUS_HALF, MINUS_HALF, MINUS_HALF, MINUS_HALF,
]);
const K_PP0 = 0, K_QQ1 = 5, K_T0 = 10, K_INV_SQRT2 = 22, K_INV_SQRT_2PI = 23, K_AX_MAX = 24;
const K_ONE = 25, K_HALF = 26,
  K_TWO = 27, K_ZERO = 28, K_MINUS_HALF = 29;

@inline function k(i: i32): v128 {
  return splat_at(GK, i);
}

/** GK[c] + s·p, the Horner step. */
@inline function fma4(p: v128, s: v128, c: i32): v128 {
  return f32x4.add(k(c), f32x4.mul(s, p));
}

/** −x²/2 as hi + lo: hi exact (|x| cut to 11 bits, squared), lo the small remainder. */
@inline function half_square_hi(ax: v128): v128 {
  const z = v128.and(ax, i32x4.splat(0xffffe000));
  return f32x4.mul(f32x4.mul(k(K_MINUS_HALF), z), z);
}
@inline function half_square_lo(ax: v128): v128 {
  const z = v128.and(ax, i32x4.splat(0xffffe000));
  return f32x4.mul(f32x4.mul(k(K_HALF), f32x4.sub(z, ax)), f32x4.add(z, ax));
}

// 1 + erf(x/√2), the two ranges as separate lane-wise functions (each valid on its own lanes).

/** Lanes with a = |x|/√2 ≥ 0.84375 (the erfc-tail range), by the bits of a as musl tests them. */
@inline function tail_lanes(x: v128): v128 {
  return i32x4.ge_s(f32x4.mul(f32x4.abs(x), k(K_INV_SQRT2)), i32x4.splat(0x3f580000));
}

/** 1 + erf(x/√2) for lanes with a < 0.84375 (musl's rational form). */
@inline function phi2_small(x: v128): v128 {
  const a = f32x4.mul(f32x4.abs(x), k(K_INV_SQRT2));
  const neg = f32x4.lt(x, k(K_ZERO));
  const one = k(K_ONE);
  const z = f32x4.mul(a, a);
  const r = fma4(fma4(fma4(fma4(k(K_PP0 + 4), z, K_PP0 + 3), z, K_PP0 + 2), z, K_PP0 + 1), z, K_PP0);
  const q = K_QQ1;
  const s = fma4(fma4(fma4(fma4(fma4(k(q + 4), z, q + 3), z, q + 2), z, q + 1), z, q), z, K_ONE);
  const ay = f32x4.mul(a, f32x4.div(r, s));
  const pos = f32x4.add(one, f32x4.add(a, ay));
  const tiny = i32x4.lt_s(a, i32x4.splat(0x3e800000)); // a < 0.25
  const nv = v128.bitselect(
    f32x4.sub(one, f32x4.add(a, ay)),
    f32x4.sub(k(K_HALF), f32x4.add(f32x4.sub(a, k(K_HALF)), ay)),
    tiny,
  );
  return v128.bitselect(nv, pos, neg);
}

/** 1 + erf(x/√2) for lanes with a ≥ 0.84375 (the fitted erfc tail). */
@inline function phi2_tail(x: v128): v128 {
  const ax = f32x4.abs(x);
  const neg = f32x4.lt(x, k(K_ZERO));
  const one = k(K_ONE);
  const axc = f32x4.pmin(ax, k(K_AX_MAX));
  const t = f32x4.div(one, f32x4.add(one, f32x4.mul(k(K_HALF), f32x4.mul(axc, k(K_INV_SQRT2)))));
  const c = K_T0;
  let P = fma4(fma4(fma4(fma4(fma4(k(c + 11), t, c + 10), t, c + 9), t, c + 8), t, c + 7), t, c + 6);
  P = fma4(fma4(fma4(fma4(fma4(fma4(P, t, c + 5), t, c + 4), t, c + 3), t, c + 2), t, c + 1), t, c);
  const tail = f32x4.mul(t, exp_hilo_f32x4(half_square_hi(axc), f32x4.add(half_square_lo(axc), P)));
  const erfc = v128.andnot(tail, f32x4.ge(ax, k(K_AX_MAX)));
  return v128.bitselect(erfc, f32x4.sub(k(K_TWO), erfc), neg);
}

// Most vectors mix the two ranges (pre-activations of a trained model: ~70% of entries in the
// small one), and evaluating both for every vector wasted most of the tail's cost. So each block
// of BLOCK entries is first scanned for tail entries; a block without any is done in one pass of
// phi2_small. Otherwise it goes in three passes, every entry still getting its own range's formula:
//  1. per vector, phi2_small into P (skipped for all-tail vectors), and its tail lanes packed, in
//     order, into the list L (left_pack_f32x4);
//  2. phi2_tail over L, dense, two vectors at a time (its long Horner chains interleave);
//  3. per vector, the tail lanes unpacked from L (expand_f32x4) over P's, then the output.
// Nothing is written before pass 3 reads its inputs, so out may alias inp. The passes have no
// branches on the data within a block (a mixed block's lanes are random). Scratch per thread:
// P (4·BLOCK bytes) and L (4·BLOCK + 16).
const BLOCK: i32 = 1024;

/** Bytes of scratch one thread needs for the GELU kernels (callers allocate nth×). */
export function gelu_scratch_bytes(tid: i32, nth: i32): i32 {
  return 8 * BLOCK + 32;
}

/** True when some entry of inp[b, e) is in the tail range. */
@inline function has_tail(inp: usize, b: i32, e: i32): bool {
  let any = i32x4.splat(0);
  for (let i = b; i < e; i += 4) any = v128.or(any, tail_lanes(load_f32x4_partial(inp + (<usize>i << 2), min(4, e - i))));
  return v128.any_true(any);
}

/** Passes 1 and 2 over entries [b, e) of inp: P [e − b] and L (see above). */
@inline function phi2_block(inp: usize, b: i32, e: i32, P: usize, L: usize): void {
  let cnt: usize = 0;
  for (let i = b; i < e; i += 4) {
    const x = load_f32x4_partial(inp + (<usize>i << 2), min(4, e - i));
    const code = i32x4.bitmask(tail_lanes(x));
    if (code != 15) v128.store(P + (<usize>(i - b) << 2), phi2_small(x));
    v128.store(L + (cnt << 2), left_pack_f32x4(x, code));
    cnt += <usize>popcnt(code);
  }
  let j: usize = 0;
  for (; j + 8 <= cnt; j += 8) {
    const p = L + (j << 2);
    const y0 = phi2_tail(v128.load(p)), y1 = phi2_tail(v128.load(p, 16));
    v128.store(p, y0);
    v128.store(p, y1, 16);
  }
  if (j < cnt) v128.store(L + (j << 2), phi2_tail(v128.load(L + (j << 2))));
  if (j + 4 < cnt) v128.store(L + (j << 2), phi2_tail(v128.load(L + (j << 2), 16)), 16);
}

/** Pass 3's merge for the vector x at entry i of the block, its tail lanes at L[pos]. */
@inline function phi2_merge(x: v128, code: i32, P: usize, L: usize, i: i32, pos: usize): v128 {
  const small = v128.load(P + (<usize>i << 2));
  return v128.bitselect(expand_f32x4(v128.load(L + (pos << 2)), code), small, tail_lanes(x));
}

/** gelu = (0.5·x)·phi2(x), r lanes stored at out + o; with save, phi2(x) too, at phi + o. */
@inline function put_gelu(out: usize, phi: usize, o: usize, x: v128, ph: v128, r: i32, save: bool): void {
  store_f32x4_partial(out + o, f32x4.mul(f32x4.mul(k(K_HALF), x), ph), r);
  if (save) store_f32x4_partial(phi + o, ph, r);
}

@inline function gelu_forward_impl(out: usize, phi: usize, inp: usize, n: i32, scratch: usize, save: bool, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  const P = scratch + <usize>tid * <usize>gelu_scratch_bytes(tid, nth), L = P + (<usize>BLOCK << 2);
  for (let b = s; b < e; b += BLOCK) {
    const be = min(e, b + BLOCK);
    if (!has_tail(inp, b, be)) {
      for (let i = b; i < be; i += 4) {
        const r = min(4, be - i), o = <usize>i << 2;
        const x = load_f32x4_partial(inp + o, r);
        put_gelu(out, phi, o, x, phi2_small(x), r, save);
      }
      continue;
    }
    phi2_block(inp, b, be, P, L);
    let pos: usize = 0;
    for (let i = b; i < be; i += 4) {
      const r = min(4, be - i), o = <usize>i << 2;
      const x = load_f32x4_partial(inp + o, r);
      const code = i32x4.bitmask(tail_lanes(x));
      put_gelu(out, phi, o, x, phi2_merge(x, code, P, L, i - b, pos), r, save);
      pos += <usize>popcnt(code);
    }
  }
}

/** out[i] = gelu(inp[i]) for i < n (out may alias inp). scratch: nth × gelu_scratch_bytes. */
export function gelu_forward(out: usize, inp: usize, n: i32, scratch: usize, tid: i32, nth: i32): void {
  gelu_forward_impl(out, 0, inp, n, scratch, false, tid, nth);
}

/**
 * gelu_forward that also keeps phi[i] = 1 + erf(inp[i]/√2), the half of gelu' the backward would
 * otherwise evaluate again (gelu_backward_write_phi). phi must not overlap out or inp.
 */
export function gelu_forward_phi(out: usize, phi: usize, inp: usize, n: i32, scratch: usize, tid: i32, nth: i32): void {
  gelu_forward_impl(out, phi, inp, n, scratch, true, tid, nth);
}

/** Lanes of the 4 mask bytes at p as i32 lanes: all ones where the byte is nonzero. */
@inline function mask4(p: usize): v128 {
  return i32x4.ne(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))), i32x4.splat(0));
}

/** 1..4 mask bytes at p as lanes (missing lanes: 0). */
@inline function mask_partial(p: usize, r: i32): v128 {
  if (r >= 4) return mask4(p);
  let v = i32x4.splat(0);
  v = i32x4.replace_lane(v, 0, load<u8>(p) != 0 ? -1 : 0);
  if (r > 1) v = i32x4.replace_lane(v, 1, load<u8>(p, 1) != 0 ? -1 : 0);
  if (r > 2) v = i32x4.replace_lane(v, 2, load<u8>(p, 2) != 0 ? -1 : 0);
  return v;
}

/**
 * dinp[i] = flush(base + d·gelu'(inp[i])) with d = dout[i], or with a mask d = 0 + (dout[i] where
 * mask[i] != 0, else 0) (what abstopk_backward leaves in a zero-filled buffer); base = dinp[i]
 * (accumulate) or +0 (write). r lanes of the vector x = inp[i..i+4), phi = phi2(x).
 * Writing, d = ±0 gives +0 (see below).
 */
@inline function put_grad(dinp: usize, dout: usize, mask: usize, i: i32, x: v128, phi: v128, r: i32, write: bool, masked: bool): void {
  const o = <usize>i << 2;
  let d = load_f32x4_partial(dout + o, r);
  if (masked) d = f32x4.add(k(K_ZERO), v128.and(d, mask_partial(mask + <usize>i, r)));
  // Writing, a lane with d = ±0 gets +0: what 0 + d·gelu'(x) is for every finite x (and gelu'
  // at ±∞ is 1 or 0, not the NaN the formula's ∞·0 makes). So a vector of such lanes (an
  // ablated node's rows, AbsTopK's dropped entries) costs no exp.
  const dz = f32x4.eq(d, k(K_ZERO));
  if (write && i32x4.all_true(dz)) {
    store_f32x4_partial(dinp + o, k(K_ZERO), r);
    return;
  }
  const axc = f32x4.pmin(f32x4.abs(x), k(K_AX_MAX));
  const pdf = v128.andnot(
    f32x4.mul(exp_hilo_f32x4(half_square_hi(axc), half_square_lo(axc)), k(K_INV_SQRT_2PI)),
    f32x4.ge(f32x4.abs(x), k(K_AX_MAX)),
  );
  const grad = f32x4.add(f32x4.mul(k(K_HALF), phi), f32x4.mul(x, pdf));
  const base = write ? k(K_ZERO) : load_f32x4_partial(dinp + o, r);
  const y = flush_subnormal_f32x4(f32x4.add(base, f32x4.mul(d, grad)));
  store_f32x4_partial(dinp + o, write ? v128.andnot(y, dz) : y, r);
}

/** The backward kernels' body: put_grad for every entry, in gelu_forward's passes. */
@inline function gelu_backward_impl(dinp: usize, dout: usize, mask: usize, inp: usize, n: i32, scratch: usize, write: bool, masked: bool, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  const P = scratch + <usize>tid * <usize>gelu_scratch_bytes(tid, nth), L = P + (<usize>BLOCK << 2);
  for (let b = s; b < e; b += BLOCK) {
    const be = min(e, b + BLOCK);
    if (!has_tail(inp, b, be)) {
      for (let i = b; i < be; i += 4) {
        const r = min(4, be - i);
        const x = load_f32x4_partial(inp + (<usize>i << 2), r);
        put_grad(dinp, dout, mask, i, x, phi2_small(x), r, write, masked);
      }
      continue;
    }
    phi2_block(inp, b, be, P, L);
    let pos: usize = 0;
    for (let i = b; i < be; i += 4) {
      const r = min(4, be - i);
      const x = load_f32x4_partial(inp + (<usize>i << 2), r);
      const code = i32x4.bitmask(tail_lanes(x));
      put_grad(dinp, dout, mask, i, x, phi2_merge(x, code, P, L, i - b, pos), r, write, masked);
      pos += <usize>popcnt(code);
    }
  }
}

/**
 * gelu_backward_write with 1 + erf(x/√2) read from phi (gelu_forward_phi's) instead of evaluated:
 * the same bits, one exp per entry and no range split. No scratch.
 */
export function gelu_backward_write_phi(dinp: usize, dout: usize, mask: usize, inp: usize, phi: usize, n: i32, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  if (mask != 0) {
    for (let i = s; i < e; i += 4) {
      const r = min(4, e - i), o = <usize>i << 2;
      put_grad(dinp, dout, mask, i, load_f32x4_partial(inp + o, r), load_f32x4_partial(phi + o, r), r, true, true);
    }
  } else {
    for (let i = s; i < e; i += 4) {
      const r = min(4, e - i), o = <usize>i << 2;
      put_grad(dinp, dout, 0, i, load_f32x4_partial(inp + o, r), load_f32x4_partial(phi + o, r), r, true, false);
    }
  }
}

/** dinp[i] += dout[i]·gelu'(inp[i]) for i < n (a subnormal result becomes 0). scratch as forward. */
export function gelu_backward(dinp: usize, dout: usize, inp: usize, n: i32, scratch: usize, tid: i32, nth: i32): void {
  gelu_backward_impl(dinp, dout, 0, inp, n, scratch, false, false, tid, nth);
}

/**
 * gelu_backward into a zero-filled dinp, bit for bit, without the fill or the read: dinp[i] =
 * flush(0 + d·gelu'(inp[i])). With mask ≠ 0 (u8 [n]), d is first masked as abstopk_backward into
 * a zero-filled buffer would leave it (d = 0 + (dout[i] where mask[i] != 0, else 0)), so one call
 * replaces fill, abstopk_backward, fill, gelu_backward. dinp may alias dout.
 */
export function gelu_backward_write(dinp: usize, dout: usize, mask: usize, inp: usize, n: i32, scratch: usize, tid: i32, nth: i32): void {
  if (mask != 0) gelu_backward_impl(dinp, dout, mask, inp, n, scratch, true, true, tid, nth);
  else gelu_backward_impl(dinp, dout, 0, inp, n, scratch, true, false, tid, nth);
}
