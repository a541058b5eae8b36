// Magnitude top-k of a weight matrix, in place (docs/method.md §2, "top-k after every optimizer step").
//
// Selection works on the bits of |w|: for finite floats, (bits & 0x7fffffff) read as an integer
// ("key") orders like |w|. Pass 1 histograms the top 16 key bits, which finds the bucket holding
// the k-th largest key; pass 2 zeroes the entries below that bucket and lists those in it; a
// histogram of their low 15 bits then gives the exact threshold key, and ties at the threshold go
// to the lower flat index. Histograms are integer counts (per thread, summed afterwards), so the
// result does not depend on the thread count.
//
// Protection ("j per neuron"): the scan pass also keeps each neuron's j largest entries (ties:
// lower index). The caller saves them, overwrites them with MARK (a NaN pattern whose key beats
// every finite key, so the threshold pass keeps them), selects among the others, then writes the
// saved values back. The wrapper (src/backend/ops/topk.ts) sequences these kernels.

import { part_start } from "./common";
import { zero_f32 } from "./vmath";

const ABS: i32 = 0x7fffffff;
/** Stands in for a protected entry during selection; its key is above every finite key. */
const MARK: i32 = -1;
const HI_BINS: i32 = 1 << 16;
const LO_BITS: i32 = 15;
const LO_BINS: i32 = 1 << 15;
/** First high bucket of non-finite keys (exponent all ones). */
const NONFINITE_BIN: i32 = 0x7f800000 >>> 15;

/**
 * Inserts (i, bits) into the descending top-j list at buf (pairs of i32: index, bits) holding
 * `have` entries; entries with an equal key stay ahead (they have lower indices). Returns the new
 * j-th key, or -1 while the list is not full.
 */
function topj_insert(buf: usize, j: i32, have: i32, i: i32, bits: i32): i32 {
  const key = bits & ABS;
  let p = have < j ? have : j - 1;
  while (p > 0 && (load<i32>(buf + (<usize>(p - 1) << 3), 4) & ABS) < key) {
    const from = buf + (<usize>(p - 1) << 3);
    store<i64>(from, load<i64>(from), 8);
    p--;
  }
  const at = buf + (<usize>p << 3);
  store<i32>(at, i);
  store<i32>(at, bits, 4);
  return have + 1 >= j ? load<i32>(buf + (<usize>(j - 1) << 3), 4) & ABS : -1;
}

@inline function bump(h: usize, bin: i32): void {
  const hb = h + (<usize>bin << 2);
  store<u32>(hb, load<u32>(hb) + 1);
}

/** Adds the high buckets of 4 keys to the histogram h. */
@inline function bump4(h: usize, key: v128): void {
  const b = i32x4.shr_u(key, LO_BITS);
  bump(h, i32x4.extract_lane(b, 0));
  bump(h, i32x4.extract_lane(b, 1));
  bump(h, i32x4.extract_lane(b, 2));
  bump(h, i32x4.extract_lane(b, 3));
}

/** Adds the n keys at p to the high-bucket histogram h. */
@inline function histogram_keys(h: usize, p: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) bump4(h, v128.and(v128.load(p + (<usize>i << 2)), i32x4.splat(ABS)));
  for (; i < n; i++) bump(h, (load<i32>(p + (<usize>i << 2)) & ABS) >>> LO_BITS);
}

/** Offers entry (r, c) of w [R, C] (row pointer `row`) to column c's top-j list. */
function col_insert(row: usize, prot: usize, aux: usize, j: i32, r: i32, C: i32, c: i32): void {
  const bits = load<i32>(row + (<usize>c << 2));
  const buf = prot + ((<usize>c * <usize>j) << 3);
  store<i32>(aux + (<usize>c << 2), topj_insert(buf, j, r, r * C + c, bits));
}

/**
 * Pass 1 over w [R, C]: a histogram of the top 16 key bits into this thread's 65536 u32 at
 * hist + tid·2^18 and, for axis 1 (each row is a neuron) or 2 (each column), each neuron's top j
 * as (index, bits) pairs at prot + neuron·j·8. aux (axis 2 only): one i32 per column, its list's
 * j-th key so far, -1 from topk_aux_reset. Threads split neurons (axis 0: the flat range).
 * Returns nth, the number of histograms written.
 */
