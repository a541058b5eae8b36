// Dense f32 GEMM with WASM SIMD: C[M,N] (+)= op(A)[M,K] · op(B)[K,N] + bias[M], row-major.
//
// Structure as in GotoBLAS/BLIS and XNNPACK: op(B) is packed into NR-column panels and op(A) into
// MR-row panels (k-major, contiguous, zero-padded at the edges), so the micro-kernel streams both
// with unit stride whatever the transposes were: packing absorbs transA/transB. Cache blocks:
// KC steps of k, MC rows of A (the packed A block stays in L2) and NC columns of B. Each thread
// owns a contiguous, tile-aligned range of the columns (or of the rows when M > N, so that the
// operand every thread packs whole is the smaller one) and packs its own panels.
//
// Micro-kernels: MR×NR accumulators of f32x4 held in registers (x86 gives wasm engines 15 vector
// registers, which caps the tile near 4×8). Without guard pages (Deno's V8) every load carries
// an explicit bounds check, so the front end, not the multipliers, limits a kernel: broadcasting
// half of the A values by lane shuffles of one v128 load balances it against the shuffle units
// (`mixsplat`). Variants live side by side; bench/gemm_bench.ts measures them.
// The micro-kernels are generated (asm/gen_gemm.ts: AssemblyScript has neither multi-value returns
// nor compile-time loops over registers); they differ only in tile shape and in how A is broadcast.
//
// Summation order (one fixed order, so results depend neither on tiling, thread count nor
// packing, and src/reference/gemm.ts matches bit for bit). For each element C[i,j]:
//   acc = accumulate ? (bias ? C[i,j] + bias[i] : C[i,j]) : (bias ? bias[i] : 0)
//   acc = acc + A[i,k] * B[k,j]   for k = 0 .. K-1 in order: f32 multiply, then f32 add (no FMA)
// One accumulator per element (a lane of an f32x4). Between KC blocks the accumulator goes
// through C unchanged, which keeps the same order. With K = 0, C gets just the initial value.

import { part_start, part_start_aligned } from "./common";
import { INIT_BIAS, INIT_C, INIT_C_BIAS, ukernel } from "./gemm_ukernels";

/** Steps of k per packed block. */
const KC: i32 = 256;
/** Rows of A per packed block (a multiple of every MR below). */
const MC: i32 = 120;
/** Columns of B per packed block (a multiple of every NR below). */
const NC: i32 = 1024;
/** Largest micro-tile (MR ≤ 8, NR ≤ 16), for the edge-tile buffer. */
const TILE_MAX: i32 = 8 * 16;
const PACK_A_BYTES: usize = <usize>(MC * KC) << 2;
const PACK_B_BYTES: usize = <usize>(NC * KC) << 2;
/** Scratch bytes per thread: packed A block, packed B block, one edge tile. */
const SCRATCH_BYTES: usize = PACK_A_BYTES + PACK_B_BYTES + (<usize>TILE_MAX << 2);


/** Scratch bytes each thread needs (the wrapper allocates threads × this). */
export function gemm_f32_scratch_bytes(tid: i32, nth: i32): i32 {
  return <i32>SCRATCH_BYTES;
}

/**
 * Transposes the 4×4 block at src (rows lds bytes apart) into dst (rows ldd bytes apart):
 * dst row q = (src[0][q], src[1][q], src[2][q], src[3][q]).
 */
