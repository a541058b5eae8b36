// Causal multi-head attention with an optional attention sink (docs/method.md §1), forward and backward.
//
// Shapes: B sequences of T tokens, N = B·T (token n = b·T + t); H heads of dh channels. q, k, v,
// out and their gradients are feature-major [H·dh, N]: channel h·dh + i of token n at
// (h·dh + i)·N + n. att and datt are [H, B, T, T]; row t uses columns j ≤ t.
//
//   z[t,j]   = (Σ_i q[i,t]·k[i,j]) · scale            scale = 1/sqrt(dh), i summed in order
//   m        = max(s_h, max_{j≤t} z[t,j])              s_h = −∞ without a sink
//   p[t,j]   = exp(z[t,j] − m) / (exp(s_h − m) + Σ_{j≤t} exp(z[t,j] − m))
//   out[i,t] = Σ_{j≤t} p[t,j]·v[i,j]
//
// The sink is an extra key that every query sees, with logit s_h and a value of zeros: it only
// adds exp(s_h − m) to the denominator. Backward, per query row t, with dot = Σ_j p[t,j]·dp[t,j]:
//
//   dp[t,j]  = Σ_i dout[i,t]·v[i,j]
//   dz[t,j]  = p[t,j]·(dp[t,j] − dot) · scale          softmax Jacobian, the scale folded in
//   dq[i,t] += Σ_j dz[t,j]·k[i,j];   dk[i,j] += dz[t,j]·q[i,t];   dv[i,j] += p[t,j]·dout[i,t]
//   ds_h    += −p_sink[t]·dot                          the sink's value is zero, so its dp is 0
//
// Summation orders, which make results independent of threads and tiling: a score is summed
// over i in order, then scaled. The softmax takes exp with the bits of AssemblyScript's Mathf.exp
// (musl's expf, four lanes at a time in musl_expf_f32x4; the row maximum is exact whichever order
// it is taken in) and sums its denominator from the sink term, then the keys in order. Sums along the keys j
// (out, dq, dot) use four lanes (j mod 4) over the row's whole vectors, then
// ((l0 + l1) + (l2 + l3)), then its remaining keys in order. dk and dv accumulate in memory,
// query rows t ascending. Query rows go four at a time where
// they can (a tile shares each load of k, v or of the dk/dv rows between the four), and a tile
// produces every element exactly as four single rows would.
//
// A pair's slices of q, k, v, out (and of the gradients) are dh rows of T tokens, N floats apart.
// With N a power of two those rows all fall in the same few cache sets, so each pair first copies
// them into a contiguous per-thread scratch block (rows Tp = T rounded up to 4 floats apart),
// works there, and copies its outputs back: 4·dh·Tp floats per thread forward, 7·dh·Tp backward.
//
// Threads split the (h, b) pairs in contiguous chunks: everything a pair writes (its att/datt
// block, its rows of out, dq, dk, dv inside sequence b) belongs to one thread. The sink gradient
// is summed per pair (rows in order) into the pair's datt block, then over b in order by
// attention_backward_sink_sum, so it does not depend on how the pairs were split either.
//
// Pointer conventions of the helpers: x/dst "at token t" point at channel 0, token t of a
// packed [dh, Tp] block (one scalar per channel, rs bytes apart); y/dst "rows" point at token 0.

import { part_start } from "./common";
import { abs_mask, flush_subnormal_f32, flush_subnormal_f32x4, musl_expf_f32x4, zero_f32 } from "./vmath";

@inline function hsum(a: v128): f32 {
  return (f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1)) +
    (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
}

// Lane l of a in all four lanes (shuffle lanes must be constants, hence four functions).
@inline function lane0(a: v128): v128 {
  return v128.shuffle<f32>(a, a, 0, 0, 0, 0);
}
@inline function lane1(a: v128): v128 {
  return v128.shuffle<f32>(a, a, 1, 1, 1, 1);
}
@inline function lane2(a: v128): v128 {
  return v128.shuffle<f32>(a, a, 2, 2, 2, 2);
}
@inline function lane3(a: v128): v128 {
  return v128.shuffle<f32>(a, a, 3, 3, 3, 3);
}

// ---- scores: row[j] = (Σ_i x[i]·y[i, j])·scale ----

