// Sparse weight × dense activation products, for weight-sparse layers (docs/method.md §2).
//
// A weight W [R, K] (row-major, PyTorch [out, in]) stays dense as the optimizer's master copy;
// after each top-k step it is compressed twice: by rows (CSR, for Y = W·X) and by columns (CSC,
// for dX = Wᵀ·dY). Entries are stored compactly (row r's at [ptr[r], ptr[r+1]), by increasing
// column), so short rows at high sparsity sit next to each other in memory. A rebuild reads W
// twice: pass 1 counts nonzeros per row and, per part of the rows, per column; the caller turns
// the counts into prefix sums; pass 2 writes both forms. Each part writes its own rows of the
// CSR form and its own (row-ordered) stretch of every CSC column, so the result does not depend
// on the number of parts.
//
// Summation order equals the dense GEMM's with zero weights skipped: acc = bias (or 0, or the
// existing output when accumulating), then acc += w·x over the row's entries by increasing column,
// f32 mul then add, one accumulator per output element. So sparse and dense agree bit for bit up
// to the sign of zero, whatever the thread count or tile.

import { part_start } from "./common";
import { load_f32x4_partial, store_f32x4_partial } from "./vmath";

/**
 * Rebuild pass 1 over w [R, K]: nonzero count of each row to rowCnt[r]; with the rows split in
 * nth parts (this thread: part tid), part t's per-column counts to colPart + t·K·4. Returns nth,
 * the number of parts.
 */
export function sparse_count_f32(
  w: usize, R: i32, K: i32, rowCnt: usize, colPart: usize, tid: i32, nth: i32,
): i32 {
  const r0 = part_start(R, tid, nth), r1 = part_start(R, tid + 1, nth);
  const cc = colPart + ((<usize>tid * <usize>K) << 2);
  for (let c = 0; c < K; c++) store<i32>(cc + (<usize>c << 2), 0);
  const zero = f32x4.splat(0);
  for (let r = r0; r < r1; r++) {
    const src = w + ((<usize>r * <usize>K) << 2);
    let m = 0, c = 0;
    for (; c + 4 <= K; c += 4) {
      // Lanes of a comparison are 0 or -1: subtracting counts the nonzeros of 4 columns.
      const nz = f32x4.ne(v128.load(src + (<usize>c << 2)), zero);
      const pc = cc + (<usize>c << 2);
      v128.store(pc, i32x4.sub(v128.load(pc), nz));
      m += <i32>popcnt(i32x4.bitmask(nz));
    }
    for (; c < K; c++) {
      if (load<f32>(src + (<usize>c << 2)) != 0) {
        const pc = cc + (<usize>c << 2);
        store<i32>(pc, load<i32>(pc) + 1);
        m++;
      }
    }
    store<i32>(rowCnt + (<usize>r << 2), m);
  }
  return nth;
}

/** Rows per block of rebuild pass 2: a block of W (·K·4 bytes) stays in L2 for its second read. */
const FILL_ROWS: i32 = 32;

/**
 * Rebuild pass 2 over w [R, K], for the `parts` row parts of pass 1 (this thread: parts tid,
 * tid + nth, …): CSR entries of row r from rowPtr[r] on; CSC entries of column c at
 * colStart[t·K + c] (part t's first slot in column c, advanced in place). Rows go in blocks:
 * the CSR form is written row by row, then the CSC form column by column over the block's rows
 * (now in cache), so each column receives a run of consecutive slots rather than one scattered
 * write per row.
 */
