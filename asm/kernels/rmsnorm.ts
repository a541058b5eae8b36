// RMSNorm over the C channels of each token, forward and backward (docs/method.md §1: learnable weight, no
// bias, eps = 2^-23). Activations are feature-major [C, N].
//
//   forward   rstd[n] = 1 / sqrt(Σ_c x[c,n]² / C + eps)        out[c,n] = (x[c,n]·rstd[n])·w[c]
//   backward  dx[c,n] += rstd·dout·w − x·g[n],   g[n] = rstd³·Σ_c (dout·w)·x / C
//             dw[c]   += Σ_n dout[c,n]·x[c,n]·rstd[n]
//
// Per-token sums run over c in order 0..C-1 in f32 (bit-exact with src/reference/rmsnorm.ts). The
// token kernels sweep whole rows (contiguous, 4 tokens per f32x4) and keep per-token partials in an
// [N] buffer, so every load streams. The backward is two calls: rmsnorm_backward_token (threads
// split tokens) computes g[n]; rmsnorm_backward (threads split channels) then owns whole rows of dx
// and whole entries of dw, so dw[c] is summed by one thread in a fixed order.
import { part_start, part_start_aligned } from "./common";
import { zero_f32 } from "./vmath";

const EPS: f32 = 1.1920928955078125e-7;

/** out[c, n] = (inp[c, n]·rstd[n])·weight[c] for tokens s..e of every row: the forward's last pass. */
@inline function scale_rows(out: usize, rstd: usize, inp: usize, weight: usize, C: i32, rowBytes: usize, s: i32, e: i32): void {
  const e4 = s + ((e - s) & ~3);
  for (let c = 0; c < C; c++) {
    const row = inp + <usize>c * rowBytes, orow = out + <usize>c * rowBytes;
    const w = load<f32>(weight + (<usize>c << 2));
    const wv = f32x4.splat(w);
    let n = s;
    for (; n < e4; n += 4) {
      const o = <usize>n << 2;
      v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(row + o), v128.load(rstd + o)), wv));
    }
    for (; n < e; n++) {
      const o = <usize>n << 2;
      store<f32>(orow + o, (load<f32>(row + o) * load<f32>(rstd + o)) * w);
    }
  }
}

/** out[C,N] = RMSNorm(inp[C,N])·weight[C]; writes rstd[N] (kept for the backward). */
export function rmsnorm_forward(out: usize, rstd: usize, inp: usize, weight: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  if (s >= e) return;
  const e4 = s + ((e - s) & ~3);
  const rowBytes = <usize>N << 2;
  // rstd[s..e) first holds Σ x².
  zero_f32(rstd + (<usize>s << 2), e - s);
  for (let c = 0; c < C; c++) {
    const row = inp + <usize>c * rowBytes;
    let n = s;
    for (; n < e4; n += 4) {
      const o = <usize>n << 2;
      const x = v128.load(row + o);
      v128.store(rstd + o, f32x4.add(v128.load(rstd + o), f32x4.mul(x, x)));
    }
    for (; n < e; n++) {
      const o = <usize>n << 2;
      const x = load<f32>(row + o);
      store<f32>(rstd + o, load<f32>(rstd + o) + x * x);
    }
  }
  const cf = <f32>C;
  for (let n = s; n < e; n++) {
    const o = <usize>n << 2;
    store<f32>(rstd + o, <f32>1 / Mathf.sqrt(load<f32>(rstd + o) / cf + EPS));
  }
  scale_rows(out, rstd, inp, weight, C, rowBytes, s, e);
}

/** Lanes of the 4 mask bytes at p as i32 lanes: all ones where the byte is nonzero. */
@inline function mask4(p: usize): v128 {
  return i32x4.ne(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p))), i32x4.splat(0));
}

// With a mask (u8 [C,N], 0 = none), the backward reads dout as abstopk_backward would leave it in
// a zero-filled buffer, 0 + (dout where mask != 0, else 0): the same bits, with no such buffer.
// drow/mrow: the channel's rows of dout and mask; n: the token.
@inline function dout4(drow: usize, mrow: usize, n: i32, masked: bool): v128 {
  const d = v128.load(drow + (<usize>n << 2));
  return masked ? f32x4.add(f32x4.splat(0), v128.and(d, mask4(mrow + <usize>n))) : d;
}
@inline function dout1(drow: usize, mrow: usize, n: i32, masked: bool): f32 {
  const d = load<f32>(drow + (<usize>n << 2));
  return masked ? <f32>0 + (load<u8>(mrow + <usize>n) != 0 ? d : 0) : d;
}

@inline function backward_token_impl(g: usize, dout: usize, mask: usize, inp: usize, weight: usize, rstd: usize, C: i32, N: i32, masked: bool, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  if (s >= e) return;
  const e4 = s + ((e - s) & ~3);
  const rowBytes = <usize>N << 2;
  zero_f32(g + (<usize>s << 2), e - s);
  for (let c = 0; c < C; c++) {
    const off = <usize>c * rowBytes, drow = dout + off, mrow = mask + <usize>c * <usize>N;
    const w = load<f32>(weight + (<usize>c << 2));
    const wv = f32x4.splat(w);
    let n = s;
    for (; n < e4; n += 4) {
      const o = <usize>n << 2;
      const t = f32x4.mul(f32x4.mul(dout4(drow, mrow, n, masked), wv), v128.load(inp + off + o));
      v128.store(g + o, f32x4.add(v128.load(g + o), t));
    }
    for (; n < e; n++) {
      const o = <usize>n << 2;
      store<f32>(g + o, load<f32>(g + o) + (dout1(drow, mrow, n, masked) * w) * load<f32>(inp + off + o));
    }
  }
  const cf = <f32>C;
  for (let n = s; n < e; n++) {
    const o = <usize>n << 2;
    const r = load<f32>(rstd + o);
    store<f32>(g + o, ((load<f32>(g + o) * r) * r) * r / cf);
  }
}

