/**
 * Scalar reference for src/backend/ops/abstopk.ts (the test oracle): per token, sort the channels
 * by |x| descending (lower channel first among equals) and keep the first k. Exact.
 */

/** out [C,N] keeps each token's k largest-|x| entries (ties: lower channel); mask [C,N] 1 = kept. */
export function absTopKForward(a: {
  out: Float32Array;
  mask: Uint8Array;
  inp: Float32Array;
  C: number;
  N: number;
  k: number;
}): void {
  const { out, mask, inp, C, N, k } = a;
  for (let n = 0; n < N; n++) {
    const order = Array.from({ length: C }, (_, c) => c);
    order.sort((i, j) => Math.abs(inp[j * N + n]) - Math.abs(inp[i * N + n]) || i - j);
    const kept = new Set(order.slice(0, Math.max(0, Math.min(k, C))));
    for (let c = 0; c < C; c++) {
      const keep = kept.has(c);
      mask[c * N + n] = keep ? 1 : 0;
      out[c * N + n] = keep ? inp[c * N + n] : 0;
    }
  }
}

/** dinp += dout where mask is set. */
export function absTopKBackward(a: {
  dinp: Float32Array;
  dout: Float32Array;
  mask: Uint8Array;
  C: number;
  N: number;
}): void {
  const { dinp, dout, mask, C, N } = a;
  for (let i = 0; i < C * N; i++) dinp[i] = Math.fround(dinp[i] + (mask[i] ? dout[i] : 0));
}

/** dinp = 0 + (dout where mask is set, else 0): absTopKBackward into a zero-filled dinp. */
export function absTopKBackwardWrite(a: {
  dinp: Float32Array;
  dout: Float32Array;
  mask: Uint8Array;
  C: number;
  N: number;
}): void {
  a.dinp.fill(0, 0, a.C * a.N);
  absTopKBackward(a);
}