// One query row, keys j0 ≤ j < len (x at the query's token). Keys go 16 at a time so that each
// broadcast x[i] feeds four vectors. With mx ≠ 0, the f32x4 at mx (lane-wise maxima of the row's
// earlier scores) takes in these scores too; max is exact, so the row's maximum does not depend
// on which lane or pass saw which score.
@inline function score_keys(
  row: usize, x: usize, y: usize, j0: i32, len: i32, dh: i32, rs: usize, scale: f32, mx: usize = 0,
): void {
  const sc = f32x4.splat(scale);
  let mv = mx != 0 ? v128.load(mx) : f32x4.splat(0);
  let ms: f32 = -Infinity;
  let j = j0;
  for (; j + 16 <= len; j += 16) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    let xp = x, yp = y + (<usize>j << 2);
    for (let i = 0; i < dh; i++) {
      const xs = f32x4.splat(load<f32>(xp));
      a0 = f32x4.add(a0, f32x4.mul(xs, v128.load(yp)));
      a1 = f32x4.add(a1, f32x4.mul(xs, v128.load(yp, 16)));
      a2 = f32x4.add(a2, f32x4.mul(xs, v128.load(yp, 32)));
      a3 = f32x4.add(a3, f32x4.mul(xs, v128.load(yp, 48)));
      xp += rs;
      yp += rs;
    }
    const r = row + (<usize>j << 2);
    const z0 = f32x4.mul(a0, sc), z1 = f32x4.mul(a1, sc), z2 = f32x4.mul(a2, sc), z3 = f32x4.mul(a3, sc);
    v128.store(r, z0);
    v128.store(r, z1, 16);
    v128.store(r, z2, 32);
    v128.store(r, z3, 48);
    if (mx != 0) mv = f32x4.max(mv, f32x4.max(f32x4.max(z0, z1), f32x4.max(z2, z3)));
  }
  for (; j + 4 <= len; j += 4) {
    let a = f32x4.splat(0);
    let xp = x, yp = y + (<usize>j << 2);
    for (let i = 0; i < dh; i++) {
      a = f32x4.add(a, f32x4.mul(f32x4.splat(load<f32>(xp)), v128.load(yp)));
      xp += rs;
      yp += rs;
    }
    const z = f32x4.mul(a, sc);
    v128.store(row + (<usize>j << 2), z);
    if (mx != 0) mv = f32x4.max(mv, z);
  }
  for (; j < len; j++) {
    let a: f32 = 0;
    let xp = x, yp = y + (<usize>j << 2);
    for (let i = 0; i < dh; i++) {
      a += load<f32>(xp) * load<f32>(yp);
      xp += rs;
      yp += rs;
    }
    store<f32>(row + (<usize>j << 2), a * scale);
    if (mx != 0) ms = max(ms, a * scale);
  }
  if (mx != 0) v128.store(mx, f32x4.max(mv, f32x4.splat(ms)));
}

// Four query rows t0..t0+3 (x at token t0, t0 a multiple of 4; row r at row + r·rb) with
// len0 + r keys: the keys all four have, 8 at a time, then each row's own rest. With mx ≠ 0, row
// r's lane-wise score maxima go to the f32x4 at mx + 16r (see score_keys).
@inline function score_rows4(
  row: usize, rb: usize, x: usize, y: usize, len0: i32, dh: i32, rs: usize, scale: f32, mx: usize = 0,
): void {
  const sc = f32x4.splat(scale);
  let m0 = f32x4.splat(-Infinity), m1 = m0, m2 = m0, m3 = m0;
  const c = len0 & ~3;
  const r1 = row + rb, r2 = r1 + rb, r3 = r2 + rb;
  let j = 0;
  for (; j + 8 <= c; j += 8) {
    let a00 = f32x4.splat(0), a01 = a00, a10 = a00, a11 = a00;
    let a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    let xp = x, yp = y + (<usize>j << 2);
    for (let i = 0; i < dh; i++) {
      const xv = v128.load(xp);
      const y0 = v128.load(yp), y1 = v128.load(yp, 16);
      let xs = lane0(xv);
      a00 = f32x4.add(a00, f32x4.mul(xs, y0));
      a01 = f32x4.add(a01, f32x4.mul(xs, y1));
      xs = lane1(xv);
      a10 = f32x4.add(a10, f32x4.mul(xs, y0));
      a11 = f32x4.add(a11, f32x4.mul(xs, y1));
      xs = lane2(xv);
      a20 = f32x4.add(a20, f32x4.mul(xs, y0));
      a21 = f32x4.add(a21, f32x4.mul(xs, y1));
      xs = lane3(xv);
      a30 = f32x4.add(a30, f32x4.mul(xs, y0));
      a31 = f32x4.add(a31, f32x4.mul(xs, y1));
      xp += rs;
      yp += rs;
    }
    const o = <usize>j << 2;
    const z00 = f32x4.mul(a00, sc), z01 = f32x4.mul(a01, sc), z10 = f32x4.mul(a10, sc);
    const z11 = f32x4.mul(a11, sc), z20 = f32x4.mul(a20, sc), z21 = f32x4.mul(a21, sc);
    const z30 = f32x4.mul(a30, sc), z31 = f32x4.mul(a31, sc);
    v128.store(row + o, z00);
    v128.store(row + o, z01, 16);
    v128.store(r1 + o, z10);
    v128.store(r1 + o, z11, 16);
    v128.store(r2 + o, z20);
    v128.store(r2 + o, z21, 16);
    v128.store(r3 + o, z30);
    v128.store(r3 + o, z31, 16);
    if (mx != 0) {
      m0 = f32x4.max(m0, f32x4.max(z00, z01));
      m1 = f32x4.max(m1, f32x4.max(z10, z11));
      m2 = f32x4.max(m2, f32x4.max(z20, z21));
      m3 = f32x4.max(m3, f32x4.max(z30, z31));
    }
  }
  if (j < c) {
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    let xp = x, yp = y + (<usize>j << 2);
    for (let i = 0; i < dh; i++) {
      const xv = v128.load(xp);
      const y0 = v128.load(yp);
      a0 = f32x4.add(a0, f32x4.mul(lane0(xv), y0));
      a1 = f32x4.add(a1, f32x4.mul(lane1(xv), y0));
      a2 = f32x4.add(a2, f32x4.mul(lane2(xv), y0));
      a3 = f32x4.add(a3, f32x4.mul(lane3(xv), y0));
      xp += rs;
      yp += rs;
    }
    const o = <usize>j << 2;
    const z0 = f32x4.mul(a0, sc), z1 = f32x4.mul(a1, sc), z2 = f32x4.mul(a2, sc), z3 = f32x4.mul(a3, sc);
    v128.store(row + o, z0);
    v128.store(r1 + o, z1);
    v128.store(r2 + o, z2);
    v128.store(r3 + o, z3);
    if (mx != 0) {
      m0 = f32x4.max(m0, z0);
      m1 = f32x4.max(m1, z1);
      m2 = f32x4.max(m2, z2);
      m3 = f32x4.max(m3, z3);
    }
  }
  if (mx != 0) {
    v128.store(mx, m0);
    v128.store(mx, m1, 16);
    v128.store(mx, m2, 32);
    v128.store(mx, m3, 48);
  }
  score_keys(row, x, y, c, len0, dh, rs, scale, mx);
  score_keys(r1, x + 4, y, c, len0 + 1, dh, rs, scale, mx == 0 ? 0 : mx + 16);
  score_keys(r2, x + 8, y, c, len0 + 2, dh, rs, scale, mx == 0 ? 0 : mx + 32);
  score_keys(r3, x + 12, y, c, len0 + 3, dh, rs, scale, mx == 0 ? 0 : mx + 48);
}

