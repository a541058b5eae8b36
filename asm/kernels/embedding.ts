// Table lookups by token id, forward and backward: the token embedding (wte [V,C] row-major into
// feature-major activations [C,N]) and the bigram table (docs/method.md §1: the current token's row of a
// dense [V,V] table is added to the logits [V,N]). Both are the same gather of table rows into
// columns, one overwriting and one accumulating; the backwards are the same scatter-add.
//
// A tile of 4 tokens × 4 channels is moved with one 4×4 f32x4 transpose. The forward splits tokens
// between threads; the backward splits channels (so each gradient entry has one writer) and adds
// tokens in order n = 0..N-1, which makes it deterministic even when tokens repeat.
// Token ids outside [0, V) read as zero rows (forward) and are skipped (backward), so memory stays
// safe; the TS wrappers reject them beforehand with i32_find_out_of_range.
import { part_start_aligned } from "./common";

/** Index of the first of n i32 at p outside [lo, hi), or -1 (thread 0 scans all; others return -1). */
export function i32_find_out_of_range(p: usize, n: i32, lo: i32, hi: i32, tid: i32, nth: i32): i32 {
  if (tid != 0) return -1;
  for (let i = 0; i < n; i++) {
    const v = load<i32>(p + (<usize>i << 2));
    if (v < lo || v >= hi) return i;
  }
  return -1;
}

// Transpose helpers: rows r0..r3 → columns.
@inline function tr_lo(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 0, 4, 1, 5);
}
@inline function tr_hi(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 2, 6, 3, 7);
}
@inline function cat_lo(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 0, 1, 4, 5);
}
@inline function cat_hi(a: v128, b: v128): v128 {
  return f32x4.shuffle(a, b, 2, 3, 6, 7);
}

/** Byte offset of row t of a [V, C] table, or -1 when t is out of range. */
@inline function row_offset(t: i32, C: i32, V: i32): isize {
  return <u32>t < <u32>V ? <isize>t * <isize>C << 2 : -1;
}

// Channel blocks keep the rows a token tile touches few: a tile reads 4 table rows and writes CB
// activation rows, and the same CB rows serve every tile of the block (TLB- and cache-friendly
// when rows are long, e.g. the 8 KB rows of [2048, 2048] logits).
const CB: i32 = 64;

@inline function gather_rows(out: usize, tokens: usize, table: usize, C: i32, N: i32, V: i32, accumulate: bool, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  const rowBytes = <usize>N << 2;
  const C4 = C & ~3;
  for (let cb = 0; cb < C; cb += CB) {
    const ce = min(C, cb + CB), ce4 = min(C4, ce);
    let n = s;
    for (; n + 4 <= e; n += 4) {
      const o0 = row_offset(load<i32>(tokens + (<usize>n << 2)), C, V);
      const o1 = row_offset(load<i32>(tokens + (<usize>n << 2), 4), C, V);
      const o2 = row_offset(load<i32>(tokens + (<usize>n << 2), 8), C, V);
      const o3 = row_offset(load<i32>(tokens + (<usize>n << 2), 12), C, V);
      const zero = f32x4.splat(0);
      const dst = out + (<usize>n << 2);
      let c = cb;
      for (; c < ce4; c += 4) {
        const cbytes = <usize>c << 2;
        const r0 = o0 >= 0 ? v128.load(table + <usize>o0 + cbytes) : zero;
        const r1 = o1 >= 0 ? v128.load(table + <usize>o1 + cbytes) : zero;
        const r2 = o2 >= 0 ? v128.load(table + <usize>o2 + cbytes) : zero;
        const r3 = o3 >= 0 ? v128.load(table + <usize>o3 + cbytes) : zero;
        const t0 = tr_lo(r0, r1), t1 = tr_hi(r0, r1), t2 = tr_lo(r2, r3), t3 = tr_hi(r2, r3);
        const p = dst + <usize>c * rowBytes;
        let c0 = cat_lo(t0, t2), c1 = cat_hi(t0, t2), c2 = cat_lo(t1, t3), c3 = cat_hi(t1, t3);
        if (accumulate) {
          c0 = f32x4.add(v128.load(p), c0);
          c1 = f32x4.add(v128.load(p + rowBytes), c1);
          c2 = f32x4.add(v128.load(p + 2 * rowBytes), c2);
          c3 = f32x4.add(v128.load(p + 3 * rowBytes), c3);
        }
        v128.store(p, c0);
        v128.store(p + rowBytes, c1);
        v128.store(p + 2 * rowBytes, c2);
        v128.store(p + 3 * rowBytes, c3);
      }
      for (; c < ce; c++) {
        for (let j = 0; j < 4; j++) {
          const oj = j == 0 ? o0 : j == 1 ? o1 : j == 2 ? o2 : o3;
          const v: f32 = oj >= 0 ? load<f32>(table + <usize>oj + (<usize>c << 2)) : 0;
          const p = out + <usize>c * rowBytes + (<usize>(n + j) << 2);
          store<f32>(p, accumulate ? load<f32>(p) + v : v);
        }
      }
    }
    for (; n < e; n++) {
      const oj = row_offset(load<i32>(tokens + (<usize>n << 2)), C, V);
      for (let c = cb; c < ce; c++) {
        const v: f32 = oj >= 0 ? load<f32>(table + <usize>oj + (<usize>c << 2)) : 0;
        const p = out + <usize>c * rowBytes + (<usize>n << 2);
        store<f32>(p, accumulate ? load<f32>(p) + v : v);
      }
    }
  }
}

