/**
 * Training throughput at the small preset: tokens/s of a sparse step at the target L0 and of the
 * dense baseline, model FLOPs utilisation (6 · matmul params · tokens/s over the measured WASM SIMD
 * peak of all threads), and each kernel's share of step time. Ratios come from one run.
 *
 *   deno task bench            (all benchmarks)
 *   deno run -A bench/train_bench.ts [--steps N] [--threads N]
 */
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
import { paramLayout } from "../src/model/params.ts";
import { denseVariant, PRESETS, type RunConfig } from "../src/train/config.ts";
import { StepRunner } from "../src/train/step.ts";
import { Rng } from "../src/util/rng.ts";

/** GFLOP/s of the f32x4 mul+add peak kernel on every thread of `be` together. */
export function peakGflops(be: Backend): number {
  const out = be.arena.tensor([4 * 64]).ptr;
  const steps = 4_000_000;
  let best = 0;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    be.run("peak_f32x4_mul_add", [steps, 1 - 2 ** -10, 2 ** -10, out]);
    const s = (performance.now() - t0) / 1000;
    best = Math.max(best, (steps * 96 * be.threads) / s / 1e9);
  }
  return best;
}

interface StepStats {
  tokensPerS: number;
  msPerStep: number;
  profile: [string, number][];
}

function measure(be: Backend, rc: RunConfig, steps: number): StepStats {
  const runner = new StepRunner(be, rc);
  runner.model.init(rc.train.seed);
  // Jump to the end of the anneal: the sparse model at its target L0.
  const at = rc.train.steps - steps - 1;
  const B = rc.train.batchSize, T = rc.model.nCtx, N = B * T;
  const rng = new Rng(7);
  const inputs = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
  const targets = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
  runner.step(inputs, targets, at); // warm-up; applies top-k at the target count
  be.profile = new Map();
  const t0 = performance.now();
  for (let s = 0; s < steps; s++) runner.step(inputs, targets, at + 1 + s);
  const ms = (performance.now() - t0) / steps;
  const prof = be.profile;
  be.profile = null;
  const total = [...prof.values()].reduce((a, e) => a + e.ms, 0);
  const profile = [...prof.entries()].map(([k, e]) => [k, e.ms / total] as [string, number])
    .sort((a, b) => b[1] - a[1]);
  return { tokensPerS: N / (ms / 1000), msPerStep: ms, profile };
}

/** Parameters that take part in matrix products (block matrices and lm_head). */
function matmulParams(rc: RunConfig): number {
  const layout = paramLayout(rc.model);
  return layout.specs.filter((s) => s.cls === "block").reduce((n, s) => n + s.size, 0) +
    layout.lmHead.size;
}

export async function main(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { steps: { type: "string" }, threads: { type: "string" } },
    strict: false,
  });
  const steps = Number(values.steps ?? 4);
  const threads = Number(values.threads ?? (navigator.hardwareConcurrency || 1));
  const sparse = structuredClone(PRESETS.small);
  const dense = denseVariant(PRESETS.small);
  console.log(`\n## Training step, small preset (${threads} threads, ${steps} timed steps)\n`);
  const be = await Backend.create({ threads });
  const peak = peakGflops(be);
  be.close();
  const rows: [string, StepStats][] = [];
  for (const [name, rc] of [["sparse (target L0)", sparse], ["dense baseline", dense]] as const) {
    const b = await Backend.create({ threads });
    rows.push([name, measure(b, rc, steps)]);
    b.close();
  }
  const flopsPerToken = 6 * matmulParams(sparse);
  console.log(`WASM SIMD peak, ${threads} threads: ${peak.toFixed(1)} GFLOP/s`);
  console.log("| model | ms/step | tokens/s | 6·P·tok/s (GFLOP/s) | utilisation of peak |");
  console.log("|---|---|---|---|---|");
  for (const [name, s] of rows) {
    const g = (flopsPerToken * s.tokensPerS) / 1e9;
    console.log(
      `| ${name} | ${s.msPerStep.toFixed(1)} | ${Math.round(s.tokensPerS)} | ${g.toFixed(1)} | ${
        (100 * g / peak).toFixed(1)
      }% |`,
    );
  }
  console.log(
    `\nsparse step / dense step: ${(rows[0][1].msPerStep / rows[1][1].msPerStep).toFixed(2)} ` +
      `(target ≤ 0.40)`,
  );
  for (const [name, s] of rows) {
    console.log(`\nshare of step time, ${name}:`);
    for (const [k, f] of s.profile.slice(0, 12)) {
      console.log(`  ${k.padEnd(28)} ${(100 * f).toFixed(1).padStart(5)}%`);
    }
  }
}

if (import.meta.main) await main(Deno.args);
