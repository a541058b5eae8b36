// AbsTopK activation sparsity (docs/method.md §1): per token keep the k entries of largest |x| among its C
// channels, zero the rest; ties go to the lower channel index. Forward and backward.
//
// Forward, per tile of 16 tokens (a 64-byte line of each channel row; activations are
// feature-major [C, N]), as 4 groups of 4 tokens (one f32x4 each):
//  1. gather the tile's |x| bit patterns into per-thread scratch, keys [group][C][4] (for x ≥ 0
//     the IEEE bits order like the values, so the selection works on integers);
//  2. per group, bisect for its 4 tokens at once the threshold T = the k-th largest key (the paper's
//     App. B: a threshold instead of a sort): count(key ≥ t) ≥ k holds for t ≤ T and fails
//     above, so halving [0, max + 1] takes at most 32 counting passes over the group's 16·C bytes
//     (L1-resident), one compare and one subtract per channel, the first probe 6 octaves below
//     the maximum; a token stops early once some t has a count of exactly k. Full tiles bisect
//     the top 16 bits of the keys first, 8 tokens per vector (select_pair);
//  3. one pass over the rows keeps key > T, and key == T while that token's ties last (k minus
//     the count above T), so the lowest channels win ties. out and mask are written for the tile's
//     tokens only.
// Each token's result depends on its own column alone: thread count does not matter.
// out may alias inp. Scratch per thread: 96·C + 128 bytes.
import { part_start_aligned } from "./common";
import { abs_mask, load_f32x4_partial, store_f32x4_partial } from "./vmath";

@inline function scratch_bytes(C: i32, N: i32): usize {
  return (<usize>C * 96 + 64 + (<usize>N << 3) + 64 + 63) & ~(<usize>63);
}

/** Bytes of scratch one thread needs for abstopk_forward over [C, N] (callers allocate nth×). */
export function abstopk_scratch_bytes(C: i32, N: i32, tid: i32, nth: i32): i32 {
  return <i32>scratch_bytes(C, N);
}

/**
 * Per lane, how many of the C keys of a group (keys[c] at keys + 16c) are ≥ t, for 1 ≤ t ≤ 2^31 − 1.
 * Keys have no sign bit, so key ≥ t is the signed key > t − 1: one instruction (x64 has no
 * unsigned compare; ge_u costs two).
 */
@inline function count_ge(keys: usize, C: i32, t: v128): v128 {
  const tm1 = i32x4.sub(t, i32x4.splat(1));
  let a = i32x4.splat(0), b = i32x4.splat(0);
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    const p = keys + (<usize>c << 4);
    a = i32x4.sub(a, i32x4.gt_s(v128.load(p), tm1));
    b = i32x4.sub(b, i32x4.gt_s(v128.load(p, 16), tm1));
    a = i32x4.sub(a, i32x4.gt_s(v128.load(p, 32), tm1));
    b = i32x4.sub(b, i32x4.gt_s(v128.load(p, 48), tm1));
  }
  for (; c < C; c++) a = i32x4.sub(a, i32x4.gt_s(v128.load(keys + (<usize>c << 4)), tm1));
  return i32x4.add(a, b);
}

// A token's k-th largest |x| is seldom below 2^-6 of its largest (real activations: well under
// 1% of tokens at afrac 1/4), so the first probe goes there, 6 octaves (6·2^23 in key space)
// below the maximum, instead of halfway down from 0: it replaces about four halvings of the
// 2^31-wide range, and costs one pass when it misses. Keys are IEEE bits, so octaves are linear.
const FIRST_PROBE_OCTAVES = 6;

/**
 * Bisects the k-th largest key (1 ≤ k < C) of each lane of a group, from the state (lo, hi,
 * cntHi, exact) (see the invariants below; a full search starts at lo = 0, hi = max + 1 and
 * probes first at `probe` where it is > lo); stores at res the keep rule for the write pass:
 * keep key > res[0..3], and key == res[0..3] while res[4..7] (the ties to keep) lasts.
 */
