// Losses on feature-major logits [V,N]: softmax cross-entropy per token (pretraining), its mean,
// and the two-candidate task loss (docs/method.md §3). Forward and backward side by side.
//
//   crossentropy   loss[n] = (max_n − l[target_n, n]) + log Σ_v exp(l[v,n] − max_n)
//                  dl[v,n] = (softmax(l[:,n])[v] − [v = target_n])·scale      (overwrites dl)
//   pair loss      loss_i  = softplus(l_b − l_a) = −log(e^l_a / (e^l_a + e^l_b))  at token pos_i
//                  dl[b,pos] += scale·σ(l_b − l_a),  dl[a,pos] −= the same
//
// Cross-entropy sweeps whole vocabulary rows (contiguous, 4 tokens per f32x4) over the thread's
// tokens, keeping per-token running max and Σexp in scratch [2N]: a max pass, a Σexp pass and, for
// the backward, a write pass. Per-token reductions run over v in order, so a token's result does
// not depend on the thread split. Targets < 0 are ignored (loss 0, gradient 0). The pair loss
// handles a few hundred items: thread 0 does them all, in order (items may share logits).
// Gradients below the smallest normal float (tiny probabilities × 1/N) are flushed to 0: subnormal
// operands make every x86 multiply of the lm_head's backward products ~100× slower.
import { part_start_aligned } from "./common";
import { exp_f32x4, flush_subnormal_f32x4, load_f32x4_partial, load_i32x4_partial, store_f32x4_partial } from "./vmath";

/** mx[n] = max_v logits[v,n] and sum[n] = Σ_v exp(logits[v,n] − mx[n]) for n in [s, e). */
@inline function column_max_sumexp(logits: usize, V: i32, N: i32, mx: usize, sum: usize, s: i32, e: i32, keepExp: usize): void {
  const rowBytes = <usize>N << 2;
  for (let n = s; n < e; n += 4) {
    const o = <usize>n << 2, r = min(4, e - n);
    store_f32x4_partial(mx + o, f32x4.splat(-Infinity), r);
    store_f32x4_partial(sum + o, f32x4.splat(0), r);
  }
  for (let v = 0; v < V; v++) {
    const row = logits + <usize>v * rowBytes;
    for (let n = s; n < e; n += 4) {
      const o = <usize>n << 2, r = min(4, e - n);
      store_f32x4_partial(mx + o, f32x4.pmax(load_f32x4_partial(mx + o, r), load_f32x4_partial(row + o, r)), r);
    }
  }
  for (let v = 0; v < V; v++) {
    const row = logits + <usize>v * rowBytes;
    for (let n = s; n < e; n += 4) {
      const o = <usize>n << 2, r = min(4, e - n);
      const ex = exp_f32x4(f32x4.sub(load_f32x4_partial(row + o, r), load_f32x4_partial(mx + o, r)));
      store_f32x4_partial(sum + o, f32x4.add(load_f32x4_partial(sum + o, r), ex), r);
      // The backward keeps e^(l − max) (in dlogits) for its last pass.
      if (keepExp != 0) store_f32x4_partial(keepExp + <usize>v * rowBytes + o, ex, r);
    }
  }
}

/** losses[n] = −log softmax(logits[:,n])[targets[n]] (0 where targets[n] < 0); scratch [2N] f32. */
export function crossentropy_forward(losses: usize, logits: usize, targets: usize, V: i32, N: i32, scratch: usize, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  const mx = scratch, sum = scratch + (<usize>N << 2);
  column_max_sumexp(logits, V, N, mx, sum, s, e, 0);
  for (let n = s; n < e; n++) {
    const o = <usize>n << 2;
    const t = load<i32>(targets + o);
    let loss: f32 = 0;
    if (t >= 0) {
      // max − target first: exact when they are close, so a large max costs no precision.
      const lt = load<f32>(logits + <usize>t * (<usize>N << 2) + o);
      loss = (load<f32>(mx + o) - lt) + Mathf.log(load<f32>(sum + o));
    }
    store<f32>(losses + o, loss);
  }
}

/**
 * dlogits[v,n] = (softmax(logits[:,n])[v] − [v = targets[n]])·scale; 0 for ignored tokens.
 * dlogits may alias logits. scratch [2N] f32.
 */
export function crossentropy_backward(dlogits: usize, logits: usize, targets: usize, V: i32, N: i32, scale: f32, scratch: usize, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  const mx = scratch, sum = scratch + (<usize>N << 2);
  column_max_sumexp(logits, V, N, mx, sum, s, e, dlogits);
  const rowBytes = <usize>N << 2;
  // sum[n] becomes 1/Σexp (0 for ignored tokens, which zeroes their gradient).
  for (let n = s; n < e; n += 4) {
    const o = <usize>n << 2, r = min(4, e - n);
    const valid = i32x4.ge_s(load_i32x4_partial(targets + o, r, -1), i32x4.splat(0));
    const inv = f32x4.mul(f32x4.div(f32x4.splat(1), load_f32x4_partial(sum + o, r)), f32x4.splat(scale));
    store_f32x4_partial(sum + o, v128.and(inv, valid), r);
  }
  const sc = f32x4.splat(scale);
  for (let v = 0; v < V; v++) {
    const row = dlogits + <usize>v * rowBytes;
    const vv = i32x4.splat(v);
    for (let n = s; n < e; n += 4) {
      const o = <usize>n << 2, r = min(4, e - n);
      const hot = v128.and(i32x4.eq(load_i32x4_partial(targets + o, r, -1), vv), sc);
      const g = f32x4.sub(f32x4.mul(load_f32x4_partial(row + o, r), load_f32x4_partial(sum + o, r)), hot);
      store_f32x4_partial(row + o, flush_subnormal_f32x4(g), r);
    }
  }
}

