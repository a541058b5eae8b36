/**
 * Runs every benchmark in turn (deno task bench). Pass --quick for a short smoke run. Each bench
 * module exports `main(): Promise<void>` that prints its own table; add one line per module.
 */
import { main as gemm } from "./gemm_bench.ts";
import { main as sparse } from "./sparse_bench.ts";
import { main as attention } from "./attention_bench.ts";
import { main as layers } from "./layers_bench.ts";
import { main as training } from "./train_bench.ts";
import { main as webgpu } from "./webgpu_bench.ts";

// The training bench runs first: run after the gemm bench's peers, it measured half the SIMD
// peak it measures alone (onnxruntime-web's thread pool is the suspect, not yet confirmed).
await training();
await gemm();
await sparse();
await attention();
await layers();
await webgpu();

// The peers' worker threads (onnxruntime-web's pool) would keep the process alive.
Deno.exit(0);
