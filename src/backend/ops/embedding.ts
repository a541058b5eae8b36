/**
 * Lookups by token id (asm/kernels/embedding.ts): the token embedding wte [V,C] into feature-major
 * activations [C,N], and the bigram table [V,V] added to the logits [V,N] (docs/method.md §1). Token ids
 * are checked in wasm first: one outside [0, V) is a KernelError. The backwards accumulate and are
 * deterministic (threads split channels; tokens are added in order).
 */
import type { ComputeBackend } from "../backend.ts";
import { checkBuffers, checkDims, checkIdsInRange } from "./layer_args.ts";

/** out[c,n] = wte[tokens[n]·C + c]; tokens Int32 [N], wte [V,C]. */
export function embeddingForward(
  be: ComputeBackend,
  a: { out: number; tokens: number; wte: number; C: number; N: number; V: number },
): void {
  const { C, N, V } = a;
  const shapes = `wte [V=${V}, C=${C}] tokens [N=${N}]`;
  checkDims("embedding_forward", shapes, { C, N, V });
  checkBuffers(be, "embedding_forward", shapes, {
    out: [a.out, 4 * C * N],
    tokens: [a.tokens, 4 * N],
    wte: [a.wte, 4 * V * C],
  });
  checkIdsInRange(be, "embedding_forward", shapes, "tokens", a.tokens, N, 0, V);
  be.run("embedding_forward", [a.out, a.tokens, a.wte, C, N, V], C * N);
}

/**
 * dwte[tokens[n]·C + c] += dout[c,n]. V (rows of dwte) bounds the token ids; without it they are
 * trusted to be the ones embeddingForward checked, and only need to be ≥ 0.
 */
export function embeddingBackward(
  be: ComputeBackend,
  a: { dwte: number; dout: number; tokens: number; C: number; N: number; V?: number },
): void {
  const { C, N } = a;
  // Without V, the largest row index whose byte offset fits the kernel's 32-bit arithmetic.
  const V = a.V ?? Math.floor(0x7fffffff / (4 * Math.max(C, 1)));
  const shapes = `dwte [V=${a.V ?? "?"}, C=${C}] tokens [N=${N}]`;
  checkDims("embedding_backward", shapes, { C, N, V });
  checkBuffers(be, "embedding_backward", shapes, {
    dwte: [a.dwte, a.V === undefined ? 4 * C : 4 * V * C],
    dout: [a.dout, 4 * C * N],
    tokens: [a.tokens, 4 * N],
  });
  checkIdsInRange(be, "embedding_backward", shapes, "tokens", a.tokens, N, 0, V);
  be.run("embedding_backward", [a.dwte, a.dout, a.tokens, C, N, V], C * N);
}

/** logits[v,n] += table[tokens[n]·V + v]; table [V,V], logits [V,N]. */
export function bigramForward(
  be: ComputeBackend,
  a: { logits: number; tokens: number; table: number; V: number; N: number },
): void {
  const { V, N } = a;
  const shapes = `table [V=${V}, V] logits [V, N=${N}]`;
  checkDims("bigram_forward", shapes, { V, N });
  checkBuffers(be, "bigram_forward", shapes, {
    logits: [a.logits, 4 * V * N],
    tokens: [a.tokens, 4 * N],
    table: [a.table, 4 * V * V],
  });
  checkIdsInRange(be, "bigram_forward", shapes, "tokens", a.tokens, N, 0, V);
  be.run("bigram_forward", [a.logits, a.tokens, a.table, V, N], V * N);
}

/** dtable[tokens[n]·V + v] += dlogits[v,n]. */
export function bigramBackward(
  be: ComputeBackend,
  a: { dtable: number; dlogits: number; tokens: number; V: number; N: number },
): void {
  const { V, N } = a;
  const shapes = `table [V=${V}, V] dlogits [V, N=${N}]`;
  checkDims("bigram_backward", shapes, { V, N });
  checkBuffers(be, "bigram_backward", shapes, {
    dtable: [a.dtable, 4 * V * V],
    dlogits: [a.dlogits, 4 * V * N],
    tokens: [a.tokens, 4 * N],
  });
  checkIdsInRange(be, "bigram_backward", shapes, "tokens", a.tokens, N, 0, V);
  be.run("bigram_backward", [a.dtable, a.dlogits, a.tokens, V, N], V * N);
}
