/**
 * Training throughput: tokens/s of a sparse step at the target L0 and of the dense baseline, model
 * FLOPs utilisation (6 · matmul params · tokens/s over the measured WASM SIMD peak of all threads),
 * and each kernel's share of step time. Ratios come from one run.
 *
 * With --ef, the widths table of docs/sparsity.md instead: the small preset's shape (4 layers, base
 * width 128/512) at each expansion factor, pfrac fixed, so block density falls as pfrac/ef²;
 * per row tokens/s, its ratio to the first row, and the step split into kernel classes.
 *
 *   deno task bench            (all benchmarks)
 *   deno run -A bench/train_bench.ts [--steps N] [--threads N]
 *   deno run -A bench/train_bench.ts --ef 1,2,4 [--pfrac 0.25] [--steps N] [--threads N]
 */
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
import { denseVariant, PRESETS, type RunConfig, validateRunConfig } from "../src/train/config.ts";
import { blockDensity } from "../src/train/sparsify.ts";
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
  /** Per kernel: milliseconds per step (wall time of its calls) and share of all kernel time. */
  profile: { kernel: string; ms: number; share: number }[];
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
  const profile = [...prof.entries()]
    .map(([kernel, e]) => ({ kernel, ms: e.ms / steps, share: e.ms / total }))
    .sort((a, b) => b.ms - a.ms);
  return { tokensPerS: N / (ms / 1000), msPerStep: ms, profile };
}

/** Parameters that take part in matrix products (block matrices and lm_head). */
function matmulParams(rc: RunConfig): number {
  const C = rc.model.baseDModel * rc.model.ef, M = rc.model.baseDMlp * rc.model.ef;
  return rc.model.nLayer * (3 * C * C + C * C + 2 * C * M) + rc.model.vocabSize * C;
}

/**
 * Kernel classes of the step split. The products are what weight sparsity shrinks; the
 * activation side (norms, AbsTopK, GELU, attention, residual adds, embedding, loss) grows with
 * width whatever the density.
 */
const CLASSES: [name: string, test: (kernel: string) => boolean][] = [
  ["dense GEMM (dW, lm_head)", (k) => k.startsWith("gemm_") || k === "bias_backward_f32"],
  ["sparse products", (k) => k.startsWith("spmm_") || k.startsWith("sparse_")],
  ["weight top-k", (k) => k.startsWith("topk_") || k === "count_nonzero_f32"],
  [
    "optimizer (Adam, grad RMS, decay)",
    (k) =>
      ["adam_step", "lr_schedule", "sum_f64", "rms_from_partials", "scale_f32"].includes(k) ||
      k.startsWith("sumsq_") || k.startsWith("scale_by_inv_rms"),
  ],
  ["activation side", () => true],
];

function classOf(kernel: string): string {
  return CLASSES.find(([, test]) => test(kernel))![0];
}

/** Milliseconds per step of each class, in CLASSES order. */
function classMs(s: StepStats): number[] {
  return CLASSES.map(([name]) =>
    s.profile.filter((p) => classOf(p.kernel) === name).reduce((a, p) => a + p.ms, 0)
  );
}

/** The small preset at expansion factor ef and target pfrac (4 layers, base width 128/512). */
function widthConfig(ef: number, pfrac: number): RunConfig {
  const rc = structuredClone(PRESETS.small);
  rc.model.ef = ef;
  rc.train.pfrac = pfrac;
  validateRunConfig(rc);
  return rc;
}

async function widthTable(efs: number[], pfrac: number, steps: number, threads: number) {
  console.log(
    `\n## Training step by width: small preset shape, pfrac ${pfrac} (${threads} threads, ` +
      `${steps} timed steps; load average before: ${Deno.loadavg().map((x) => x.toFixed(2))})\n`,
  );
  const rows: [RunConfig, StepStats][] = [];
  for (const ef of efs) {
    const rc = widthConfig(ef, pfrac);
    const be = await Backend.create({ threads });
    rows.push([rc, measure(be, rc, steps)]);
    be.close();
  }
  const first = rows[0][1];
  console.log(
    "| ef | d_model / d_mlp | block density | ms/step | tokens/s | tokens/s vs first | " +
      CLASSES.map(([n]) => n).join(" | ") + " | outside kernels |",
  );
  console.log("|---|---|---|---|---|---|" + CLASSES.map(() => "---|").join("") + "---|");
  for (const [rc, s] of rows) {
    const ms = classMs(s);
    const outside = s.msPerStep - ms.reduce((a, b) => a + b, 0);
    const pct = (x: number) => `${x.toFixed(0)} ms (${(100 * x / s.msPerStep).toFixed(0)}%)`;
    const C = rc.model.baseDModel * rc.model.ef, M = rc.model.baseDMlp * rc.model.ef;
    const dens = blockDensity(rc.train.steps, rc).target;
    console.log(
      `| ${rc.model.ef} | ${C} / ${M} | 1/${Math.round(1 / dens)} | ${s.msPerStep.toFixed(0)} | ` +
        `${Math.round(s.tokensPerS)} | ${(s.tokensPerS / first.tokensPerS).toFixed(2)} | ` +
        ms.map(pct).join(" | ") + ` | ${pct(outside)} |`,
    );
  }
  console.log("\nactivation-side kernels, ms per step:");
  const act = [...new Set(rows.flatMap(([, s]) => s.profile.map((p) => p.kernel)))]
    .filter((k) => classOf(k) === "activation side");
  const at = (s: StepStats, k: string) => s.profile.find((p) => p.kernel === k)?.ms ?? 0;
  act.sort((a, b) => at(rows[rows.length - 1][1], b) - at(rows[rows.length - 1][1], a));
  console.log(`| kernel | ${rows.map(([rc]) => `ef ${rc.model.ef}`).join(" | ")} |`);
  console.log(`|---|${rows.map(() => "---|").join("")}`);
  for (const k of act) {
    console.log(`| ${k} | ${rows.map(([, s]) => at(s, k).toFixed(1)).join(" | ")} |`);
  }
  console.log("\nrepeat one row:");
  for (const [rc] of rows) {
    console.log(
      `  deno run -A bench/train_bench.ts --ef ${rc.model.ef} --pfrac ${pfrac} --steps ${steps} ` +
        `--threads ${threads}`,
    );
  }
}

export async function main(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      steps: { type: "string" },
      threads: { type: "string" },
      ef: { type: "string" },
      pfrac: { type: "string" },
    },
    strict: false,
  });
  const steps = Number(values.steps ?? 4);
  const threads = Number(values.threads ?? (navigator.hardwareConcurrency || 1));
  if (!Number.isInteger(steps) || steps < 1) {
    throw new Error(`--steps must be ≥ 1: ${values.steps}`);
  }
  if (typeof values.ef === "string") {
    const efs = values.ef.split(",").map(Number);
    if (efs.some((e) => !(e > 0))) throw new Error(`--ef wants a list like 1,2,4: ${values.ef}`);
    const pfrac = Number(values.pfrac ?? PRESETS.small.train.pfrac);
    await widthTable(efs, pfrac, steps, threads);
    return;
  }
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
    for (const p of s.profile.slice(0, 12)) {
      console.log(`  ${p.kernel.padEnd(28)} ${(100 * p.share).toFixed(1).padStart(5)}%`);
    }
  }
}

if (import.meta.main) await main(Deno.args);