// ---- weighted sums along the keys: dst[i] (=, += when accumulate) Σ_{j<len} p[j]·y[i, j] ----

// Completes one sum: acc holds the lanes of the whole vectors below `from`; adds the row's
// remaining whole vectors, then folds the lanes and adds the leftover keys.
@inline function finish_sum(acc: v128, p: usize, y: usize, from: i32, len: i32): f32 {
  const nv = len & ~3;
  for (let j = from; j < nv; j += 4) {
    const o = <usize>j << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(p + o), v128.load(y + o)));
  }
  let s = hsum(acc);
  for (let j = nv; j < len; j++) {
    const o = <usize>j << 2;
    s += load<f32>(p + o) * load<f32>(y + o);
  }
  return s;
}

@inline function put(dst: usize, s: f32, accumulate: bool): void {
  store<f32>(dst, accumulate ? load<f32>(dst) + s : s);
}

// One query row (dst at its token): four channels share each load of p.
@inline function weighted_sum_rows(
  dst: usize, p: usize, y: usize, len: i32, dh: i32, rs: usize, accumulate: bool,
): void {
  const nv = len & ~3;
  let i = 0;
  for (; i + 4 <= dh; i += 4) {
    const y0 = y + <usize>i * rs, y1 = y0 + rs, y2 = y1 + rs, y3 = y2 + rs;
    let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
    for (let j = 0; j < nv; j += 4) {
      const o = <usize>j << 2;
      const pv = v128.load(p + o);
      a0 = f32x4.add(a0, f32x4.mul(pv, v128.load(y0 + o)));
      a1 = f32x4.add(a1, f32x4.mul(pv, v128.load(y1 + o)));
      a2 = f32x4.add(a2, f32x4.mul(pv, v128.load(y2 + o)));
      a3 = f32x4.add(a3, f32x4.mul(pv, v128.load(y3 + o)));
    }
    const d = dst + <usize>i * rs;
    put(d, finish_sum(a0, p, y0, nv, len), accumulate);
    put(d + rs, finish_sum(a1, p, y1, nv, len), accumulate);
    put(d + 2 * rs, finish_sum(a2, p, y2, nv, len), accumulate);
    put(d + 3 * rs, finish_sum(a3, p, y3, nv, len), accumulate);
  }
  for (; i < dh; i++) {
    put(dst + <usize>i * rs, finish_sum(f32x4.splat(0), p, y + <usize>i * rs, 0, len), accumulate);
  }
}