export function topk_scan_f32(
  w: usize, R: i32, C: i32, axis: i32, j: i32, prot: usize, aux: usize, hist: usize, tid: i32,
  nth: i32,
): i32 {
  const h = hist + ((<usize>tid * <usize>HI_BINS) << 2);
  zero_f32(h, HI_BINS);
  if (axis == 1 && j > 0) {
    const r0 = part_start(R, tid, nth), r1 = part_start(R, tid + 1, nth);
    for (let r = r0; r < r1; r++) {
      const row = w + ((<usize>r * <usize>C) << 2);
      const buf = prot + ((<usize>r * <usize>j) << 3);
      const base = r * C;
      // Few entries beat the row's running j-th key: test 4 at a time, insert rarely.
      let minKey = -1, c = 0;
      for (; c + 4 <= C; c += 4) {
        const key = v128.and(v128.load(row + (<usize>c << 2)), i32x4.splat(ABS));
        bump4(h, key);
        if (i32x4.bitmask(i32x4.gt_s(key, i32x4.splat(minKey))) == 0) continue;
        for (let l = 0; l < 4; l++) {
          const bits = load<i32>(row + (<usize>(c + l) << 2));
          if ((bits & ABS) > minKey) minKey = topj_insert(buf, j, c + l, base + c + l, bits);
        }
      }
      for (; c < C; c++) {
        const bits = load<i32>(row + (<usize>c << 2));
        bump(h, (bits & ABS) >>> LO_BITS);
        if ((bits & ABS) > minKey) minKey = topj_insert(buf, j, c, base + c, bits);
      }
    }
  } else if (axis == 2 && j > 0) {
    // aux[c] is column c's j-th key so far (-1 while its list fills); rows come in order.
    const c0 = part_start(C, tid, nth), c1 = part_start(C, tid + 1, nth);
    for (let r = 0; r < R; r++) {
      const row = w + ((<usize>r * <usize>C) << 2);
      let c = c0;
      for (; c + 4 <= c1; c += 4) {
        const key = v128.and(v128.load(row + (<usize>c << 2)), i32x4.splat(ABS));
        bump4(h, key);
        const hit = i32x4.bitmask(i32x4.gt_s(key, v128.load(aux + (<usize>c << 2))));
        if (hit == 0) continue;
        for (let l = 0; l < 4; l++) {
          if (hit & (1 << l)) col_insert(row, prot, aux, j, r, C, c + l);
        }
      }
      for (; c < c1; c++) {
        const key = load<i32>(row + (<usize>c << 2)) & ABS;
        bump(h, key >>> LO_BITS);
        if (key > load<i32>(aux + (<usize>c << 2))) col_insert(row, prot, aux, j, r, C, c);
      }
    }
  } else {
    const n = R * C;
    const s = part_start(n, tid, nth), e = part_start(n, tid + 1, nth);
    histogram_keys(h, w + (<usize>s << 2), e - s);
  }
  return nth;
}

/** Sets aux[c] = -1 for c < C (fresh column lists for topk_scan_f32 with axis 2). */
export function topk_aux_reset(aux: usize, C: i32, tid: i32, nth: i32): void {
  const s = part_start(C, tid, nth), e = part_start(C, tid + 1, nth);
  for (let c = s; c < e; c++) store<i32>(aux + (<usize>c << 2), -1);
}

/**
 * Sums the `parts` histograms into the first, removes the nProt protected entries (pairs at prot)
 * and finds the bucket of the need-th largest remaining key. Writes state[0] = non-finite entry
 * count (nothing else when > 0), state[1] = bucket, state[2] = how many to take from it,
 * state[3] = its size. Thread 0 does it all.
 */