export function sparse_fill_f32(
  w: usize, R: i32, K: i32, parts: i32, rowPtr: usize, rowIdx: usize, rowVal: usize,
  colStart: usize, colIdx: usize, colVal: usize, tid: i32, nth: i32,
): void {
  const zero = f32x4.splat(0);
  const rowBytes = <usize>K << 2;
  const kv = K & ~3;
  for (let t = tid; t < parts; t += nth) {
    const r0 = part_start(R, t, parts), r1 = part_start(R, t + 1, parts);
    const cs = colStart + ((<usize>t * <usize>K) << 2);
    for (let rb = r0; rb < r1; rb += FILL_ROWS) {
      const re = min(r1, rb + FILL_ROWS);
      for (let r = rb; r < re; r++) {
        const src = w + <usize>r * rowBytes;
        let m = load<i32>(rowPtr + (<usize>r << 2)), c = 0;
        for (; c < kv; c += 4) {
          const v = v128.load(src + (<usize>c << 2));
          const bits = i32x4.bitmask(f32x4.ne(v, zero));
          if (bits == 0) continue;
          if (bits & 1) m = csr_put(rowIdx, rowVal, m, c, f32x4.extract_lane(v, 0));
          if (bits & 2) m = csr_put(rowIdx, rowVal, m, c + 1, f32x4.extract_lane(v, 1));
          if (bits & 4) m = csr_put(rowIdx, rowVal, m, c + 2, f32x4.extract_lane(v, 2));
          if (bits & 8) m = csr_put(rowIdx, rowVal, m, c + 3, f32x4.extract_lane(v, 3));
        }
        for (; c < K; c++) {
          const x = load<f32>(src + (<usize>c << 2));
          if (x != 0) m = csr_put(rowIdx, rowVal, m, c, x);
        }
      }
      let c = 0;
      for (; c < kv; c += 4) {
        let src = w + <usize>rb * rowBytes + (<usize>c << 2);
        for (let r = rb; r < re; r++, src += rowBytes) {
          const v = v128.load(src);
          const bits = i32x4.bitmask(f32x4.ne(v, zero));
          if (bits == 0) continue;
          if (bits & 1) csc_put(cs, colIdx, colVal, c, r, f32x4.extract_lane(v, 0));
          if (bits & 2) csc_put(cs, colIdx, colVal, c + 1, r, f32x4.extract_lane(v, 1));
          if (bits & 4) csc_put(cs, colIdx, colVal, c + 2, r, f32x4.extract_lane(v, 2));
          if (bits & 8) csc_put(cs, colIdx, colVal, c + 3, r, f32x4.extract_lane(v, 3));
        }
      }
      for (; c < K; c++) {
        let src = w + <usize>rb * rowBytes + (<usize>c << 2);
        for (let r = rb; r < re; r++, src += rowBytes) {
          const x = load<f32>(src);
          if (x != 0) csc_put(cs, colIdx, colVal, c, r, x);
        }
      }
    }
  }
}

@inline function csr_put(rowIdx: usize, rowVal: usize, m: i32, c: i32, x: f32): i32 {
  store<i32>(rowIdx + (<usize>m << 2), c);
  store<f32>(rowVal + (<usize>m << 2), x);
  return m + 1;
}

@inline function csc_put(cs: usize, colIdx: usize, colVal: usize, c: i32, r: i32, x: f32): void {
  const pc = cs + (<usize>c << 2);
  const p = load<i32>(pc);
  store<i32>(colIdx + (<usize>p << 2), r);
  store<f32>(colVal + (<usize>p << 2), x);
  store<i32>(pc, p + 1);
}

/**
 * The column-compressed W [R, K] with only the entries whose row r is live (live[r] != 0, one f32
 * per row: an ablation's node mask, 0 where a node is ablated): outPtr [K+1], outIdx / outVal
 * [≤ nnz], each column's entries in their order. Returns the entries kept. Thread 0 writes it
 * all (one pass over the entries; call it with one thread).
 */
export function csc_live_rows_f32(
  colPtr: usize, idx: usize, val: usize, live: usize, K: i32, outPtr: usize, outIdx: usize,
  outVal: usize, tid: i32, nth: i32,
): i32 {
  if (tid != 0) return 0;
  let m = 0;
  store<i32>(outPtr, 0);
  for (let c = 0; c < K; c++) {
    const e0 = load<i32>(colPtr + (<usize>c << 2)), e1 = load<i32>(colPtr + (<usize>c << 2), 4);
    for (let e = e0; e < e1; e++) {
      const r = load<i32>(idx + (<usize>e << 2));
      if (load<f32>(live + (<usize>r << 2)) != 0) {
        store<i32>(outIdx + (<usize>m << 2), r);
        store<f32>(outVal + (<usize>m << 2), load<f32>(val + (<usize>e << 2)));
        m++;
      }
    }
    store<i32>(outPtr + (<usize>(c + 1) << 2), m);
  }
  return m;
}