// Four query rows t0..t0+3 (dst at token t0; row r of p at p + r·rb, len0 + r keys): over the
// vectors all four have, two channels share each load of p and four rows each load of y.
@inline function weighted_sum_rows4(
  dst: usize, p: usize, rb: usize, y: usize, len0: i32, dh: i32, rs: usize, accumulate: bool,
): void {
  const c = len0 & ~3;
  const p1 = p + rb, p2 = p1 + rb, p3 = p2 + rb;
  let i = 0;
  for (; i + 2 <= dh; i += 2) {
    const y0 = y + <usize>i * rs, y1 = y0 + rs;
    let a00 = f32x4.splat(0), a01 = a00, a10 = a00, a11 = a00;
    let a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    for (let j = 0; j < c; j += 4) {
      const o = <usize>j << 2;
      const v0 = v128.load(y0 + o), v1 = v128.load(y1 + o);
      let pv = v128.load(p + o);
      a00 = f32x4.add(a00, f32x4.mul(pv, v0));
      a01 = f32x4.add(a01, f32x4.mul(pv, v1));
      pv = v128.load(p1 + o);
      a10 = f32x4.add(a10, f32x4.mul(pv, v0));
      a11 = f32x4.add(a11, f32x4.mul(pv, v1));
      pv = v128.load(p2 + o);
      a20 = f32x4.add(a20, f32x4.mul(pv, v0));
      a21 = f32x4.add(a21, f32x4.mul(pv, v1));
      pv = v128.load(p3 + o);
      a30 = f32x4.add(a30, f32x4.mul(pv, v0));
      a31 = f32x4.add(a31, f32x4.mul(pv, v1));
    }
    const d0 = dst + <usize>i * rs, d1 = d0 + rs;
    put(d0, finish_sum(a00, p, y0, c, len0), accumulate);
    put(d1, finish_sum(a01, p, y1, c, len0), accumulate);
    put(d0 + 4, finish_sum(a10, p1, y0, c, len0 + 1), accumulate);
    put(d1 + 4, finish_sum(a11, p1, y1, c, len0 + 1), accumulate);
    put(d0 + 8, finish_sum(a20, p2, y0, c, len0 + 2), accumulate);
    put(d1 + 8, finish_sum(a21, p2, y1, c, len0 + 2), accumulate);
    put(d0 + 12, finish_sum(a30, p3, y0, c, len0 + 3), accumulate);
    put(d1 + 12, finish_sum(a31, p3, y1, c, len0 + 3), accumulate);
  }
  if (i < dh) {
    const y0 = y + <usize>i * rs, d0 = dst + <usize>i * rs;
    put(d0, finish_sum(f32x4.splat(0), p, y0, 0, len0), accumulate);
    put(d0 + 4, finish_sum(f32x4.splat(0), p1, y0, 0, len0 + 1), accumulate);
    put(d0 + 8, finish_sum(f32x4.splat(0), p2, y0, 0, len0 + 2), accumulate);
    put(d0 + 12, finish_sum(f32x4.splat(0), p3, y0, 0, len0 + 3), accumulate);
  }
}

// ---- rank-one updates of dk, dv: dst[i, j] += x[i]·p[j] ----

// One query row (x at its token), keys j < len.
@inline function add_outer_rows(dst: usize, x: usize, p: usize, len: i32, dh: i32, rs: usize): void {
  for (let i = 0; i < dh; i++) {
    const xi = load<f32>(x + <usize>i * rs);
    const xs = f32x4.splat(xi);
    const d = dst + <usize>i * rs;
    let j = 0;
    for (; j + 4 <= len; j += 4) {
      const o = <usize>j << 2;
      v128.store(d + o, f32x4.add(v128.load(d + o), f32x4.mul(xs, v128.load(p + o))));
    }
    for (; j < len; j++) {
      const o = <usize>j << 2;
      store<f32>(d + o, load<f32>(d + o) + xi * load<f32>(p + o));
    }
  }
}

// Four query rows t0..t0+3 (x at token t0; row r of p at p + r·rb, len0 + r keys): each dst
// element still adds the rows in order, with a quarter of the dst loads and stores; channels go
// two at a time, sharing each load of p.
@inline function add_outer_rows4(
  dst: usize, x: usize, p: usize, rb: usize, len0: i32, dh: i32, rs: usize,
): void {
  const p1 = p + rb, p2 = p1 + rb, p3 = p2 + rb;
  const c = len0 & ~3;
  let i = 0;
  for (; i + 2 <= dh; i += 2) {
    const xv = v128.load(x + <usize>i * rs), xw = v128.load(x + <usize>(i + 1) * rs);
    const s0 = lane0(xv), s1 = lane1(xv), s2 = lane2(xv), s3 = lane3(xv);
    const u0 = lane0(xw), u1 = lane1(xw), u2 = lane2(xw), u3 = lane3(xw);
    const d = dst + <usize>i * rs, e = d + rs;
    for (let j = 0; j < c; j += 4) {
      const o = <usize>j << 2;
      const q0 = v128.load(p + o), q1 = v128.load(p1 + o), q2 = v128.load(p2 + o), q3 = v128.load(p3 + o);
      let a = v128.load(d + o);
      a = f32x4.add(a, f32x4.mul(s0, q0));
      a = f32x4.add(a, f32x4.mul(s1, q1));
      a = f32x4.add(a, f32x4.mul(s2, q2));
      a = f32x4.add(a, f32x4.mul(s3, q3));
      v128.store(d + o, a);
      let b = v128.load(e + o);
      b = f32x4.add(b, f32x4.mul(u0, q0));
      b = f32x4.add(b, f32x4.mul(u1, q1));
      b = f32x4.add(b, f32x4.mul(u2, q2));
      b = f32x4.add(b, f32x4.mul(u3, q3));
      v128.store(e + o, b);
    }
    outer_tail4(d, xv, p, p1, p2, p3, c, len0);
    outer_tail4(e, xw, p, p1, p2, p3, c, len0);
  }
  for (; i < dh; i++) {
    const xv = v128.load(x + <usize>i * rs);
    const s0 = lane0(xv), s1 = lane1(xv), s2 = lane2(xv), s3 = lane3(xv);
    const d = dst + <usize>i * rs;
    for (let j = 0; j < c; j += 4) {
      const o = <usize>j << 2;
      let a = v128.load(d + o);
      a = f32x4.add(a, f32x4.mul(s0, v128.load(p + o)));
      a = f32x4.add(a, f32x4.mul(s1, v128.load(p1 + o)));
      a = f32x4.add(a, f32x4.mul(s2, v128.load(p2 + o)));
      a = f32x4.add(a, f32x4.mul(s3, v128.load(p3 + o)));
      v128.store(d + o, a);
    }
    outer_tail4(d, xv, p, p1, p2, p3, c, len0);
  }
}