/**
 * crossentropy_backward from the statistics crossentropy_forward left in its scratch for these
 * same logits (stats [2N]: max, then Σexp): one pass, e^(l − max) recomputed as the forward did,
 * instead of three; the same bits. inv [N] f32 is scratch. dlogits may alias logits.
 */
export function crossentropy_backward_stats(dlogits: usize, logits: usize, targets: usize, V: i32, N: i32, scale: f32, stats: usize, inv: usize, tid: i32, nth: i32): void {
  const s = part_start_aligned(N, 4, tid, nth), e = part_start_aligned(N, 4, tid + 1, nth);
  const mx = stats, sum = stats + (<usize>N << 2);
  const rowBytes = <usize>N << 2;
  for (let n = s; n < e; n += 4) {
    const o = <usize>n << 2, r = min(4, e - n);
    const valid = i32x4.ge_s(load_i32x4_partial(targets + o, r, -1), i32x4.splat(0));
    const iv = f32x4.mul(f32x4.div(f32x4.splat(1), load_f32x4_partial(sum + o, r)), f32x4.splat(scale));
    store_f32x4_partial(inv + o, v128.and(iv, valid), r);
  }
  const sc = f32x4.splat(scale);
  for (let v = 0; v < V; v++) {
    const lrow = logits + <usize>v * rowBytes, drow = dlogits + <usize>v * rowBytes;
    const vv = i32x4.splat(v);
    for (let n = s; n < e; n += 4) {
      const o = <usize>n << 2, r = min(4, e - n);
      const ex = exp_f32x4(f32x4.sub(load_f32x4_partial(lrow + o, r), load_f32x4_partial(mx + o, r)));
      const hot = v128.and(i32x4.eq(load_i32x4_partial(targets + o, r, -1), vv), sc);
      const g = f32x4.sub(f32x4.mul(ex, load_f32x4_partial(inv + o, r)), hot);
      store_f32x4_partial(drow + o, flush_subnormal_f32x4(g), r);
    }
  }
}

/**
 * Mean of losses[n] over the tokens with targets[n] ≥ 0 (all N when targets is 0), summed in
 * f64 in token order; 0 when no token counts. Thread 0 computes it; other threads return 0.
 */
export function mean_loss(losses: usize, targets: usize, N: i32, tid: i32, nth: i32): f64 {
  if (tid != 0) return 0;
  let sum: f64 = 0;
  let count = 0;
  for (let n = 0; n < N; n++) {
    if (targets != 0 && load<i32>(targets + (<usize>n << 2)) < 0) continue;
    sum += <f64>load<f32>(losses + (<usize>n << 2));
    count++;
  }
  return count > 0 ? sum / <f64>count : 0;
}

/** log(1 + e^d) without overflow. */
@inline function softplus(d: f64): f64 {
  return max(d, 0) + Math.log1p(Math.exp(-Math.abs(d)));
}

/** losses[i] = softplus(l[b_i,pos_i] − l[a_i,pos_i]) for i < count (thread 0). */
export function pair_loss_forward(losses: usize, logits: usize, pos: usize, a: usize, b: usize, count: i32, V: i32, N: i32, tid: i32, nth: i32): void {
  if (tid != 0) return;
  for (let i = 0; i < count; i++) {
    const io = <usize>i << 2;
    const col = <usize>load<i32>(pos + io) << 2;
    const la = load<f32>(logits + <usize>load<i32>(a + io) * (<usize>N << 2) + col);
    const lb = load<f32>(logits + <usize>load<i32>(b + io) * (<usize>N << 2) + col);
    store<f32>(losses + io, <f32>softplus(<f64>lb - <f64>la));
  }
}

/**
 * dlogits[V,N] += the gradient of scale·Σ_i softplus(s·(l_b − l_a)), the pair loss of logits
 * divided by the temperature 1/s: ±scale·s·σ(s·(l_b − l_a)) at (b_i|a_i, pos_i) (thread 0).
 */
export function pair_loss_backward(dlogits: usize, logits: usize, pos: usize, a: usize, b: usize, count: i32, V: i32, N: i32, scale: f64, s: f64, tid: i32, nth: i32): void {
  if (tid != 0) return;
  const rowBytes = <usize>N << 2;
  for (let i = 0; i < count; i++) {
    const io = <usize>i << 2;
    const col = <usize>load<i32>(pos + io) << 2;
    const pa = <usize>load<i32>(a + io) * rowBytes + col, pb = <usize>load<i32>(b + io) * rowBytes + col;
    const d = s * (<f64>load<f32>(logits + pb) - <f64>load<f32>(logits + pa));
    const g = <f32>(scale * s / (1 + Math.exp(-d)));
    store<f32>(dlogits + pb, load<f32>(dlogits + pb) + g);
    store<f32>(dlogits + pa, load<f32>(dlogits + pa) - g);
  }
}
