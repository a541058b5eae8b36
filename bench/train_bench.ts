/**
 * Training throughput at the small preset: tokens/s of a sparse step at the target L0 and of the
 * dense baseline, model FLOPs utilisation (6 · matmul params · tokens/s over the measured WASM SIMD
 * peak of all threads), and each kernel's share of step time. Ratios come from one run.
 *
 *   deno task bench            (all benchmarks)
 *   deno run -A bench/train_bench.ts [--steps N] [--threads N] [--grad-steps N]
 *
 * Then the sparse-gradient mode against the method at ef 1, 2, 4 (sparseGradTable).
 */
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
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
  const C = rc.model.baseDModel * rc.model.ef, M = rc.model.baseDMlp * rc.model.ef;
  return rc.model.nLayer * (3 * C * C + C * C + 2 * C * M) + rc.model.vocabSize * C;
}

export async function main(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: "string" },
      threads: { type: "string" },
      "grad-steps": { type: "string" },
    },
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
  await sparseGradTable(threads, Number(values["grad-steps"] ?? 3));
}

// ---------------------------------------------------------------------------------------------
// The sparse-gradient mode (--dense-grad-every R, src/train/kept_grads.ts) against the method.

/** Mean ms per step and per kernel of the steps `at` (the first one untimed when warm). */
function timeSteps(
  be: Backend,
  runner: StepRunner,
  batch: [Int32Array, Int32Array],
  at: number[],
  warm: boolean,
): { ms: number; kernels: Map<string, number> } {
  if (warm) runner.step(...batch, at[0]);
  const timed = warm ? at.slice(1) : at;
  be.profile = new Map();
  const t0 = performance.now();
  for (const s of timed) runner.step(...batch, s);
  const n = timed.length;
  const ms = (performance.now() - t0) / n;
  const kernels = new Map([...be.profile].map(([k, e]) => [k, e.ms / n]));
  be.profile = null;
  return { ms, kernels };
}

/**
 * ms per step of the method (R = 1) and, in the sparse-gradient mode, of its sparse steps and of
 * its dense ones, at the target L0 (after the anneal), with the per-kernel split of each.
 */
async function gradModeSteps(threads: number, rc: RunConfig, steps: number) {
  const B = rc.train.batchSize, T = rc.model.nCtx, N = B * T;
  const rng = new Rng(7);
  const batch: [Int32Array, Int32Array] = [
    new Int32Array(N).map(() => rng.int(rc.model.vocabSize)),
    new Int32Array(N).map(() => rng.int(rc.model.vocabSize)),
  ];
  // Step indices past the anneal; 16 divides 2000, so step 1999 is dense for R = 16.
  const base = 1999;
  const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  const run = async (R: number, at: [number[], boolean][]) => {
    const be = await Backend.create({ threads });
    try {
      const runner = new StepRunner(be, { ...rc, train: { ...rc.train, denseGradEvery: R } });
      runner.model.init(rc.train.seed);
      // The first call applies top-k at the target count (a dense step for R = 16).
      runner.step(...batch, base);
      return at.map(([a, warm]) => timeSteps(be, runner, batch, a, warm));
    } finally {
      be.close();
    }
  };
  const [method] = await run(1, [[range(base + 1, steps), false]]);
  // R = 16: steps 2000 … 2014 are sparse (the first one untimed: the first of its kind), 2015
  // and 2031 dense.
  const [sparse, dense] = await run(16, [
    [range(base + 1, Math.min(steps, 14) + 1), true],
    [[base + 16, base + 32].slice(0, Math.max(1, Math.min(2, steps))), false],
  ]);
  return { N, method, sparse, dense };
}

/**
 * tokens/s of R = 1 (the method), 4 and 16 at ef 1, 2, 4 (base 128/512, 4 layers, pfrac 0.25:
 * block density 1/4, 1/16, 1/64) and the per-kernel split. R > 1 rows combine the measured
 * sparse-step and dense-step times: R tokens batches per (R − 1) sparse + 1 dense step.
 */
export async function sparseGradTable(threads: number, steps: number): Promise<void> {
  console.log(
    `\n## Sparse-gradient mode (--dense-grad-every R), small preset shape at ef 1, 2, 4 ` +
      `(${threads} threads, ${steps} timed steps of each kind)\n`,
  );
  const rows: { ef: number; r: Awaited<ReturnType<typeof gradModeSteps>> }[] = [];
  for (const ef of [1, 2, 4]) {
    const rc = structuredClone(PRESETS.small);
    rc.model.ef = ef;
    rows.push({ ef, r: await gradModeSteps(threads, rc, steps) });
  }
  const tps = (r: (typeof rows)[0]["r"], R: number) =>
    R === 1
      ? r.N / (r.method.ms / 1000)
      : (R * r.N) / (((R - 1) * r.sparse.ms + r.dense.ms) / 1000);
  const ref = tps(rows[0].r, 1);
  console.log(
    "| ef | block density | R = 1 ms/step | sparse step ms | dense step ms (R > 1) | " +
      "tokens/s R = 1 | R = 4 | R = 16 | R = 16 / (ef 1, R = 1) |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const { ef, r } of rows) {
    console.log(
      `| ${ef} | 1/${4 * ef * ef} | ${r.method.ms.toFixed(0)} | ${r.sparse.ms.toFixed(0)} | ` +
        `${r.dense.ms.toFixed(0)} | ${tps(r, 1).toFixed(0)} | ${tps(r, 4).toFixed(0)} | ` +
        `${tps(r, 16).toFixed(0)} | ${(tps(r, 16) / ref).toFixed(2)} |`,
    );
  }
  console.log("\nms per step by kernel (R = 1 step | sparse step of R > 1):\n");
  const cols = rows.flatMap(({ r }) => [r.method.kernels, r.sparse.kernels]);
  const names = new Set<string>();
  for (const c of cols) {
    for (const [k] of [...c].sort((a, b) => b[1] - a[1]).slice(0, 10)) names.add(k);
  }
  const order = [...names].sort((a, b) => (cols[5].get(b) ?? 0) - (cols[5].get(a) ?? 0));
  console.log(
    "| kernel | " + rows.map(({ ef }) => `ef ${ef} R = 1 | ef ${ef} sparse`).join(" | ") + " |",
  );
  console.log("|---|" + "---|".repeat(cols.length));
  for (const k of order) {
    console.log(`| ${k} | ${cols.map((c) => (c.get(k) ?? 0).toFixed(1)).join(" | ")} |`);
  }
  const sum = (c: Map<string, number>) => [...c.values()].reduce((a, b) => a + b, 0);
  console.log(`| all kernels | ${cols.map((c) => sum(c).toFixed(1)).join(" | ")} |`);
}

if (import.meta.main) await main(Deno.args);