// The last keys of a four-row tile, which are not in every row: key j takes the rows r with
// len0 + r > j (one channel d; xv its four query values).
@inline function outer_tail4(
  d: usize, xv: v128, p: usize, p1: usize, p2: usize, p3: usize, c: i32, len0: i32,
): void {
  const x0 = f32x4.extract_lane(xv, 0), x1 = f32x4.extract_lane(xv, 1);
  const x2 = f32x4.extract_lane(xv, 2), x3 = f32x4.extract_lane(xv, 3);
  for (let j = c; j < len0 + 3; j++) {
    const o = <usize>j << 2;
    let a = load<f32>(d + o);
    if (j < len0) a += x0 * load<f32>(p + o);
    if (j < len0 + 1) a += x1 * load<f32>(p1 + o);
    if (j < len0 + 2) a += x2 * load<f32>(p2 + o);
    a += x3 * load<f32>(p3 + o);
    store<f32>(d + o, a);
  }
}

// ---- rows of the softmax ----

// Below the smallest normal float, probabilities are flushed to 0 (vmath.ts says why; exp(−87) is
// still normal).
const EXP_FLUSH: f32 = -87;
@inline function exp_flushed(d: f32): f32 {
  return d < EXP_FLUSH ? 0 : Mathf.exp(d);
}

// In place: the scores row[j < len] become probabilities with sink logit s (−∞: no sink); the
// columns len..T−1 are set to 0. mx: the row's lane-wise score maxima from score_keys. The
// exponentials go four at a time through musl_expf_f32x4, which gives Mathf.exp's bits: with a
// finite maximum m every argument is in [−∞, 0], and those below EXP_FLUSH (the only ones outside
// its range) are flushed. The denominator still adds the terms one by one in key order. Rows
// with an infinite or NaN maximum take the scalar loop.
@inline function softmax_row(row: usize, len: i32, T: i32, s: f32, mx: usize): void {
  const nv = len & ~3;
  const mv = f32x4.max(v128.load(mx), f32x4.splat(s));
  const m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)),
    max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
  // exp(−∞) = 0, so the sink-less case needs no branch and a very negative sink matches it.
  let sum = exp_flushed(s - m);
  if (isFinite<f32>(m)) {
    const mb = f32x4.splat(m), lim = f32x4.splat(EXP_FLUSH);
    for (let j = 0; j < nv; j += 4) {
      const r = row + (<usize>j << 2);
      const d = f32x4.sub(v128.load(r), mb);
      const e = v128.andnot(musl_expf_f32x4(d), f32x4.lt(d, lim));
      v128.store(r, e);
      sum += f32x4.extract_lane(e, 0);
      sum += f32x4.extract_lane(e, 1);
      sum += f32x4.extract_lane(e, 2);
      sum += f32x4.extract_lane(e, 3);
    }
    for (let j = nv; j < len; j++) {
      const r = row + (<usize>j << 2);
      const e = exp_flushed(load<f32>(r) - m);
      store<f32>(r, e);
      sum += e;
    }
  } else {
    for (let j = 0; j < len; j++) {
      const r = row + (<usize>j << 2);
      const e = exp_flushed(load<f32>(r) - m);
      store<f32>(r, e);
      sum += e;
    }
  }
  const inv: f32 = 1 / sum;
  const iv = f32x4.splat(inv);
  let j = 0;
  for (; j + 4 <= len; j += 4) {
    const r = row + (<usize>j << 2);
    v128.store(r, flush_subnormal_f32x4(f32x4.mul(v128.load(r), iv)));
  }
  for (; j < len; j++) {
    const r = row + (<usize>j << 2);
    store<f32>(r, flush_subnormal_f32(load<f32>(r) * inv));
  }
  zero_f32(row + (<usize>len << 2), T - len);
}

// Index of a largest p[j], j < len, from the lane maxima mv and their indices iv over the whole
// vectors below nv = len & ~3: lanes in order, then the leftover keys (ties and NaN resolve to
// some fixed index, which is all sink_prob needs).
@inline function argmax_finish(mv: v128, iv: v128, p: usize, nv: i32, len: i32): i32 {
  let pm: f32 = f32x4.extract_lane(mv, 0);
  let jm = i32x4.extract_lane(iv, 0);
  if (f32x4.extract_lane(mv, 1) > pm) {
    pm = f32x4.extract_lane(mv, 1);
    jm = i32x4.extract_lane(iv, 1);
  }
  if (f32x4.extract_lane(mv, 2) > pm) {
    pm = f32x4.extract_lane(mv, 2);
    jm = i32x4.extract_lane(iv, 2);
  }
  if (f32x4.extract_lane(mv, 3) > pm) {
    pm = f32x4.extract_lane(mv, 3);
    jm = i32x4.extract_lane(iv, 3);
  }
  for (let j = nv; j < len; j++) {
    const pj = load<f32>(p + (<usize>j << 2));
    if (pj > pm) {
      pm = pj;
      jm = j;
    }
  }
  return jm;
}

