// RMSNorm over the C channels of each token, forward and backward (PAPER §1: learnable weight, no
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

/** Backward, pass 1 (threads split tokens): g[n] = rstd³·Σ_c (dout·w)·x / C into scratch g[N]. */
export function rmsnorm_backward_token(g: usize, dout: usize, inp: usize, weight: usize, rstd: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  if (s >= e) return;
  const e4 = s + ((e - s) & ~3);
  const rowBytes = <usize>N << 2;
  zero_f32(g + (<usize>s << 2), e - s);
  for (let c = 0; c < C; c++) {
    const off = <usize>c * rowBytes;
    const w = load<f32>(weight + (<usize>c << 2));
    const wv = f32x4.splat(w);
    let n = s;
    for (; n < e4; n += 4) {
      const o = <usize>n << 2;
      const t = f32x4.mul(f32x4.mul(v128.load(dout + off + o), wv), v128.load(inp + off + o));
      v128.store(g + o, f32x4.add(v128.load(g + o), t));
    }
    for (; n < e; n++) {
      const o = <usize>n << 2;
      store<f32>(g + o, load<f32>(g + o) + (load<f32>(dout + off + o) * w) * load<f32>(inp + off + o));
    }
  }
  const cf = <f32>C;
  for (let n = s; n < e; n++) {
    const o = <usize>n << 2;
    const r = load<f32>(rstd + o);
    store<f32>(g + o, ((load<f32>(g + o) * r) * r) * r / cf);
  }
}

/**
 * Backward, pass 2 (threads split channels): dinp[C,N] += rstd·dout·w − x·g; dweight[C] += Σ_n dout·x·rstd.
 * dw[c] sums 4 token lanes (n mod 4) over the first N&~3 tokens, adds the lanes as
 * (l0 + l1) + (l2 + l3), then the remaining tokens in order.
 */
export function rmsnorm_backward(dinp: usize, dweight: usize, dout: usize, inp: usize, weight: usize, rstd: usize, g: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  const cs = part_start(C, tid, nth), ce = part_start(C, tid + 1, nth);
  const rowBytes = <usize>N << 2;
  const N4 = N & ~3;
  for (let c = cs; c < ce; c++) {
    const off = <usize>c * rowBytes;
    const w = load<f32>(weight + (<usize>c << 2));
    const wv = f32x4.splat(w);
    let acc = f32x4.splat(0);
    let n = 0;
    for (; n < N4; n += 4) {
      const o = <usize>n << 2;
      const d = v128.load(dout + off + o), x = v128.load(inp + off + o), r = v128.load(rstd + o);
      const dx = f32x4.sub(f32x4.mul(r, f32x4.mul(d, wv)), f32x4.mul(x, v128.load(g + o)));
      v128.store(dinp + off + o, f32x4.add(v128.load(dinp + off + o), dx));
      acc = f32x4.add(acc, f32x4.mul(f32x4.mul(d, x), r));
    }
    let dw = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) +
      (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    for (; n < N; n++) {
      const o = <usize>n << 2;
      const d = load<f32>(dout + off + o), x = load<f32>(inp + off + o), r = load<f32>(rstd + o);
      store<f32>(dinp + off + o, load<f32>(dinp + off + o) + (r * (d * w) - x * load<f32>(g + o)));
      dw += (d * x) * r;
    }
    const pw = dweight + (<usize>c << 2);
    store<f32>(pw, load<f32>(pw) + dw);
  }
}

/**
 * out[C,N] = (inp·rstd)·weight with a given rstd[N] (the forward's last pass alone): RMSNorm whose
 * scale is frozen to another forward's, for pruning with --freeze-norm. Its backward is
 * rmsnorm_backward with g = 0 (no gradient through the scale).
 */
export function rmsnorm_scale(out: usize, rstd: usize, inp: usize, weight: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  if (s >= e) return;
  const e4 = s + ((e - s) & ~3);
  const rowBytes = <usize>N << 2;
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