@inline function bisect_group(
  keys: usize, C: i32, k: i32, lo: v128, hi: v128, cntHi: v128, exact: v128, probe: v128, res: usize,
): void {
  const ones = i32x4.splat(1), kv = i32x4.splat(k);
  // Invariants: count(≥ lo) ≥ k > count(≥ hi) = cntHi, until hi = lo + 1 or an exact hit.
  for (let first = true; ; first = false) {
    const active = v128.andnot(i32x4.gt_u(i32x4.sub(hi, lo), ones), exact);
    if (!v128.any_true(active)) break;
    let mid = i32x4.add(lo, i32x4.shr_u(i32x4.sub(hi, lo), 1));
    if (first) mid = v128.bitselect(probe, mid, i32x4.gt_s(probe, lo));
    const cnt = count_ge(keys, C, mid);
    const ok = v128.and(i32x4.ge_s(cnt, kv), active);
    const fail = v128.andnot(active, ok);
    lo = v128.bitselect(mid, lo, ok);
    hi = v128.bitselect(mid, hi, fail);
    cntHi = v128.bitselect(cnt, cntHi, fail);
    exact = v128.or(exact, v128.and(ok, i32x4.eq(cnt, kv)));
  }
  // Exact hit: keep key ≥ lo. Otherwise lo is the k-th key: keep key > lo, and k − cntHi ties.
  v128.store(res, v128.bitselect(i32x4.sub(lo, ones), lo, exact));
  v128.store(res, v128.andnot(i32x4.sub(kv, cntHi), exact), 16);
}

/** bisect_group over the whole key range of a group whose lane maxima are `max`. */
function select_group(keys: usize, C: i32, k: i32, max: v128, res: usize): void {
  const zero = i32x4.splat(0);
  const probe = i32x4.sub(max, i32x4.splat(FIRST_PROBE_OCTAVES << 23));
  bisect_group(keys, C, k, zero, i32x4.add(max, i32x4.splat(1)), zero, zero, probe, res);
}

/** Per lane (8 tokens), how many of the C 16-bit keys at keys + 16c are ≥ t (1 ≤ t ≤ 2^15 − 1). */
@inline function count_ge16(keys: usize, C: i32, t: v128): v128 {
  const tm1 = i16x8.sub(t, i16x8.splat(1));
  let a = i16x8.splat(0), b = i16x8.splat(0);
  let c = 0;
  for (; c + 4 <= C; c += 4) {
    const p = keys + (<usize>c << 4);
    a = i16x8.sub(a, i16x8.gt_s(v128.load(p), tm1));
    b = i16x8.sub(b, i16x8.gt_s(v128.load(p, 16), tm1));
    a = i16x8.sub(a, i16x8.gt_s(v128.load(p, 32), tm1));
    b = i16x8.sub(b, i16x8.gt_s(v128.load(p, 48), tm1));
  }
  for (; c < C; c++) a = i16x8.sub(a, i16x8.gt_s(v128.load(keys + (<usize>c << 4)), tm1));
  return i16x8.add(a, b);
}

/**
 * Two groups (8 tokens) at once, C ≤ 2^15 − 1: first the bisection on the top 16 bits of the
 * keys (keys16, 8 lanes per vector, so each pass costs half), which finds each token's prefix P
 * of its k-th largest key, or an exact hit; then, per group, the 32-bit bisection from there
 * (lo = P·2^16, hi = (P + 1)·2^16, cntHi = count of prefixes above P), over a range that holds
 * the few keys with prefix P, so it takes a pass or two. Stores both groups' keep rules at res
 * and res + 32 (as select_group).
 */
function select_pair(keys16: usize, keys0: usize, keys1: usize, C: i32, k: i32, m0: v128, m1: v128, res: usize): void {
  const ones = i16x8.splat(1), kv = i16x8.splat(<i16>k);
  const max16 = i16x8.narrow_i32x4_u(i32x4.shr_u(m0, 16), i32x4.shr_u(m1, 16));
  let lo = i16x8.splat(0), hi = i16x8.add(max16, ones);
  let cntHi = i16x8.splat(0), exact = i16x8.splat(0);
  // Keys are below 2^31, so the 16-bit ones are below 2^15 and hi fits too; counts ≤ C ≤ 2^15 − 1.
  const probe = i16x8.sub(max16, i16x8.splat(<i16>(FIRST_PROBE_OCTAVES << 7)));
  for (let first = true; ; first = false) {
    const active = v128.andnot(i16x8.gt_s(i16x8.sub(hi, lo), ones), exact);
    if (!v128.any_true(active)) break;
    let mid = i16x8.add(lo, i16x8.shr_u(i16x8.sub(hi, lo), 1));
    if (first) mid = v128.bitselect(probe, mid, i16x8.gt_s(probe, lo));
    const cnt = count_ge16(keys16, C, mid);
    const ok = v128.and(i16x8.ge_s(cnt, kv), active);
    const fail = v128.andnot(active, ok);
    lo = v128.bitselect(mid, lo, ok);
    hi = v128.bitselect(mid, hi, fail);
    cntHi = v128.bitselect(cnt, cntHi, fail);
    exact = v128.or(exact, v128.and(ok, i16x8.eq(cnt, kv)));
  }
  // An exact hit on a prefix is one on the full key (count(≥ lo·2^16) = k); lo is a full key's
  // lower bound either way, and (lo + 1)·2^16 an upper one unless exact.
  const step = i32x4.splat(1 << 16);
  const lo0 = i32x4.shl(i32x4.extend_low_i16x8_u(lo), 16), lo1 = i32x4.shl(i32x4.extend_high_i16x8_u(lo), 16);
  bisect_group(keys0, C, k, lo0, i32x4.add(lo0, step), i32x4.extend_low_i16x8_u(cntHi),
    i32x4.extend_low_i16x8_s(exact), lo0, res);
  bisect_group(keys1, C, k, lo1, i32x4.add(lo1, step), i32x4.extend_high_i16x8_u(cntHi),
    i32x4.extend_high_i16x8_s(exact), lo1, res + 32);
}

