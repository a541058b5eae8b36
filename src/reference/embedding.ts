/**
 * Scalar reference for src/backend/ops/embedding.ts (the test oracle): row gathers into columns and
 * their scatter-add, tokens in order. Exact.
 */
const f = Math.fround;

/** out[c,n] = wte[tokens[n]·C + c]. */
export function embeddingForward(a: {
  out: Float32Array;
  tokens: Int32Array;
  wte: Float32Array;
  C: number;
  N: number;
}): void {
  const { out, tokens, wte, C, N } = a;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) out[c * N + n] = wte[tokens[n] * C + c];
  }
}

/** dwte[tokens[n]·C + c] += dout[c,n], n in order. */
export function embeddingBackward(a: {
  dwte: Float32Array;
  dout: Float32Array;
  tokens: Int32Array;
  C: number;
  N: number;
}): void {
  const { dwte, dout, tokens, C, N } = a;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const i = tokens[n] * C + c;
      dwte[i] = f(dwte[i] + dout[c * N + n]);
    }
  }
}

/** logits[v,n] += table[tokens[n]·V + v]. */
export function bigramForward(a: {
  logits: Float32Array;
  tokens: Int32Array;
  table: Float32Array;
  V: number;
  N: number;
}): void {
  const { logits, tokens, table, V, N } = a;
  for (let n = 0; n < N; n++) {
    for (let v = 0; v < V; v++) logits[v * N + n] = f(logits[v * N + n] + table[tokens[n] * V + v]);
  }
}

/** dtable[tokens[n]·V + v] += dlogits[v,n], n in order. */
export function bigramBackward(a: {
  dtable: Float32Array;
  dlogits: Float32Array;
  tokens: Int32Array;
  V: number;
  N: number;
}): void {
  embeddingBackward({ dwte: a.dtable, dout: a.dlogits, tokens: a.tokens, C: a.V, N: a.N });
}
