// Elementwise kernels on flat f32 buffers: the residual adds, scaling (weight decay, gradient
// normalisation), copies. Each thread takes a contiguous share of the n elements, cut at multiples
// of 4 so only the last share has a scalar tail; results do not depend on the split.
import { part_start_aligned } from "./common";
import { musl_expf_f32x4 } from "./vmath";

/** out[i] = a[i] + b[i] for i < n (out may alias a or b). */
export function add_f32(out: usize, a: usize, b: usize, n: i32, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** x[i] += y[i] for i < n. */
export function add_inplace_f32(x: usize, y: usize, n: i32, tid: i32, nth: i32): void {
  add_f32(x, x, y, n, tid, nth);
}

/** x[i] *= factor for i < n. */
export function scale_f32(x: usize, n: i32, factor: f32, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  const f = f32x4.splat(factor);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    v128.store(x + o, f32x4.mul(v128.load(x + o), f));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, load<f32>(x + o) * factor);
  }
}

/** dst[i] = src[i] for i < n (the two ranges must not overlap unless dst == src). */
export function copy_f32(dst: usize, src: usize, n: i32, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  if (dst == src) return;
  let i = s;
  for (; i + 4 <= e; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < e; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

/**
 * out[i] = e^inp[i] for i < n, with the bits of Mathf.exp (musl's expf): musl_expf_f32x4 for
 * vectors whose lanes all have |x| < 88, Mathf.exp itself for the others (out may alias inp).
 * Attention's softmax uses the same vector form, so this kernel is what its tests check it with.
 */
export function exp_f32(out: usize, inp: usize, n: i32, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    const x = v128.load(inp + o);
    // |x| < 88 by the bits (musl's own test); NaN's bits are above every finite value's.
    if (i32x4.all_true(i32x4.lt_u(v128.and(x, i32x4.splat(0x7fffffff)), i32x4.splat(0x42b00000)))) {
      v128.store(out + o, musl_expf_f32x4(x));
    } else {
      for (let j = 0; j < 4; j++) store<f32>(out + o + (<usize>j << 2), Mathf.exp(load<f32>(inp + o + (<usize>j << 2))));
    }
  }
  for (; i < e; i++) store<f32>(out + (<usize>i << 2), Mathf.exp(load<f32>(inp + (<usize>i << 2))));
}