/** Applies the keep rule (tv, rem) to r ≤ 4 tokens of one row; returns rem after it. */
@inline function keep_row(inp: usize, out: usize, mask: usize, tv: v128, rem: v128, r: i32): v128 {
  const x = load_f32x4_partial(inp, r);
  const kv = v128.and(x, abs_mask());
  const take = v128.and(i32x4.eq(kv, tv), i32x4.gt_s(rem, i32x4.splat(0)));
  const keep = v128.or(i32x4.gt_s(kv, tv), take);
  store_f32x4_partial(out, v128.and(x, keep), r);
  const h = i16x8.narrow_i32x4_s(keep, keep);
  // keep lanes are −1 or 0; narrowed to bytes, abs makes them 1 or 0.
  const bytes = i32x4.extract_lane(i8x16.abs(i8x16.narrow_i16x8_s(h, h)), 0);
  if (r == 4) store<u32>(mask, bytes);
  else for (let j = 0; j < r; j++) store<u8>(mask + <usize>j, <u8>(bytes >>> (j << 3)));
  return i32x4.add(rem, take);
}

/**
 * k ≥ C (afrac = 1): out = inp and mask = 1 for tokens [s, e), row by row. The same bits as the
 * keep pass would write, which for such k keeps every entry (out = x & all-ones).
 */
function keep_all(out: usize, mask: usize, inp: usize, C: i32, N: i32, s: i32, e: i32): void {
  const ones = i8x16.splat(1);
  for (let c = 0; c < C; c++) {
    const ro = <usize>c * <usize>N;
    const src = inp + (ro << 2), dst = out + (ro << 2), m = mask + ro;
    let n = s;
    if (dst != src) {
      for (; n + 4 <= e; n += 4) v128.store(dst + (<usize>n << 2), v128.load(src + (<usize>n << 2)));
      for (; n < e; n++) store<f32>(dst + (<usize>n << 2), load<f32>(src + (<usize>n << 2)));
    }
    n = s;
    for (; n + 16 <= e; n += 16) v128.store(m + <usize>n, ones);
    for (; n < e; n++) store<u8>(m + <usize>n, 1);
  }
}

/**
 * out[C,N] = inp with all but the k largest-|x| entries of each token zeroed; mask[C,N] (u8) = 1
 * where kept. k ≥ C keeps everything, k ≤ 0 nothing. scratch: nth × scratch_bytes(C) bytes.
 */