/** First row of thread tid when rows are split by cost (entries + 1 per row, for the store). */
@inline export function row_split(prefix: usize, R: i32, tid: i32, nth: i32): i32 {
  if (tid <= 0) return 0;
  if (tid >= nth) return R;
  const total = <i64>load<i32>(prefix + (<usize>R << 2)) + <i64>R;
  const target = (total * <i64>tid) / <i64>nth;
  // Smallest r with prefix[r] + r >= target (prefix is nondecreasing).
  let lo = 0, hi = R;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (<i64>load<i32>(prefix + (<usize>mid << 2)) + <i64>mid >= target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Copies src [S, N] into column tiles of width T for the products below: tile t0 (columns
 * [t0, t0 + tw), tw = min(T, N - t0)) at dst + t0·S·4, row s of it at + s·tw·4. When rows are
 * 1 KiB or more apart, a tile's pieces of every row map to few cache sets and evict each other;
 * packed, a tile is one compact block. Threads split rows.
 */
export function spmm_pack_f32(src: usize, S: i32, N: i32, T: i32, dst: usize, tid: i32, nth: i32): void {
  const s0 = part_start(S, tid, nth), s1 = part_start(S, tid + 1, nth);
  for (let t0 = 0; t0 < N; t0 += T) {
    const tw = min(T, N - t0);
    const tile = dst + ((<usize>t0 * <usize>S) << 2);
    for (let r = s0; r < s1; r++) {
      const from = src + ((<usize>r * <usize>N + <usize>t0) << 2);
      const to = tile + ((<usize>r * <usize>tw) << 2);
      let n = 0;
      for (; n + 4 <= tw; n += 4) v128.store(to + (<usize>n << 2), v128.load(from + (<usize>n << 2)));
      for (; n < tw; n++) store<f32>(to + (<usize>n << 2), load<f32>(from + (<usize>n << 2)));
    }
  }
}

/**
 * out[r, :] = init + Σ_e val[e]·src[idx[e], :] over compressed row r's entries, for the rows of
 * this thread. init: mode 0 → 0, 1 → bias[r], 2 → out[r, :] itself (accumulate). src holds S
 * rows of N, plain [S, N] or (packed != 0) in the tiles of spmm_pack_f32; out is [R, N]. Column
 * tiles of width T go outermost so one tile of src serves all rows from cache.
 */
@inline function spmm_rows(
  prefix: usize, idx: usize, val: usize, src: usize, S: i32, T: i32, packed: i32, out: usize,
  bias: usize, mode: i32, R: i32, N: i32, tid: i32, nth: i32,
): void {
  const r0 = row_split(prefix, R, tid, nth), r1 = row_split(prefix, R, tid + 1, nth);
  const rowBytes = <usize>N << 2;
  for (let t0 = 0; t0 < N; t0 += T) {
    const tw = min(T, N - t0), tEnd = t0 + tw;
    const tile = packed ? src + ((<usize>t0 * <usize>S) << 2) : src + (<usize>t0 << 2);
    const srcRow = packed ? <usize>tw << 2 : rowBytes;
    for (let r = r0; r < r1; r++) {
      const pr = prefix + (<usize>r << 2);
      const e0 = <usize>load<i32>(pr), e1 = <usize>load<i32>(pr, 4);
      const o = out + <usize>r * rowBytes;
      const b: f32 = mode == 1 ? load<f32>(bias + (<usize>r << 2)) : 0;
      const bv = f32x4.splat(b);
      let n = t0;
      for (; n + 32 <= tEnd; n += 32) {
        const on = o + (<usize>n << 2);
        const xn = tile + (<usize>(n - t0) << 2);
        let a0 = bv, a1 = bv, a2 = bv, a3 = bv, a4 = bv, a5 = bv, a6 = bv, a7 = bv;
        if (mode == 2) {
          a0 = v128.load(on, 0); a1 = v128.load(on, 16); a2 = v128.load(on, 32);
          a3 = v128.load(on, 48); a4 = v128.load(on, 64); a5 = v128.load(on, 80);
          a6 = v128.load(on, 96); a7 = v128.load(on, 112);
        }
        for (let e = e0; e < e1; e++) {
          const wv = f32x4.splat(load<f32>(val + (e << 2)));
          const x = xn + <usize>load<i32>(idx + (e << 2)) * srcRow;
          a0 = f32x4.add(a0, f32x4.mul(wv, v128.load(x, 0)));
          a1 = f32x4.add(a1, f32x4.mul(wv, v128.load(x, 16)));
          a2 = f32x4.add(a2, f32x4.mul(wv, v128.load(x, 32)));
          a3 = f32x4.add(a3, f32x4.mul(wv, v128.load(x, 48)));
          a4 = f32x4.add(a4, f32x4.mul(wv, v128.load(x, 64)));
          a5 = f32x4.add(a5, f32x4.mul(wv, v128.load(x, 80)));
          a6 = f32x4.add(a6, f32x4.mul(wv, v128.load(x, 96)));
          a7 = f32x4.add(a7, f32x4.mul(wv, v128.load(x, 112)));
        }
        v128.store(on, a0, 0); v128.store(on, a1, 16); v128.store(on, a2, 32);
        v128.store(on, a3, 48); v128.store(on, a4, 64); v128.store(on, a5, 80);
        v128.store(on, a6, 96); v128.store(on, a7, 112);
      }
      for (; n + 4 <= tEnd; n += 4) {
        const on = o + (<usize>n << 2);
        const xn = tile + (<usize>(n - t0) << 2);
        let a = mode == 2 ? v128.load(on) : bv;
        for (let e = e0; e < e1; e++) {
          const wv = f32x4.splat(load<f32>(val + (e << 2)));
          a = f32x4.add(a, f32x4.mul(wv, v128.load(xn + <usize>load<i32>(idx + (e << 2)) * srcRow)));
        }
        v128.store(on, a);
      }
      for (; n < tEnd; n++) {
        const on = o + (<usize>n << 2);
        const xn = tile + (<usize>(n - t0) << 2);
        let a: f32 = mode == 2 ? load<f32>(on) : b;
        for (let e = e0; e < e1; e++) {
          a += load<f32>(val + (e << 2)) * load<f32>(xn + <usize>load<i32>(idx + (e << 2)) * srcRow);
        }
        store<f32>(on, a);
      }
    }
  }
}

/**
 * y[R, N] = W·x + bias from the row-compressed W [R, K]; bias = 0 means none. x [K, N], read in
 * column tiles of width T, plain or packed by spmm_pack_f32. rowPtr [R+1] and idx/val: the CSR
 * form.
 */
export function spmm_forward_f32(
  rowPtr: usize, idx: usize, val: usize, x: usize, T: i32, packed: i32, y: usize, bias: usize,
  R: i32, K: i32, N: i32, tid: i32, nth: i32,
): void {
  spmm_rows(rowPtr, idx, val, x, K, T, packed, y, bias, bias != 0 ? 1 : 0, R, N, tid, nth);
}

/**
 * dx[K, N] (+)= Wᵀ·dy from the column-compressed W [R, K]; accumulate 0 overwrites. dy [R, N],
 * read in column tiles of width T, plain or packed by spmm_pack_f32. colPtr [K+1] and idx/val:
 * the CSC form.
 */
export function spmm_backward_input_f32(
  colPtr: usize, idx: usize, val: usize, dy: usize, T: i32, packed: i32, dx: usize,
  accumulate: i32, R: i32, K: i32, N: i32, tid: i32, nth: i32,
): void {
  spmm_rows(colPtr, idx, val, dy, R, T, packed, dx, 0, accumulate != 0 ? 2 : 0, K, N, tid, nth);
}

// Weight gradients at the kept positions only (the sparse-gradient mode, src/train/kept_grads.ts):
// a sampled dense-dense product (SDDMM) over the CSR pattern of W. Entry e = (r, c) of the
// pattern gets dW[r, c] = Σ_n dy[r, n]·x[c, n], summed in the dense GEMM's order (n = 0 .. N-1,
// f32 multiply then f32 add, one accumulator from 0), so the result equals the dense weight
// gradient at that position bit for bit, whatever the thread count, tile or packing. Four entries
// of a row share one accumulator vector, one per lane: for four tokens, each entry's products
// dy[r, n..n+3]·x[c, n..n+3] are one f32x4 multiply, a 4×4 transpose turns the four entries'
// products into four vectors of one token each, and the lanes add them token by token. A row
// with more than four entries left takes eight at a time in two such vectors, whose add chains
// run side by side.

// The entry group's four x rows at token byte offset nb: acc + the products of tokens n..n+3,
// added in token order per lane.
@inline function sddmm_quad(
  acc: v128, g: v128, x0: usize, x1: usize, x2: usize, x3: usize, nb: usize,
): v128 {
  const p0 = f32x4.mul(g, v128.load(x0 + nb)), p1 = f32x4.mul(g, v128.load(x1 + nb));
  const p2 = f32x4.mul(g, v128.load(x2 + nb)), p3 = f32x4.mul(g, v128.load(x3 + nb));
  const t01 = v128.shuffle<f32>(p0, p1, 0, 4, 1, 5), t23 = v128.shuffle<f32>(p2, p3, 0, 4, 1, 5);
  const u01 = v128.shuffle<f32>(p0, p1, 2, 6, 3, 7), u23 = v128.shuffle<f32>(p2, p3, 2, 6, 3, 7);
  acc = f32x4.add(acc, v128.shuffle<f32>(t01, t23, 0, 1, 4, 5));
  acc = f32x4.add(acc, v128.shuffle<f32>(t01, t23, 2, 3, 6, 7));
  acc = f32x4.add(acc, v128.shuffle<f32>(u01, u23, 0, 1, 4, 5));
  return f32x4.add(acc, v128.shuffle<f32>(u01, u23, 2, 3, 6, 7));
}

// The group's products of one token (byte offset nb), added to acc.
@inline function sddmm_one(
  acc: v128, d: usize, x0: usize, x1: usize, x2: usize, x3: usize, nb: usize,
): v128 {
  let col = f32x4.splat(load<f32>(x0 + nb));
  col = f32x4.replace_lane(col, 1, load<f32>(x1 + nb));
  col = f32x4.replace_lane(col, 2, load<f32>(x2 + nb));
  col = f32x4.replace_lane(col, 3, load<f32>(x3 + nb));
  return f32x4.add(acc, f32x4.mul(f32x4.splat(load<f32>(d + nb)), col));
}

// Row address of lane l of the entry group at pi (idx), x tile at tile: missing lanes (l ≥ lanes)
// repeat the group's first entry; their sums are computed and never stored.
@inline function sddmm_row(pi: usize, l: i32, lanes: i32, tile: usize, xRow: usize): usize {
  return tile + <usize>load<i32>(pi + (<usize>(l < lanes ? l : 0) << 2)) * xRow;
}

/**
 * out[e] = Σ_n dy[r, n]·x[idx[e], n] for every entry e of the CSR pattern (row r's entries at
 * [rowPtr[r], rowPtr[r+1])), in CSR order; out has nnz floats and is overwritten. dy [R, N] and
 * x [K, N] plain; tokens go in tiles of T (the sums pass through out between tiles). Threads
 * split rows by their entry counts.
 */
export function sddmm_f32(
  rowPtr: usize, idx: usize, R: i32, dy: usize, x: usize, T: i32, N: i32, out: usize, tid: i32,
  nth: i32,
): void {
  const r0 = row_split(rowPtr, R, tid, nth), r1 = row_split(rowPtr, R, tid + 1, nth);
  const rowBytes = <usize>N << 2;
  for (let t0 = 0; t0 < N; t0 += T) {
    const tw = min(T, N - t0), tw4 = tw & ~3;
    const tile = x + (<usize>t0 << 2);
    const xRow: usize = rowBytes;
    for (let r = r0; r < r1; r++) {
      const pr = rowPtr + (<usize>r << 2);
      const e0 = load<i32>(pr), e1 = load<i32>(pr, 4);
      const d = dy + <usize>r * rowBytes + (<usize>t0 << 2);
      let e = e0;
      for (; e1 - e > 4; e += 8) {
        const lanesB = min(4, e1 - e - 4);
        const pi = idx + (<usize>e << 2), piB = pi + 16;
        const a0 = sddmm_row(pi, 0, 4, tile, xRow), a1 = sddmm_row(pi, 1, 4, tile, xRow);
        const a2 = sddmm_row(pi, 2, 4, tile, xRow), a3 = sddmm_row(pi, 3, 4, tile, xRow);
        const b0 = sddmm_row(piB, 0, lanesB, tile, xRow), b1 = sddmm_row(piB, 1, lanesB, tile, xRow);
        const b2 = sddmm_row(piB, 2, lanesB, tile, xRow), b3 = sddmm_row(piB, 3, lanesB, tile, xRow);
        const o = out + (<usize>e << 2), oB = o + 16;
        let accA = f32x4.splat(0), accB = accA;
        if (t0 > 0) {
          accA = v128.load(o);
          accB = load_f32x4_partial(oB, lanesB);
        }
        let n = 0;
        for (; n < tw4; n += 4) {
          const nb = <usize>n << 2;
          const g = v128.load(d + nb);
          accA = sddmm_quad(accA, g, a0, a1, a2, a3, nb);
          accB = sddmm_quad(accB, g, b0, b1, b2, b3, nb);
        }
        for (; n < tw; n++) {
          const nb = <usize>n << 2;
          accA = sddmm_one(accA, d, a0, a1, a2, a3, nb);
          accB = sddmm_one(accB, d, b0, b1, b2, b3, nb);
        }
        v128.store(o, accA);
        store_f32x4_partial(oB, accB, lanesB);
      }
      if (e < e1) {
        const lanes = e1 - e;
        const pi = idx + (<usize>e << 2);
        const x0 = sddmm_row(pi, 0, lanes, tile, xRow), x1 = sddmm_row(pi, 1, lanes, tile, xRow);
        const x2 = sddmm_row(pi, 2, lanes, tile, xRow), x3 = sddmm_row(pi, 3, lanes, tile, xRow);
        const o = out + (<usize>e << 2);
        let acc = f32x4.splat(0);
        if (t0 > 0) acc = load_f32x4_partial(o, lanes);
        let n = 0;
        for (; n < tw4; n += 4) {
          const nb = <usize>n << 2;
          acc = sddmm_quad(acc, v128.load(d + nb), x0, x1, x2, x3, nb);
        }
        for (; n < tw; n++) acc = sddmm_one(acc, d, x0, x1, x2, x3, <usize>n << 2);
        store_f32x4_partial(o, acc, lanes);
      }
    }
  }
}

/** out[e] = dense[r·K + idx[e]] for every entry e of the CSR pattern (rows split by entries). */
export function csr_gather_f32(
  rowPtr: usize, idx: usize, R: i32, K: i32, dense: usize, out: usize, tid: i32, nth: i32,
): void {
  const r0 = row_split(rowPtr, R, tid, nth), r1 = row_split(rowPtr, R, tid + 1, nth);
  for (let r = r0; r < r1; r++) {
    const pr = rowPtr + (<usize>r << 2);
    const e0 = load<i32>(pr), e1 = load<i32>(pr, 4);
    const row = dense + ((<usize>r * <usize>K) << 2);
    for (let e = e0; e < e1; e++) {
      const c = load<i32>(idx + (<usize>e << 2));
      store<f32>(out + (<usize>e << 2), load<f32>(row + (<usize>c << 2)));
    }
  }
}

/**
 * Re-reads the values of both compressed forms from the dense w [R, K] at the stored positions
 * (after an optimizer step that kept the pattern). Rows (CSR) and columns (CSC) are split by
 * entries. This thread's count of positions whose value is now ±0 goes to zeros[tid] (CSR pass);
 * returns nth, the number of counts written.
 */
export function sparse_refresh_values_f32(
  w: usize, R: i32, K: i32, rowPtr: usize, rowIdx: usize, rowVal: usize, colPtr: usize,
  colIdx: usize, colVal: usize, zeros: usize, tid: i32, nth: i32,
): i32 {
  const r0 = row_split(rowPtr, R, tid, nth), r1 = row_split(rowPtr, R, tid + 1, nth);
  let z = 0;
  for (let r = r0; r < r1; r++) {
    const pr = rowPtr + (<usize>r << 2);
    const e0 = load<i32>(pr), e1 = load<i32>(pr, 4);
    const row = w + ((<usize>r * <usize>K) << 2);
    for (let e = e0; e < e1; e++) {
      const v = load<f32>(row + (<usize>load<i32>(rowIdx + (<usize>e << 2)) << 2));
      store<f32>(rowVal + (<usize>e << 2), v);
      if (v == 0) z++;
    }
  }
  store<i32>(zeros + (<usize>tid << 2), z);
  const k0 = row_split(colPtr, K, tid, nth), k1 = row_split(colPtr, K, tid + 1, nth);
  const rowBytes = <usize>K << 2;
  for (let c = k0; c < k1; c++) {
    const pc = colPtr + (<usize>c << 2);
    const e0 = load<i32>(pc), e1 = load<i32>(pc, 4);
    const col = w + (<usize>c << 2);
    for (let e = e0; e < e1; e++) {
      const v = load<f32>(col + <usize>load<i32>(colIdx + (<usize>e << 2)) * rowBytes);
      store<f32>(colVal + (<usize>e << 2), v);
    }
  }
  return nth;
}