// The sink's probability in a query row, from its saved probabilities p[j < len] and jm, the
// index of a largest one: p_sink / p_j = exp(s − z[t,j]) for every j, so take the largest p_j (at
// least 1/(len + 1) when the sink does not dominate) and recompute its score exactly as the
// forward did (x at the query's token). When s exceeds every score by 64 or more, p_sink is 1 to
// f32 precision.
@inline function sink_prob(
  p: usize, jm: i32, s: f32, x: usize, y: usize, dh: i32, rs: usize, scale: f32,
): f32 {
  const pm = load<f32>(p + (<usize>jm << 2));
  let a: f32 = 0;
  let xp = x, yp = y + (<usize>jm << 2);
  for (let i = 0; i < dh; i++) {
    a += load<f32>(xp) * load<f32>(yp);
    xp += rs;
    yp += rs;
  }
  const d = s - a * scale;
  return d < 64 ? pm * Mathf.exp(d) : 1;
}

// In place: drow's dp[j < len] becomes dz = p·(dp − dot)·scale (p in prow; subnormals → 0). Returns
// p_sink·dot, the negated sink gradient of the row (0 without a sink; x at the query's token of
// q, y at token 0 of k). One pass over the row gives dot (as dot_row sums it) and, with a sink,
// the argmax of p for sink_prob.
@inline function softmax_backward_row(
  prow: usize, drow: usize, len: i32, s: f32, hasSink: bool, x: usize, y: usize, dh: i32,
  rs: usize, scale: f32,
): f32 {
  const nv = len & ~3;
  let acc = f32x4.splat(0), mv = f32x4.splat(-Infinity);
  let iv = i32x4.splat(0), jv = i32x4(0, 1, 2, 3);
  for (let j = 0; j < nv; j += 4) {
    const o = <usize>j << 2;
    const pv = v128.load(prow + o);
    acc = f32x4.add(acc, f32x4.mul(pv, v128.load(drow + o)));
    if (hasSink) {
      const gt = f32x4.gt(pv, mv);
      mv = v128.bitselect(pv, mv, gt);
      iv = v128.bitselect(jv, iv, gt);
      jv = i32x4.add(jv, i32x4.splat(4));
    }
  }
  const dot = finish_sum(acc, prow, drow, nv, len);
  const dotv = f32x4.splat(dot), sc = f32x4.splat(scale);
  let j = 0;
  for (; j + 4 <= len; j += 4) {
    const o = <usize>j << 2;
    const g = f32x4.mul(f32x4.mul(v128.load(prow + o), f32x4.sub(v128.load(drow + o), dotv)), sc);
    v128.store(drow + o, flush_subnormal_f32x4(g));
  }
  for (; j < len; j++) {
    const o = <usize>j << 2;
    store<f32>(drow + o, flush_subnormal_f32(load<f32>(prow + o) * (load<f32>(drow + o) - dot) * scale));
  }
  if (!hasSink) return 0;
  return sink_prob(prow, argmax_finish(mv, iv, prow, nv, len), s, x, y, dh, rs, scale) * dot;
}

// dst[i, 0..T) = src[i, 0..T) for i < dh; rows sb and db bytes apart. With flush, subnormal
// values are written as 0 (the gradients dq, dk, dv feed c_attn's backward products).
@inline function copy_rows(dst: usize, db: usize, src: usize, sb: usize, T: i32, dh: i32, flush: bool = false): void {
  for (let i = 0; i < dh; i++) {
    const d = dst + <usize>i * db, s = src + <usize>i * sb;
    let j = 0;
    for (; j + 4 <= T; j += 4) {
      const v = v128.load(s + (<usize>j << 2));
      v128.store(d + (<usize>j << 2), flush ? flush_subnormal_f32x4(v) : v);
    }
    for (; j < T; j++) {
      const v = load<f32>(s + (<usize>j << 2));
      store<f32>(d + (<usize>j << 2), flush ? flush_subnormal_f32(v) : v);
    }
  }
}

/** True when the dh rows of T floats at src (sb bytes apart) are all ±0. */
@inline function rows_zero(src: usize, sb: usize, T: i32, dh: i32): bool {
  const absMask = abs_mask();
  let any = i32x4.splat(0);
  for (let i = 0; i < dh; i++) {
    const s = src + <usize>i * sb;
    let j = 0;
    for (; j + 4 <= T; j += 4) any = v128.or(any, v128.and(v128.load(s + (<usize>j << 2)), absMask));
    for (; j < T; j++) if ((load<u32>(s + (<usize>j << 2)) & 0x7fffffff) != 0) return false;
  }
  return !v128.any_true(any);
}

