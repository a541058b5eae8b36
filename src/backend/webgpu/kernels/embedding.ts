/**
 * Lookups by token id (asm/kernels/embedding.ts) and column gathers (gather.ts). Forward: one
 * invocation per output element. Backward: one invocation per table column (channel c of wte,
 * vocabulary row v of the bigram table), adding the tokens in order n = 0..N−1 as the WASM
 * kernels do, so repeated tokens sum in the same order and the bits match. Ids outside [0, V)
 * read as zero rows and are skipped (the wrappers reject them first).
 */
import type { GpuKernelSpec } from "../wgsl.ts";
import { elementwise } from "./elementwise.ts";

/** The product of two arguments as the derived uniform `name` (an element count). */
function product(name: string, x: string, y: string): GpuKernelSpec["derived"] {
  return { decl: `${name}:u`, values: (a) => [a[x] * a[y]] };
}

export const EMBEDDING: GpuKernelSpec[] = [
  elementwise(
    "embedding_forward",
    "out:p tokens:p wte:p C:u N:u V:u",
    `let c = i / a.N; let n = i - c * a.N;
    let t = mem[a.tokens + n];
    stf(a.out + i, select(0.0, ldf(a.wte + t * a.C + c), t < a.V));`,
    { count: "CN", derived: product("CN", "C", "N") },
  ),
  elementwise(
    "embedding_backward",
    "dwte:p dout:p tokens:p C:u N:u V:u",
    `for (var n = 0u; n < a.N; n++) {
      let t = mem[a.tokens + n];
      if (t < a.V) {
        let p = a.dwte + t * a.C + i;
        stf(p, ldf(p) + ldf(a.dout + i * a.N + n));
      }
    }`,
    { count: "C" },
  ),
  elementwise(
    "bigram_forward",
    "logits:p tokens:p table:p V:u N:u",
    `let v = i / a.N; let n = i - v * a.N;
    let t = mem[a.tokens + n];
    let x = select(0.0, ldf(a.table + t * a.V + v), t < a.V);
    stf(a.logits + i, ldf(a.logits + i) + x);`,
    { count: "VN", derived: product("VN", "V", "N") },
  ),
  elementwise(
    "bigram_backward",
    "dtable:p dlogits:p tokens:p V:u N:u",
    `for (var n = 0u; n < a.N; n++) {
      let t = mem[a.tokens + n];
      if (t < a.V) {
        let p = a.dtable + t * a.V + i;
        stf(p, ldf(p) + ldf(a.dlogits + i * a.N + n));
      }
    }`,
    { count: "V" },
  ),
  elementwise(
    "gather_cols_f32",
    "out:p inp:p idx:p C:u N:u R:u",
    `let c = i / a.R; let r = i - c * a.R;
    stf(a.out + i, ldf(a.inp + c * a.N + mem[a.idx + r]));`,
    { count: "CR", derived: product("CR", "C", "R") },
  ),
  elementwise(
    "scatter_add_cols_f32",
    "out:p inp:p idx:p C:u N:u R:u",
    `for (var r = 0u; r < a.R; r++) {
      let p = a.out + i * a.N + mem[a.idx + r];
      stf(p, ldf(p) + ldf(a.inp + i * a.R + r));
    }`,
    { count: "C" },
  ),
];