export function abstopk_forward(out: usize, mask: usize, inp: usize, C: i32, N: i32, k: i32, scratch: usize, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  if (k >= C) {
    keep_all(out, mask, inp, C, N, s, e);
    return;
  }
  const base = scratch + <usize>tid * scratch_bytes(C, N);
  const groupBytes = <usize>C << 4;
  const res = base + 6 * groupBytes;
  const keys16 = base + 4 * groupBytes;
  const TV = res + 64;
  let ties = i32x4.splat(0);
  const rowBytes = <usize>N << 2;
  const absMask = abs_mask();
  // Full tiles select on 16-bit keys first (select_pair) where the counts fit in 16 bits.
  const wide = C <= 32767;
  for (let n0 = s; n0 < e; n0 += 16) {
    const rt = min(16, e - n0);
    const r0 = min(4, rt), r1 = max(0, min(4, rt - 4)), r2 = max(0, min(4, rt - 8)), r3 = max(0, min(4, rt - 12));
    const o = <usize>n0 << 2;
    // Keep rule per group (see select_group): all for k ≥ C, none for k ≤ 0.
    let tv = i32x4.splat(k <= 0 ? 0x7fffffff : -1), rem0 = i32x4.splat(0);
    let tv0 = tv, tv1 = tv, tv2 = tv, tv3 = tv;
    let rem1 = rem0, rem2 = rem0, rem3 = rem0;
    if (k > 0 && k < C) {
      let m0 = i32x4.splat(0), m1 = m0, m2 = m0, m3 = m0;
      // A full tile (the common case) needs no partial loads.
      for (let c = 0; rt == 16 && c < C; c++) {
        const row = inp + <usize>c * rowBytes + o, kp = base + (<usize>c << 4);
        const k0 = v128.and(v128.load(row), absMask), k1 = v128.and(v128.load(row, 16), absMask);
        const k2 = v128.and(v128.load(row, 32), absMask), k3 = v128.and(v128.load(row, 48), absMask);
        v128.store(kp, k0);
        v128.store(kp + groupBytes, k1);
        v128.store(kp + 2 * groupBytes, k2);
        v128.store(kp + 3 * groupBytes, k3);
        if (wide) {
          const k16 = keys16 + (<usize>c << 4);
          v128.store(k16, i16x8.narrow_i32x4_u(i32x4.shr_u(k0, 16), i32x4.shr_u(k1, 16)));
          v128.store(k16 + groupBytes, i16x8.narrow_i32x4_u(i32x4.shr_u(k2, 16), i32x4.shr_u(k3, 16)));
        }
        m0 = i32x4.max_u(m0, k0);
        m1 = i32x4.max_u(m1, k1);
        m2 = i32x4.max_u(m2, k2);
        m3 = i32x4.max_u(m3, k3);
      }
      for (let c = 0; rt < 16 && c < C; c++) {
        const row = inp + <usize>c * rowBytes + o, kp = base + (<usize>c << 4);
        const k0 = v128.and(load_f32x4_partial(row, r0), absMask);
        v128.store(kp, k0);
        m0 = i32x4.max_u(m0, k0);
        if (r1 > 0) {
          const k1 = v128.and(load_f32x4_partial(row + 16, r1), absMask);
          v128.store(kp + groupBytes, k1);
          m1 = i32x4.max_u(m1, k1);
        }
        if (r2 > 0) {
          const k2 = v128.and(load_f32x4_partial(row + 32, r2), absMask);
          v128.store(kp + 2 * groupBytes, k2);
          m2 = i32x4.max_u(m2, k2);
        }
        if (r3 > 0) {
          const k3 = v128.and(load_f32x4_partial(row + 48, r3), absMask);
          v128.store(kp + 3 * groupBytes, k3);
          m3 = i32x4.max_u(m3, k3);
        }
      }
      if (wide && rt == 16) {
        select_pair(keys16, base, base + groupBytes, C, k, m0, m1, res);
        tv0 = v128.load(res);
        rem0 = v128.load(res, 16);
        tv1 = v128.load(res, 32);
        rem1 = v128.load(res, 48);
        select_pair(keys16 + groupBytes, base + 2 * groupBytes, base + 3 * groupBytes, C, k, m2, m3, res);
        tv2 = v128.load(res);
        rem2 = v128.load(res, 16);
        tv3 = v128.load(res, 32);
        rem3 = v128.load(res, 48);
      } else {
      select_group(base, C, k, m0, res);
      tv0 = v128.load(res);
      rem0 = v128.load(res, 16);
      if (r1 > 0) {
        select_group(base + groupBytes, C, k, m1, res);
        tv1 = v128.load(res);
        rem1 = v128.load(res, 16);
      }
      if (r2 > 0) {
        select_group(base + 2 * groupBytes, C, k, m2, res);
        tv2 = v128.load(res);
        rem2 = v128.load(res, 16);
      }
      if (r3 > 0) {
        select_group(base + 3 * groupBytes, C, k, m3, res);
        tv3 = v128.load(res);
        rem3 = v128.load(res, 16);
      }
      }
    }
    // The tile's keep rules, for the row-major write pass.
    const t = TV + (<usize>(n0 - s) << 3);
    v128.store(t, tv0);
    v128.store(t, rem0, 16);
    if (r1 > 0) {
      v128.store(t, tv1, 32);
      v128.store(t, rem1, 48);
    }
    if (r2 > 0) {
      v128.store(t, tv2, 64);
      v128.store(t, rem2, 80);
    }
    if (r3 > 0) {
      v128.store(t, tv3, 96);
      v128.store(t, rem3, 112);
    }
    ties = v128.or(ties, v128.or(v128.or(rem0, rem1), v128.or(rem2, rem3)));
  }
  keep_rows(out, mask, inp, N, C, s, e, TV, v128.any_true(ties));
}

