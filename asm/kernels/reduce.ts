// Deterministic reductions of one long f32 buffer: Σx² (for the global gradient RMS, docs/method.md §2:
// g /= rms + 1e-5 with rms = sqrt(mean g²)).
//
// The buffer is cut into fixed blocks of BLOCK floats, whatever the thread count. Pass 1
// (sumsq_blocks_f64, threads split blocks) writes one f64 partial per block; pass 2 (thread 0)
// adds the partials in block order. Inside a block, squares are exact in f64 (24-bit mantissas);
// lanes {0,1} and {2,3} of each quad go to two f64x2 accumulators, combined as
// (a0 + a1) + (a2 + a3) at the block's end, then the block's last n mod 4 floats in order.
import { part_start, part_start_aligned } from "./common";

const BLOCK: i32 = 8192;

/** Number of BLOCK-float blocks (and f64 partials) for an n-float buffer. */
export function sumsq_block_count(n: i32, tid: i32, nth: i32): i32 {
  return (n + BLOCK - 1) / BLOCK;
}

/** partials[b] = Σ x[i]² over block b (f64), for this thread's share of blocks. */
export function sumsq_blocks_f64(x: usize, n: i32, partials: usize, tid: i32, nth: i32): void {
  const nb = (n + BLOCK - 1) / BLOCK;
  const bs = part_start(nb, tid, nth), be = part_start(nb, tid + 1, nth);
  for (let blk = bs; blk < be; blk++) {
    const s = blk * BLOCK, e = min(n, s + BLOCK);
    const e4 = s + ((e - s) & ~3);
    let a01 = f64x2.splat(0), a23 = f64x2.splat(0);
    let i = s;
    for (; i < e4; i += 4) {
      const v = v128.load(x + (<usize>i << 2));
      const lo = f64x2.promote_low_f32x4(v);
      const hi = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
      a01 = f64x2.add(a01, f64x2.mul(lo, lo));
      a23 = f64x2.add(a23, f64x2.mul(hi, hi));
    }
    let sum = (f64x2.extract_lane(a01, 0) + f64x2.extract_lane(a01, 1)) +
      (f64x2.extract_lane(a23, 0) + f64x2.extract_lane(a23, 1));
    for (; i < e; i++) {
      const xi = <f64>load<f32>(x + (<usize>i << 2));
      sum += xi * xi;
    }
    store<f64>(partials + (<usize>blk << 3), sum);
  }
}

/** Σ of the nb partials in order (thread 0; others return 0). */
export function sum_f64(partials: usize, nb: i32, tid: i32, nth: i32): f64 {
  if (tid != 0) return 0;
  let s: f64 = 0;
  for (let b = 0; b < nb; b++) s += load<f64>(partials + (<usize>b << 3));
  return s;
}

/** sqrt(Σ partials / n): the RMS of the n floats whose block partials these are (thread 0). */
export function rms_from_partials(partials: usize, nb: i32, n: i32, tid: i32, nth: i32): f64 {
  if (tid != 0 || n <= 0) return 0;
  return Math.sqrt(sum_f64(partials, nb, 0, 1) / <f64>n);
}

/** g[i] *= f32(1 / (rms + 1e-5)) for i < n: the gradient RMS normalisation step. */
export function scale_by_inv_rms_f32(g: usize, n: i32, rms: f64, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  const f = <f32>(1 / (rms + 1e-5));
  const fv = f32x4.splat(f);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(g + o, f32x4.mul(v128.load(g + o), fv));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    store<f32>(g + o, load<f32>(g + o) * f);
  }
}
