/**
 * Runs every benchmark in turn (deno task bench). Pass --quick for a short smoke run. Each bench
 * module exports `main(): Promise<void>` that prints its own table; add one line per module. They
 * are imported after the flags are read, so --help and a bad flag need none of the peers.
 */
import { commandFlags, exitOnUserError } from "../src/cli_flags.ts";

const USAGE = `usage: deno task bench [--quick] [--ef E]

Runs every benchmark in turn and prints each one's table: training throughput (per-kernel split),
GEMM against its peers, sparse products, attention, and the layer kernels (--ef E: at that
width). Times are ratios within one run; the host's other load moves them.

  --quick   a short smoke run of each
  --ef E    the layer benchmark's width expansion factor
  --help    this text`;

try {
  const flags = { quick: { type: "boolean" }, ef: { type: "string" } } as const;
  if (!commandFlags("bench", USAGE, flags, Deno.args)) Deno.exit(0);
} catch (e) {
  exitOnUserError(e);
}

// The training bench runs first: run after the gemm bench's peers, it measured half the SIMD
// peak it measures alone (onnxruntime-web's thread pool is the suspect, not yet confirmed).
for (
  const load of [
    () => import("./train_bench.ts"),
    () => import("./gemm_bench.ts"),
    () => import("./sparse_bench.ts"),
    () => import("./attention_bench.ts"),
    () => import("./layers_bench.ts"),
    () => import("./webgpu_bench.ts"),
  ]
) await (await load()).main();

// The peers' worker threads (onnxruntime-web's pool) would keep the process alive.
Deno.exit(0);