/** Backward, pass 1 (threads split tokens): g[n] = rstd³·Σ_c (dout·w)·x / C into scratch g[N]. */
export function rmsnorm_backward_token(g: usize, dout: usize, inp: usize, weight: usize, rstd: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  backward_token_impl(g, dout, 0, inp, weight, rstd, C, N, false, tid, nth);
}

/** rmsnorm_backward_token with dout masked by mask (u8 [C,N]; 0 = no mask), see dout4. */
export function rmsnorm_backward_token_ex(g: usize, dout: usize, mask: usize, inp: usize, weight: usize, rstd: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  if (mask != 0) backward_token_impl(g, dout, mask, inp, weight, rstd, C, N, true, tid, nth);
  else backward_token_impl(g, dout, 0, inp, weight, rstd, C, N, false, tid, nth);
}

@inline function backward_impl(dinp: usize, dweight: usize, dout: usize, mask: usize, inp: usize, weight: usize, rstd: usize, g: usize, C: i32, N: i32, masked: bool, write: bool, tid: i32, nth: i32): void {
  const cs = part_start(C, tid, nth), ce = part_start(C, tid + 1, nth);
  const rowBytes = <usize>N << 2;
  const N4 = N & ~3;
  const zero = f32x4.splat(0);
  for (let c = cs; c < ce; c++) {
    const off = <usize>c * rowBytes, drow = dout + off, mrow = mask + <usize>c * <usize>N;
    const w = load<f32>(weight + (<usize>c << 2));
    const wv = f32x4.splat(w);
    let acc = f32x4.splat(0);
    let n = 0;
    for (; n < N4; n += 4) {
      const o = <usize>n << 2;
      const d = dout4(drow, mrow, n, masked), x = v128.load(inp + off + o), r = v128.load(rstd + o);
      const dx = f32x4.sub(f32x4.mul(r, f32x4.mul(d, wv)), f32x4.mul(x, v128.load(g + o)));
      v128.store(dinp + off + o, f32x4.add(write ? zero : v128.load(dinp + off + o), dx));
      acc = f32x4.add(acc, f32x4.mul(f32x4.mul(d, x), r));
    }
    let dw = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) +
      (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    for (; n < N; n++) {
      const o = <usize>n << 2;
      const d = dout1(drow, mrow, n, masked), x = load<f32>(inp + off + o), r = load<f32>(rstd + o);
      const base: f32 = write ? 0 : load<f32>(dinp + off + o);
      store<f32>(dinp + off + o, base + (r * (d * w) - x * load<f32>(g + o)));
      dw += (d * x) * r;
    }
    const pw = dweight + (<usize>c << 2);
    store<f32>(pw, load<f32>(pw) + dw);
  }
}

/**
 * Backward, pass 2 (threads split channels): dinp[C,N] += rstd·dout·w − x·g; dweight[C] += Σ_n dout·x·rstd.
 * dw[c] sums 4 token lanes (n mod 4) over the first N&~3 tokens, adds the lanes as
 * (l0 + l1) + (l2 + l3), then the remaining tokens in order.
 */
export function rmsnorm_backward(dinp: usize, dweight: usize, dout: usize, inp: usize, weight: usize, rstd: usize, g: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  backward_impl(dinp, dweight, dout, 0, inp, weight, rstd, g, C, N, false, false, tid, nth);
}

/**
 * rmsnorm_backward with dout masked by mask (u8 [C,N]; 0 = none, see dout4) and, with write ≠ 0,
 * dinp written as 0 + (its gradient) instead of added to: the bits a zero-filled dinp would get.
 * dweight is accumulated either way.
 */
export function rmsnorm_backward_ex(dinp: usize, dweight: usize, dout: usize, mask: usize, inp: usize, weight: usize, rstd: usize, g: usize, C: i32, N: i32, write: i32, tid: i32, nth: i32): void {
  if (mask != 0) {
    if (write != 0) backward_impl(dinp, dweight, dout, mask, inp, weight, rstd, g, C, N, true, true, tid, nth);
    else backward_impl(dinp, dweight, dout, mask, inp, weight, rstd, g, C, N, true, false, tid, nth);
  } else {
    if (write != 0) backward_impl(dinp, dweight, dout, 0, inp, weight, rstd, g, C, N, false, true, tid, nth);
    else backward_impl(dinp, dweight, dout, 0, inp, weight, rstd, g, C, N, false, false, tid, nth);
  }
}

/**
 * out[C,N] = (inp·rstd)·weight with a given rstd[N] (the forward's last pass alone): RMSNorm whose
 * scale is frozen to another forward's, for pruning with --freeze-norm. Its backward is
 * rmsnorm_backward with g = 0 (no gradient through the scale).
 */
export function rmsnorm_scale(out: usize, rstd: usize, inp: usize, weight: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  if (s < e) scale_rows(out, rstd, inp, weight, C, <usize>N << 2, s, e);
}