@inline function transpose_4x4(src: usize, lds: usize, dst: usize, ldd: usize): void {
  const r0 = v128.load(src), r1 = v128.load(src + lds);
  const r2 = v128.load(src + 2 * lds), r3 = v128.load(src + 3 * lds);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + ldd, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * ldd, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * ldd, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

/**
 * Packs `lanes` (≤ w) consecutive rows of a row-major matrix (ld bytes apart), columns
 * [0, kc), into one panel of kc×w floats: panel[k][r] = src[r][k]; lanes past `lanes` are 0.
 * This is op(A) for plain A and op(B) for transposed B: both gather across rows.
 */
function pack_gather(panel: usize, src: usize, ld: usize, lanes: i32, w: i32, kc: i32): void {
  const step = <usize>w << 2;
  if (lanes == w && (w & 3) == 0) {
    const k4 = kc & ~3;
    for (let g = 0; g < w; g += 4) {
      let s = src + <usize>g * ld, d = panel + (<usize>g << 2);
      for (let k = 0; k < k4; k += 4) {
        transpose_4x4(s, ld, d, step);
        s += 16;
        d += step << 2;
      }
    }
    for (let k = k4; k < kc; k++) {
      for (let r = 0; r < w; r++) {
        const v = load<f32>(src + <usize>r * ld + (<usize>k << 2));
        store<f32>(panel + <usize>k * step + (<usize>r << 2), v);
      }
    }
    return;
  }
  for (let r = 0; r < w; r++) {
    let d = panel + (<usize>r << 2);
    if (r < lanes) {
      let s = src + <usize>r * ld;
      for (let k = 0; k < kc; k++) {
        store<f32>(d, load<f32>(s));
        s += 4;
        d += step;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        store<f32>(d, 0);
        d += step;
      }
    }
  }
}

/**
 * Packs `lanes` (≤ w) consecutive columns of a row-major matrix (rows ld bytes apart), rows
 * [0, kc), into one panel of kc×w floats: panel[k][j] = src[k][j]; lanes past `lanes` are 0.
 * This is op(A) for transposed A and op(B) for plain B: row segments copied as they are.
 */
function pack_copy(panel: usize, src: usize, ld: usize, lanes: i32, w: i32, kc: i32): void {
  const step = <usize>w << 2;
  let s = src, d = panel;
  if (lanes == w && (w & 3) == 0) {
    for (let k = 0; k < kc; k++) {
      for (let j = 0; j < w; j += 4) {
        v128.store(d + (<usize>j << 2), v128.load(s + (<usize>j << 2)));
      }
      s += ld;
      d += step;
    }
    return;
  }
  for (let k = 0; k < kc; k++) {
    let j = 0;
    for (; j < lanes; j++) store<f32>(d + (<usize>j << 2), load<f32>(s + (<usize>j << 2)));
    for (; j < w; j++) store<f32>(d + (<usize>j << 2), 0);
    s += ld;
    d += step;
  }
}

/**
 * Packs op(A)[i0:i0+mc, p0:p0+kc] into mr-row panels of kc×mr floats (k-major), zero-padded
 * past row mc. A is stored [M,K], or [K,M] when trans_a.
 */
function pack_a(
  dst: usize, a: usize, trans_a: i32, M: i32, K: i32, i0: i32, mc: i32, p0: i32, kc: i32, mr: i32,
): void {
  for (let ir = 0; ir < mc; ir += mr) {
    const panel = dst + (<usize>ir * <usize>kc << 2);
    const i = <usize>(i0 + ir);
    const rows = min(mr, mc - ir);
    if (trans_a) {
      pack_copy(panel, a + ((<usize>p0 * <usize>M + i) << 2), <usize>M << 2, rows, mr, kc);
    } else {
      pack_gather(panel, a + ((i * <usize>K + <usize>p0) << 2), <usize>K << 2, rows, mr, kc);
    }
  }
}

/**
 * Packs op(B)[p0:p0+kc, j0:j0+nc] into nr-column panels of kc×nr floats (k-major),
 * zero-padded past column nc. B is stored [K,N], or [N,K] when trans_b.
 */
function pack_b(
  dst: usize, b: usize, trans_b: i32, N: i32, K: i32, j0: i32, nc: i32, p0: i32, kc: i32, nr: i32,
): void {
  for (let jr = 0; jr < nc; jr += nr) {
    const panel = dst + (<usize>jr * <usize>kc << 2);
    const j = <usize>(j0 + jr);
    const cols = min(nr, nc - jr);
    if (trans_b) {
      pack_gather(panel, b + ((j * <usize>K + <usize>p0) << 2), <usize>K << 2, cols, nr, kc);
    } else {
      pack_copy(panel, b + ((<usize>p0 * <usize>N + j) << 2), <usize>N << 2, cols, nr, kc);
    }
  }
}

/** The initial accumulator of C[i,j] (see the summation order above). */
@inline function initial(c: usize, bias: usize, i: i32, accumulate: i32): f32 {
  if (accumulate) return bias ? load<f32>(c) + load<f32>(bias + (<usize>i << 2)) : load<f32>(c);
  return bias ? load<f32>(bias + (<usize>i << 2)) : 0;
}

/** K = 0: C[m0:m1, n0:n1] = its initial values. */
function gemm_init_only(
  N: i32, c: usize, bias: usize, accumulate: i32, m0: i32, m1: i32, n0: i32, n1: i32,
): void {
  for (let i = m0; i < m1; i++) {
    const row = c + (<usize>i * <usize>N << 2);
    for (let j = n0; j < n1; j++) {
      const p = row + (<usize>j << 2);
      store<f32>(p, initial(p, bias, i, accumulate));
    }
  }
}


/**
 * The blocked GEMM on thread tid's share of C, with the mr×nr micro-kernel `kind` (constant
 * after inlining, so each exported variant is its own specialised loop nest).
 */
@inline function gemm_f32(
  kind: i32, mr: i32, nr: i32, M: i32, N: i32, K: i32, a: usize, trans_a: i32, b: usize,
  trans_b: i32, c: usize, bias: usize, accumulate: i32, scratch: usize, tid: i32, nth: i32,
): void {
  // Threads split the larger of M and N, so the operand every thread packs whole is the smaller.
  let m0 = 0, m1 = M, n0 = 0, n1 = N;
  if (M > N) {
    m0 = part_start_aligned(M, mr, tid, nth);
    m1 = part_start_aligned(M, mr, tid + 1, nth);
  } else {
    n0 = part_start_aligned(N, nr, tid, nth);
    n1 = part_start_aligned(N, nr, tid + 1, nth);
  }
  if (m0 >= m1 || n0 >= n1) return;
  if (K <= 0) {
    gemm_init_only(N, c, bias, accumulate, m0, m1, n0, n1);
    return;
  }
  const pa = scratch + <usize>tid * SCRATCH_BYTES;
  const pb = pa + PACK_A_BYTES;
  const tile = pb + PACK_B_BYTES;
  const ldc = <usize>N << 2;
  const ldt = <usize>nr << 2;
  for (let jc = n0; jc < n1; jc += NC) {
    const nc = min(NC, n1 - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      const init = pc > 0 ? INIT_C : accumulate ? (bias ? INIT_C_BIAS : INIT_C) : INIT_BIAS;
      pack_b(pb, b, trans_b, N, K, jc, nc, pc, kc, nr);
      for (let ic = m0; ic < m1; ic += MC) {
        const mc = min(MC, m1 - ic);
        pack_a(pa, a, trans_a, M, K, ic, mc, pc, kc, mr);
        for (let jr = 0; jr < nc; jr += nr) {
          const cols = min(nr, nc - jr);
          const bpanel = pb + (<usize>jr * <usize>kc << 2);
          const cj = c + (<usize>(jc + jr) << 2);
          // Full tiles in one call; a last partial tile (fewer than mr rows or nr columns) runs
          // the same micro-kernel on a buffer that holds its initial values.
          const full = cols == nr ? mc / mr : 0;
          if (full > 0) {
            const bi = bias ? bias + (<usize>ic << 2) : 0;
            ukernel(kind, full, kc, pa, bpanel, cj + <usize>ic * ldc, ldc, init, bi);
          }
          for (let ir = full * mr; ir < mc; ir += mr) {
            const rows = min(mr, mc - ir);
            const apanel = pa + (<usize>ir * <usize>kc << 2);
            const i = ic + ir;
            const ct = cj + <usize>i * ldc;
            for (let r = 0; r < rows; r++) {
              for (let j = 0; j < cols; j++) {
                const p = ct + <usize>r * ldc + (<usize>j << 2);
                const v = pc > 0 ? load<f32>(p) : initial(p, bias, i + r, accumulate);
                store<f32>(tile + <usize>r * ldt + (<usize>j << 2), v);
              }
            }
            ukernel(kind, 1, kc, apanel, bpanel, tile, ldt, INIT_C, 0);
            for (let r = 0; r < rows; r++) {
              for (let j = 0; j < cols; j++) {
                const v = load<f32>(tile + <usize>r * ldt + (<usize>j << 2));
                store<f32>(ct + <usize>r * ldc + (<usize>j << 2), v);
              }
            }
          }
        }
      }
    }
  }
}


// The exported variants, one per micro-kernel of asm/gen_gemm.ts (in its order): each computes
// C[M,N] (+)= op(A)[M,K] · op(B)[K,N] + bias[M]. A is [M,K] ([K,M] if trans_a), B is [K,N]
// ([N,K] if trans_b), C is [M,N]; bias is 0 for none; accumulate adds to C. scratch: threads ×
// gemm_f32_scratch_bytes() bytes.

/** GEMM with the 4x8_loadsplat micro-kernel. */
export function gemm_f32_4x8_loadsplat(
  M: i32, N: i32, K: i32, a: usize, trans_a: i32, b: usize, trans_b: i32, c: usize, bias: usize,
  accumulate: i32, scratch: usize, tid: i32, nth: i32,
): void {
  gemm_f32(0, 4, 8, M, N, K, a, trans_a, b, trans_b, c, bias, accumulate, scratch, tid, nth);
}

/** GEMM with the 4x8_mixsplat micro-kernel. */
export function gemm_f32_4x8_mixsplat(
  M: i32, N: i32, K: i32, a: usize, trans_a: i32, b: usize, trans_b: i32, c: usize, bias: usize,
  accumulate: i32, scratch: usize, tid: i32, nth: i32,
): void {
  gemm_f32(1, 4, 8, M, N, K, a, trans_a, b, trans_b, c, bias, accumulate, scratch, tid, nth);
}

/** GEMM with the 6x8_mixsplat micro-kernel. */
export function gemm_f32_6x8_mixsplat(
  M: i32, N: i32, K: i32, a: usize, trans_a: i32, b: usize, trans_b: i32, c: usize, bias: usize,
  accumulate: i32, scratch: usize, tid: i32, nth: i32,
): void {
  gemm_f32(2, 6, 8, M, N, K, a, trans_a, b, trans_b, c, bias, accumulate, scratch, tid, nth);
}


/**
 * dbias[c] += Σ_n dout[c, n] for dout [C, N] (the bias gradient of a feature-major linear layer).
 * Per channel, fixed order: four lane sums s_l over n ≡ l (mod 4) for n < N - N%4, in n order;
 * then (s_0 + s_1) + (s_2 + s_3); then the last N%4 entries in order; then dbias[c] += that.
 */
export function bias_backward_f32(
  dbias: usize, dout: usize, C: i32, N: i32, tid: i32, nth: i32,
): void {
  const c0 = part_start(C, tid, nth), c1 = part_start(C, tid + 1, nth);
  const n4 = N & ~3;
  for (let ch = c0; ch < c1; ch++) {
    const row = dout + (<usize>ch * <usize>N << 2);
    let s = f32x4.splat(0);
    for (let n = 0; n < n4; n += 4) s = f32x4.add(s, v128.load(row + (<usize>n << 2)));
    const s01 = f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
    const s23 = f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
    let t: f32 = s01 + s23;
    for (let n = n4; n < N; n++) t += load<f32>(row + (<usize>n << 2));
    const p = dbias + (<usize>ch << 2);
    store<f32>(p, load<f32>(p) + t);
  }
}
