// Shared helpers for all kernels.
//
// Conventions (every kernel follows them):
// - Pointers are byte offsets into the one shared linear memory; f32 data is 16-byte aligned.
// - Activations are feature-major: a [C, N] tensor stores channel c of token n at c*N + n, so
//   per-token work vectorises over tokens and sparse weights stream contiguous rows.
// - Every exported kernel ends with (tid, nth): thread tid of nth computes its share. Each output
//   element is produced by exactly one thread, with a reduction order that does not depend on nth
//   or on where the element falls in a tile, so 1 and 2 threads give bit-identical results.

/** Start of thread tid's share of n items, split in contiguous chunks. */
@inline export function part_start(n: i32, tid: i32, nth: i32): i32 {
  return <i32>((<i64>n * <i64>tid) / <i64>nth);
}

/** Start of thread tid's share of n items when chunks must be multiples of `align`. */
@inline export function part_start_aligned(n: i32, align: i32, tid: i32, nth: i32): i32 {
  const blocks = (n + align - 1) / align;
  const s = <i32>((<i64>blocks * <i64>tid) / <i64>nth) * align;
  return s < n ? s : n;
}

/** Count of NaN/Inf entries among n floats at p (one thread; a check, not a hot path). */
export function count_nonfinite(p: usize, n: i32, tid: i32, nth: i32): i32 {
  let bad = 0;
  for (let i = 0; i < n; i++) {
    const x = load<f32>(p + (<usize>i << 2));
    if (!isFinite<f32>(x)) bad++;
  }
  return bad;
}

/** y[i] = value for i in this thread's share of n (shares cut at multiples of 4 floats). */
export function fill_f32(p: usize, n: i32, value: f32, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  const v = f32x4.splat(value);
  let i = s;
  for (; i + 16 <= e; i += 16) {
    const q = p + (<usize>i << 2);
    v128.store(q, v);
    v128.store(q, v, 16);
    v128.store(q, v, 32);
    v128.store(q, v, 48);
  }
  for (; i + 4 <= e; i += 4) v128.store(p + (<usize>i << 2), v);
  for (; i < e; i++) store<f32>(p + (<usize>i << 2), value);
}