// The scatter-add splits channels between threads (each gradient entry has one writer) and, per
// block of CB channels, adds tokens in order n = 0..N-1.
@inline function scatter_add_rows(dtable: usize, dout: usize, tokens: usize, C: i32, N: i32, V: i32, tid: i32, nth: i32): void {
  const cs = part_start_aligned(C, 4, tid, nth), ce = part_start_aligned(C, 4, tid + 1, nth);
  const rowBytes = <usize>N << 2;
  const N4 = N & ~3;
  for (let cb = cs; cb < ce; cb += CB) {
    const be = min(ce, cb + CB);
    const be4 = cb + ((be - cb) & ~3);
    let n = 0;
    for (; n < N4; n += 4) {
      const nb = <usize>n << 2;
      const o0 = row_offset(load<i32>(tokens + nb), C, V), o1 = row_offset(load<i32>(tokens + nb, 4), C, V);
      const o2 = row_offset(load<i32>(tokens + nb, 8), C, V), o3 = row_offset(load<i32>(tokens + nb, 12), C, V);
      let c = cb;
      for (; c < be4; c += 4) {
        const src = dout + <usize>c * rowBytes + nb, cbytes = <usize>c << 2;
        const r0 = v128.load(src), r1 = v128.load(src + rowBytes);
        const r2 = v128.load(src + 2 * rowBytes), r3 = v128.load(src + 3 * rowBytes);
        const t0 = tr_lo(r0, r1), t1 = tr_hi(r0, r1), t2 = tr_lo(r2, r3), t3 = tr_hi(r2, r3);
        // Columns of the tile are tokens n..n+3 (channels c..c+3 each); added in token order.
        if (o0 >= 0) add_f32x4(dtable + <usize>o0 + cbytes, cat_lo(t0, t2));
        if (o1 >= 0) add_f32x4(dtable + <usize>o1 + cbytes, cat_hi(t0, t2));
        if (o2 >= 0) add_f32x4(dtable + <usize>o2 + cbytes, cat_lo(t1, t3));
        if (o3 >= 0) add_f32x4(dtable + <usize>o3 + cbytes, cat_hi(t1, t3));
      }
      for (; c < be; c++) {
        for (let j = 0; j < 4; j++) {
          const oj = j == 0 ? o0 : j == 1 ? o1 : j == 2 ? o2 : o3;
          if (oj < 0) continue;
          const p = dtable + <usize>oj + (<usize>c << 2);
          store<f32>(p, load<f32>(p) + load<f32>(dout + <usize>c * rowBytes + nb + (<usize>j << 2)));
        }
      }
    }
    for (; n < N; n++) {
      const o = row_offset(load<i32>(tokens + (<usize>n << 2)), C, V);
      if (o < 0) continue;
      for (let c = cb; c < be; c++) {
        const p = dtable + <usize>o + (<usize>c << 2);
        store<f32>(p, load<f32>(p) + load<f32>(dout + <usize>c * rowBytes + (<usize>n << 2)));
      }
    }
  }
}

@inline function add_f32x4(p: usize, v: v128): void {
  v128.store(p, f32x4.add(v128.load(p), v));
}

/** out[c,n] = wte[tokens[n]·C + c]: token embedding into feature-major out [C,N]; wte [V,C]. */
export function embedding_forward(out: usize, tokens: usize, wte: usize, C: i32, N: i32, V: i32, tid: i32, nth: i32): void {
  gather_rows(out, tokens, wte, C, N, V, false, tid, nth);
}

/** dwte[tokens[n]·C + c] += dout[c,n], tokens in order (threads split channels). */
export function embedding_backward(dwte: usize, dout: usize, tokens: usize, C: i32, N: i32, V: i32, tid: i32, nth: i32): void {
  scatter_add_rows(dwte, dout, tokens, C, N, V, tid, nth);
}

/** logits[v,n] += table[tokens[n]·V + v]: the bigram row of each token; table [V,V], logits [V,N]. */
export function bigram_forward(logits: usize, tokens: usize, table: usize, V: i32, N: i32, tid: i32, nth: i32): void {
  gather_rows(logits, tokens, table, V, N, V, true, tid, nth);
}

/** dtable[tokens[n]·V + v] += dlogits[v,n], tokens in order (threads split rows v). */
export function bigram_backward(dtable: usize, dlogits: usize, tokens: usize, V: i32, N: i32, tid: i32, nth: i32): void {
  scatter_add_rows(dtable, dlogits, tokens, V, N, V, tid, nth);
}