/** Writes +0 to the dh rows of T floats at dst (db bytes apart). */
@inline function zero_rows(dst: usize, db: usize, T: i32, dh: i32): void {
  const z = i32x4.splat(0);
  for (let i = 0; i < dh; i++) {
    const d = dst + <usize>i * db;
    let j = 0;
    for (; j + 4 <= T; j += 4) v128.store(d + (<usize>j << 2), z);
    for (; j < T; j++) store<f32>(d + (<usize>j << 2), 0);
  }
}

/**
 * out[H·dh, N] = causal softmax(q·k/sqrt(dh) [+ sink]) · v, per head and sequence; saves the
 * probabilities in att [H, B, T, T] (row t: columns ≤ t; columns > t are set to 0). sink: [H]
 * logits, or 0 for none. q, k, v, out: feature-major [H·dh, N], N = B·T. scratch: nth blocks of
 * 4·dh·Tp + 16 floats (Tp = T rounded up to a multiple of 4), one per thread.
 */
export function attention_forward(
  out: usize, att: usize, q: usize, k: usize, v: usize, sink: usize, scratch: usize,
  B: i32, T: i32, H: i32, dh: i32, tid: i32, nth: i32,
): void {
  const N = B * T;
  const rs = <usize>N << 2;
  const ps = <usize>((T + 3) & ~3) << 2, blk = <usize>dh * ps;
  const Q = scratch + <usize>tid * (4 * blk + 64), K = Q + blk, V = K + blk, O = V + blk;
  const MX = O + blk;
  const scale: f32 = 1 / Mathf.sqrt(<f32>dh);
  const rb = <usize>T << 2, tt = <usize>T * rb;
  const s0 = part_start(H * B, tid, nth), s1 = part_start(H * B, tid + 1, nth);
  for (let hb = s0; hb < s1; hb++) {
    const h = hb / B, b = hb % B;
    const base = (<usize>(h * dh) * <usize>N + <usize>(b * T)) << 2;
    copy_rows(Q, ps, q + base, rs, T, dh);
    copy_rows(K, ps, k + base, rs, T, dh);
    copy_rows(V, ps, v + base, rs, T, dh);
    const s: f32 = sink ? load<f32>(sink + (<usize>h << 2)) : -Infinity;
    const ab = att + <usize>hb * tt;
    let t = 0;
    for (; t + 4 <= T; t += 4) {
      const row = ab + <usize>t * rb, tok = <usize>t << 2;
      score_rows4(row, rb, Q + tok, K, t + 1, dh, ps, scale, MX);
      for (let r = 0; r < 4; r++) softmax_row(row + <usize>r * rb, t + r + 1, T, s, MX + (<usize>r << 4));
      weighted_sum_rows4(O + tok, row, rb, V, t + 1, dh, ps, false);
    }
    for (; t < T; t++) {
      const row = ab + <usize>t * rb, tok = <usize>t << 2;
      v128.store(MX, f32x4.splat(-Infinity));
      score_keys(row, Q + tok, K, 0, t + 1, dh, ps, scale, MX);
      softmax_row(row, t + 1, T, s, MX);
      weighted_sum_rows(O + tok, row, V, t + 1, dh, ps, false);
    }
    copy_rows(out + base, rs, O, ps, T, dh);
  }
}