export function topk_select_bucket(
  hist: usize, parts: i32, prot: usize, nProt: i32, need: i32, state: usize, tid: i32, nth: i32,
): void {
  if (tid != 0) return;
  for (let t = 1; t < parts; t++) {
    const ht = hist + ((<usize>t * <usize>HI_BINS) << 2);
    for (let b = 0; b < HI_BINS; b++) {
      const p = hist + (<usize>b << 2);
      store<u32>(p, load<u32>(p) + load<u32>(ht + (<usize>b << 2)));
    }
  }
  let bad = 0;
  for (let b = NONFINITE_BIN; b < HI_BINS; b++) bad += load<i32>(hist + (<usize>b << 2));
  store<i32>(state, bad);
  if (bad > 0) return;
  for (let p = 0; p < nProt; p++) {
    const key = load<i32>(prot + (<usize>p << 3), 4) & ABS;
    const hb = hist + (<usize>(key >>> LO_BITS) << 2);
    store<u32>(hb, load<u32>(hb) - 1);
  }
  let above = 0, b = NONFINITE_BIN - 1;
  for (; b > 0; b--) {
    const c = load<i32>(hist + (<usize>b << 2));
    if (above + c >= need) break;
    above += c;
  }
  store<i32>(state, b, 4);
  store<i32>(state, need - above, 8);
  store<i32>(state, load<i32>(hist + (<usize>b << 2)), 12);
}

/** Overwrites the nProt protected entries (pairs at prot) of w with MARK. */
export function topk_mark_protected(w: usize, prot: usize, nProt: i32, tid: i32, nth: i32): void {
  const s = part_start(nProt, tid, nth), e = part_start(nProt, tid + 1, nth);
  for (let p = s; p < e; p++) store<i32>(w + (<usize>load<i32>(prot + (<usize>p << 3)) << 2), MARK);
}

/** Writes the saved values of the nProt protected entries back into w. */
export function topk_restore_protected(w: usize, prot: usize, nProt: i32, tid: i32, nth: i32): void {
  const s = part_start(nProt, tid, nth), e = part_start(nProt, tid + 1, nth);
  for (let p = s; p < e; p++) {
    const at = prot + (<usize>p << 3);
    store<i32>(w + (<usize>load<i32>(at) << 2), load<i32>(at, 4));
  }
}

/**
 * Pass 2 over w's n entries (flat range split between threads): zeroes those whose key's high
 * bucket is below b, keeps those above, and lists those in bucket b (flat indices, increasing) at
 * cand + tid·cap·4 (cap > the bucket's size: the branch-free append writes one slot past the
 * end), their number to counts[tid]. The lists of threads 0, 1, … concatenate to increasing
 * indices. Returns nth, the number of lists.
 */
export function topk_split_bucket(
  w: usize, n: i32, b: i32, cand: usize, cap: i32, counts: usize, tid: i32, nth: i32,
): i32 {
  const s = part_start(n, tid, nth), e = part_start(n, tid + 1, nth);
  const out = cand + ((<usize>tid * <usize>cap) << 2);
  const abs = i32x4.splat(ABS), bv = i32x4.splat(b);
  let m = 0, i = s;
  for (; i + 4 <= e; i += 4) {
    const p = w + (<usize>i << 2);
    const v = v128.load(p);
    const hb = i32x4.shr_u(v128.and(v, abs), LO_BITS);
    v128.store(p, v128.and(v, i32x4.ge_s(hb, bv)));
    const hit = i32x4.bitmask(i32x4.eq(hb, bv));
    if (hit == 0) continue;
    store<i32>(out + (<usize>m << 2), i);
    m += hit & 1;
    store<i32>(out + (<usize>m << 2), i + 1);
    m += (hit >> 1) & 1;
    store<i32>(out + (<usize>m << 2), i + 2);
    m += (hit >> 2) & 1;
    store<i32>(out + (<usize>m << 2), i + 3);
    m += (hit >> 3) & 1;
  }
  for (; i < e; i++) {
    const p = w + (<usize>i << 2);
    const hb = (load<i32>(p) & ABS) >>> LO_BITS;
    if (hb < b) store<i32>(p, 0);
    else if (hb == b) {
      store<i32>(out + (<usize>m << 2), i);
      m++;
    }
  }
  store<i32>(counts + (<usize>tid << 2), m);
  return nth;
}