/**
 * The write pass, row by row over the thread's tokens [s, e) (whole rows stream in and out; the
 * tile order left each row's out and mask lines partly written, a 16-byte slice of a mask line
 * per tile): keep rule (tv, rem) of the group at token n at TV + 8·(n − s). With ties to ration,
 * rem counts down per token as the rows go by in channel order, so the lowest channels win.
 */
function keep_rows(out: usize, mask: usize, inp: usize, N: i32, C: i32, s: i32, e: i32, TV: usize, ties: bool): void {
  const absMask = abs_mask();
  const e16 = s + ((e - s) & ~15);
  for (let c = 0; c < C; c++) {
    const ro = <usize>c * <usize>N;
    const src = inp + (ro << 2), dst = out + (ro << 2), mrow = mask + ro;
    let n = s;
    if (!ties) {
      // No ties anywhere (the usual case: every threshold was an exact hit): keep key > tv.
      for (; n < e16; n += 16) {
        const o = <usize>n << 2, t = TV + (<usize>(n - s) << 3);
        const x0 = v128.load(src + o), x1 = v128.load(src + o, 16);
        const x2 = v128.load(src + o, 32), x3 = v128.load(src + o, 48);
        const k0 = i32x4.gt_s(v128.and(x0, absMask), v128.load(t));
        const k1 = i32x4.gt_s(v128.and(x1, absMask), v128.load(t, 32));
        const k2 = i32x4.gt_s(v128.and(x2, absMask), v128.load(t, 64));
        const k3 = i32x4.gt_s(v128.and(x3, absMask), v128.load(t, 96));
        v128.store(dst + o, v128.and(x0, k0));
        v128.store(dst + o, v128.and(x1, k1), 16);
        v128.store(dst + o, v128.and(x2, k2), 32);
        v128.store(dst + o, v128.and(x3, k3), 48);
        // keep lanes are −1 or 0; narrowed to bytes, abs makes them 1 or 0.
        const bytes = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(k0, k1), i16x8.narrow_i32x4_s(k2, k3));
        v128.store(mrow + <usize>n, i8x16.abs(bytes));
      }
    }
    for (; n < e; n += 4) {
      const o = <usize>n << 2, t = TV + (<usize>(n - s) << 3);
      v128.store(t, keep_row(src + o, dst + o, mrow + <usize>n, v128.load(t), v128.load(t, 16), min(4, e - n)), 16);
    }
  }
}

/** Lanes of the 4 mask bytes at p as i32 lanes: all ones where the byte is nonzero. */
@inline function mask4(p: usize): v128 {
  return i32x4.ne(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))), i32x4.splat(0));
}

/**
 * dinp[i] = base + (dout[i] where mask[i] != 0, else 0), base = dinp[i] (accumulate) or +0
 * (write: the value a zero-filled dinp would get, −0 included, without reading dinp).
 */
@inline function abstopk_backward_impl(dinp: usize, dout: usize, mask: usize, n: i32, write: bool, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  const zero = f32x4.splat(0);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    const base = write ? zero : v128.load(dinp + o);
    v128.store(dinp + o, f32x4.add(base, v128.and(v128.load(dout + o), mask4(mask + <usize>i))));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    const base: f32 = write ? 0 : load<f32>(dinp + o);
    store<f32>(dinp + o, base + (load<u8>(mask + <usize>i) != 0 ? load<f32>(dout + o) : 0));
  }
}

/** dinp[i] += dout[i] where mask[i] != 0, for the n = C·N entries (gradient through kept entries). */
export function abstopk_backward(dinp: usize, dout: usize, mask: usize, n: i32, tid: i32, nth: i32): void {
  abstopk_backward_impl(dinp, dout, mask, n, false, tid, nth);
}

/**
 * dinp[i] = 0 + (dout[i] where mask[i] != 0, else 0): abstopk_backward into a zero-filled dinp,
 * bit for bit, without the fill or the read. dinp may alias dout.
 */
export function abstopk_backward_write(dinp: usize, dout: usize, mask: usize, n: i32, tid: i32, nth: i32): void {
  abstopk_backward_impl(dinp, dout, mask, n, true, tid, nth);
}