@inline function attention_backward_impl(
  dq: usize, dk: usize, dv: usize, datt: usize, dout: usize,
  q: usize, k: usize, v: usize, att: usize, sink: usize, scratch: usize,
  B: i32, T: i32, H: i32, dh: i32, write: bool, hasSink: bool, tid: i32, nth: i32,
): void {
  const N = B * T;
  const rs = <usize>N << 2;
  const ps = <usize>((T + 3) & ~3) << 2, blk = <usize>dh * ps;
  const Q = scratch + <usize>tid * 7 * blk, K = Q + blk, V = K + blk, DO = V + blk;
  const DQ = DO + blk, DK = DQ + blk, DV = DK + blk;
  const scale: f32 = 1 / Mathf.sqrt(<f32>dh);
  const rb = <usize>T << 2, tt = <usize>T * rb;
  const s0 = part_start(H * B, tid, nth), s1 = part_start(H * B, tid + 1, nth);
  for (let hb = s0; hb < s1; hb++) {
    const h = hb / B, b = hb % B;
    const base = (<usize>(h * dh) * <usize>N + <usize>(b * T)) << 2;
    const ab = att + <usize>hb * tt, db = datt + <usize>hb * tt;
    // Writing, a pair whose dout is all ±0 (a head no kept node reads, under pruning's masks)
    // gets +0 in dq, dk, dv and its sink gradient: what the passes below give it, for finite
    // q, k, v (every product is ±0, every sum starts at +0), without them.
    if (write && rows_zero(dout + base, rs, T, dh)) {
      zero_rows(dq + base, rs, T, dh);
      zero_rows(dk + base, rs, T, dh);
      zero_rows(dv + base, rs, T, dh);
      if (hasSink) store<f32>(db, 0);
      continue;
    }
    copy_rows(Q, ps, q + base, rs, T, dh);
    copy_rows(K, ps, k + base, rs, T, dh);
    copy_rows(V, ps, v + base, rs, T, dh);
    copy_rows(DO, ps, dout + base, rs, T, dh);
    if (write) {
      // DQ, DK, DV are contiguous: one fill gives the +0 a zero-filled dq, dk, dv would copy in.
      zero_f32(DQ, <i32>(3 * blk >> 2));
    } else {
      copy_rows(DQ, ps, dq + base, rs, T, dh);
      copy_rows(DK, ps, dk + base, rs, T, dh);
      copy_rows(DV, ps, dv + base, rs, T, dh);
    }
    const s: f32 = hasSink ? load<f32>(sink + (<usize>h << 2)) : -Infinity;
    let ds: f32 = 0;
    let t = 0;
    for (; t + 4 <= T; t += 4) {
      const prow = ab + <usize>t * rb, drow = db + <usize>t * rb, tok = <usize>t << 2;
      score_rows4(drow, rb, DO + tok, V, t + 1, dh, ps, 1);
      for (let r = 0; r < 4; r++) {
        const o = <usize>r * rb;
        ds -= softmax_backward_row(prow + o, drow + o, t + r + 1, s, hasSink,
          Q + tok + (<usize>r << 2), K, dh, ps, scale);
      }
      weighted_sum_rows4(DQ + tok, drow, rb, K, t + 1, dh, ps, true);
      add_outer_rows4(DK, Q + tok, drow, rb, t + 1, dh, ps);
      add_outer_rows4(DV, DO + tok, prow, rb, t + 1, dh, ps);
    }
    for (; t < T; t++) {
      const prow = ab + <usize>t * rb, drow = db + <usize>t * rb, tok = <usize>t << 2;
      score_keys(drow, DO + tok, V, 0, t + 1, dh, ps, 1);
      ds -= softmax_backward_row(prow, drow, t + 1, s, hasSink, Q + tok, K, dh, ps, scale);
      weighted_sum_rows(DQ + tok, drow, K, t + 1, dh, ps, true);
      add_outer_rows(DK, Q + tok, drow, t + 1, dh, ps);
      add_outer_rows(DV, DO + tok, prow, t + 1, dh, ps);
    }
    copy_rows(dq + base, rs, DQ, ps, T, dh, true);
    copy_rows(dk + base, rs, DK, ps, T, dh, true);
    copy_rows(dv + base, rs, DV, ps, T, dh, true);
    if (hasSink) store<f32>(db, ds);
  }
}

/**
 * Backward of attention_forward: accumulates dq, dk, dv [H·dh, N]. scratch: nth blocks of
 * 7·dh·Tp floats, one per thread. datt [H, B, T, T] is scratch too; with a sink, each (h, b)
 * block's first entry ends up holding that pair's sink gradient, which
 * attention_backward_sink_sum then adds to dsink (a separate call, after this one on all threads).
 */
export function attention_backward(
  dq: usize, dk: usize, dv: usize, datt: usize, dout: usize,
  q: usize, k: usize, v: usize, att: usize, sink: usize, scratch: usize,
  B: i32, T: i32, H: i32, dh: i32, tid: i32, nth: i32,
): void {
  // With the sink known at compile time, the row loops carry no sink tests.
  if (sink != 0) attention_backward_impl(dq, dk, dv, datt, dout, q, k, v, att, sink, scratch, B, T, H, dh, false, true, tid, nth);
  else attention_backward_impl(dq, dk, dv, datt, dout, q, k, v, att, sink, scratch, B, T, H, dh, false, false, tid, nth);
}

/**
 * attention_backward into zero-filled dq, dk, dv, bit for bit, without the fill or the reads:
 * dq, dk, dv [H·dh, N] are written (every entry of every sequence). Same arguments and scratch.
 */
export function attention_backward_write(
  dq: usize, dk: usize, dv: usize, datt: usize, dout: usize,
  q: usize, k: usize, v: usize, att: usize, sink: usize, scratch: usize,
  B: i32, T: i32, H: i32, dh: i32, tid: i32, nth: i32,
): void {
  if (sink != 0) attention_backward_impl(dq, dk, dv, datt, dout, q, k, v, att, sink, scratch, B, T, H, dh, true, true, tid, nth);
  else attention_backward_impl(dq, dk, dv, datt, dout, q, k, v, att, sink, scratch, B, T, H, dh, true, false, tid, nth);
}

/**
 * dsink[h] += Σ_b (pair (h, b)'s sink gradient, left at datt[h, b, 0, 0] by attention_backward),
 * summed over b in order.
 */
export function attention_backward_sink_sum(
  dsink: usize, datt: usize, B: i32, T: i32, H: i32, tid: i32, nth: i32,
): void {
  const tt = <usize>T * <usize>T << 2;
  const h0 = part_start(H, tid, nth), h1 = part_start(H, tid + 1, nth);
  for (let h = h0; h < h1; h++) {
    let sum: f32 = 0;
    for (let b = 0; b < B; b++) sum += load<f32>(datt + <usize>(h * B + b) * tt);
    const d = dsink + (<usize>h << 2);
    store<f32>(d, load<f32>(d) + sum);
  }
}