/**
 * Pass 3, within bucket b: over the listed entries (parts lists, at cand + t·cap·4 with counts[t]
 * entries), finds the need-th largest key T, keeps the entries above T and the first ones equal to
 * T (lower index first) up to need, and zeroes the rest. hist2: 2^15 u32 of scratch. Thread 0
 * does it all (a bucket holds a small share of the entries).
 */
export function topk_refine(
  w: usize, cand: usize, cap: i32, counts: usize, parts: i32, b: i32, need: i32, hist2: usize,
  tid: i32, nth: i32,
): void {
  if (tid != 0) return;
  zero_f32(hist2, LO_BINS);
  for (let t = 0; t < parts; t++) {
    const list = cand + ((<usize>t * <usize>cap) << 2);
    const m = load<i32>(counts + (<usize>t << 2));
    for (let q = 0; q < m; q++) {
      const i = load<i32>(list + (<usize>q << 2));
      bump(hist2, load<i32>(w + (<usize>i << 2)) & (LO_BINS - 1));
    }
  }
  let above = 0, lo = LO_BINS - 1;
  for (; lo > 0; lo--) {
    const c = load<i32>(hist2 + (<usize>lo << 2));
    if (above + c >= need) break;
    above += c;
  }
  const T = (b << LO_BITS) | lo;
  let ties = need - above;
  for (let t = 0; t < parts; t++) {
    const list = cand + ((<usize>t * <usize>cap) << 2);
    const m = load<i32>(counts + (<usize>t << 2));
    for (let q = 0; q < m; q++) {
      const p = w + (<usize>load<i32>(list + (<usize>q << 2)) << 2);
      const key = load<i32>(p) & ABS;
      if (key > T) continue;
      if (key == T && ties > 0) ties--;
      else store<i32>(p, 0);
    }
  }
}

/** Nonzero entries among this thread's share of w's n entries, to out[tid]. Returns nth. */
export function count_nonzero_f32(w: usize, n: i32, out: usize, tid: i32, nth: i32): i32 {
  const s = part_start(n, tid, nth), e = part_start(n, tid + 1, nth);
  const zero = f32x4.splat(0);
  let m = 0, i = s;
  for (; i + 4 <= e; i += 4) {
    m += <i32>popcnt(i32x4.bitmask(f32x4.ne(v128.load(w + (<usize>i << 2)), zero)));
  }
  for (; i < e; i++) if (load<f32>(w + (<usize>i << 2)) != 0) m++;
  store<i32>(out + (<usize>tid << 2), m);
  return nth;
}

/**
 * Neurons of w [R, C] with at least one nonzero among this thread's neurons, to out[tid]:
 * axis 1 counts rows, axis 2 columns (flags: C i32 of scratch). Returns nth.
 */
export function alive_neurons_f32(
  w: usize, R: i32, C: i32, axis: i32, flags: usize, out: usize, tid: i32, nth: i32,
): i32 {
  let alive = 0;
  if (axis == 1) {
    const r0 = part_start(R, tid, nth), r1 = part_start(R, tid + 1, nth);
    for (let r = r0; r < r1; r++) {
      const row = w + ((<usize>r * <usize>C) << 2);
      for (let c = 0; c < C; c++) {
        if (load<f32>(row + (<usize>c << 2)) != 0) {
          alive++;
          break;
        }
      }
    }
  } else {
    const c0 = part_start(C, tid, nth), c1 = part_start(C, tid + 1, nth);
    for (let c = c0; c < c1; c++) store<i32>(flags + (<usize>c << 2), 0);
    for (let r = 0; r < R; r++) {
      const row = w + ((<usize>r * <usize>C) << 2);
      for (let c = c0; c < c1; c++) {
        if (load<f32>(row + (<usize>c << 2)) != 0) store<i32>(flags + (<usize>c << 2), 1);
      }
    }
    for (let c = c0; c < c1; c++) alive += load<i32>(flags + (<usize>c << 2));
  }
  store<i32>(out + (<usize>tid << 2), alive);
  return nth;
}
