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
 *   deno run -A bench/train_bench.ts [--steps N] [--threads N] [--grad-rounds N] [--no-torch]
 *   deno run -A bench/train_bench.ts --grad-table-only [--threads N] [--grad-rounds N]
 *   deno run -A bench/train_bench.ts --ef 1,2,4 [--pfrac 0.25] [--steps N] [--threads N]
 *
 * The default run ends with the sparse-gradient mode against the method at ef 1, 2, 4
 * (sparseGradTable), and, where a Python with torch is found (src/util/torch_python.ts), the same
 * shapes trained by PyTorch on the same number of threads (bench/torch_peer.py), timed in the same
 * rounds; --no-torch leaves the peer out. --grad-table-only runs only that last part.
 */
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
import { paramLayout } from "../src/model/params.ts";
import { type RunConfig, validateRunConfig } from "../src/run/config.ts";
import { denseVariant, PRESETS } from "../src/train/presets.ts";
import { blockDensity } from "../src/train/sparsify.ts";
import { StepRunner } from "../src/train/step.ts";
import { Rng } from "../src/util/rng.ts";
import { TorchPeer } from "./torch_peer.ts";

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
  const layout = paramLayout(rc.model);
  return layout.specs.filter((s) => s.cls === "block").reduce((n, s) => n + s.size, 0) +
    layout.lmHead.size;
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
      "grad-rounds": { type: "string" },
      "no-torch": { type: "boolean" },
      "grad-table-only": { type: "boolean" },
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
  const gradRounds = Number(values["grad-rounds"] ?? 3);
  if (!Number.isInteger(gradRounds) || gradRounds < 1) {
    throw new Error(`--grad-rounds must be ≥ 1: ${values["grad-rounds"]}`);
  }
  const torch = !values["no-torch"];
  if (values["grad-table-only"]) {
    await sparseGradTable(threads, gradRounds, torch);
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
  await sparseGradTable(threads, gradRounds, torch);
}

// ---------------------------------------------------------------------------------------------
// The sparse-gradient mode (--dense-grad-every R, src/train/kept_grads.ts) against the method.

/** Step times (ms) of one kind of step, and the kernels' summed ms over those steps. */
class Tally {
  readonly ms: number[] = [];
  readonly kernels = new Map<string, number>();

  /** Shortest step (ms), and each kernel's mean ms per step. */
  result(): { ms: number; kernels: Map<string, number> } {
    const n = this.ms.length;
    return {
      ms: Math.min(...this.ms),
      kernels: new Map([...this.kernels].map(([k, v]) => [k, v / n])),
    };
  }
}

/** Runs step `at` of `runner`; with a tally, times it and adds its kernels. */
function timedStep(
  runner: StepRunner,
  batch: [Int32Array, Int32Array],
  at: number,
  tally: Tally | null,
): void {
  const be = runner.be;
  be.profile = tally ? new Map() : null;
  const t0 = performance.now();
  runner.step(...batch, at);
  if (!tally) return;
  tally.ms.push(performance.now() - t0);
  for (const [k, e] of be.profile!) tally.kernels.set(k, (tally.kernels.get(k) ?? 0) + e.ms);
  be.profile = null;
}

/**
 * tokens/s of R = 1 (the method), 4 and 16 at ef 1, 2, 4 (base 128/512, 4 layers, pfrac 0.25:
 * block density 1/4, 1/16, 1/64) at the target L0, and the per-kernel split. Each ef has a
 * method runner and an R = 16 runner; every round times one step of each kind on each, so load
 * on the machine hits all alike, and the shortest step of each kind counts. R > 1 rows combine
 * the sparse-step and dense-step times: R batches per (R − 1) sparse + 1 dense step.
 *
 * With `torch`, a PyTorch peer (bench/torch_peer.ts) trains the same three shapes at the same
 * target L0 with the method's step on `threads` threads; each round times one of its steps after
 * thinwire's of the same ef, and tablePeer compares them.
 */
export async function sparseGradTable(
  threads: number,
  rounds: number,
  torch = true,
): Promise<void> {
  const load0 = Deno.loadavg();
  console.log(
    `\n## Sparse-gradient mode (--dense-grad-every R), small preset shape at ef 1, 2, 4 ` +
      `(${threads} threads, shortest of ${rounds} steps of each kind)\n`,
  );
  // Past the anneal; 16 divides 2000: steps 1999 + 16i are dense at R = 16, the others sparse.
  const base = 1999;
  const cfgs = [1, 2, 4].map((ef) => {
    const rc = structuredClone(PRESETS.small);
    rc.model.ef = ef;
    const N = rc.train.batchSize * rc.model.nCtx;
    const rng = new Rng(7);
    const batch: [Int32Array, Int32Array] = [
      new Int32Array(N).map(() => rng.int(rc.model.vocabSize)),
      new Int32Array(N).map(() => rng.int(rc.model.vocabSize)),
    ];
    return { ef, rc, N, batch, method: new Tally(), sparse: new Tally(), dense: new Tally() };
  });
  const peer = torch
    ? await TorchPeer.start(threads, cfgs.map((c) => c.rc))
    : "left out (--no-torch)";
  const peerMs: number[][] = cfgs.map(() => []);
  const runners: { method: StepRunner; kept: StepRunner }[] = [];
  try {
    for (const { rc, batch } of cfgs) {
      const make = async (R: number) => {
        const be = await Backend.create({ threads });
        const runner = new StepRunner(be, { ...rc, train: { ...rc.train, denseGradEvery: R } });
        runner.model.init(rc.train.seed);
        timedStep(runner, batch, base, null); // top-k to the target count (dense at R = 16)
        return runner;
      };
      const method = await make(1), kept = await make(16);
      timedStep(kept, batch, base + 1, null); // the first sparse step
      runners.push({ method, kept });
    }
    for (let i = 0; i < rounds; i++) {
      for (const [e, c] of cfgs.entries()) {
        const { method, kept } = runners[e];
        timedStep(method, c.batch, base + 2 + i, c.method);
        timedStep(kept, c.batch, base + 2 + 16 * i, c.sparse);
        timedStep(kept, c.batch, base + 16 * (i + 1), c.dense);
        if (peer instanceof TorchPeer) peerMs[e].push(...await peer.steps(e, 1));
      }
    }
  } finally {
    for (const { method, kept } of runners) {
      method.be.close();
      kept.be.close();
    }
    if (peer instanceof TorchPeer) await peer.close();
  }
  const rows = cfgs.map((c) => ({
    ef: c.ef,
    N: c.N,
    method: c.method.result(),
    sparse: c.sparse.result(),
    dense: c.dense.result(),
  }));
  const tps = (r: (typeof rows)[0], R: number) =>
    R === 1
      ? r.N / (r.method.ms / 1000)
      : (R * r.N) / (((R - 1) * r.sparse.ms + r.dense.ms) / 1000);
  const ref = tps(rows[0], 1);
  console.log(
    "| ef | block density | R = 1 ms/step | sparse step ms | dense step ms (R > 1) | " +
      "tokens/s R = 1 | R = 4 | R = 16 | R = 16 / (ef 1, R = 1) |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.ef} | 1/${4 * r.ef * r.ef} | ${r.method.ms.toFixed(0)} | ${
        r.sparse.ms.toFixed(0)
      } | ` +
        `${r.dense.ms.toFixed(0)} | ${tps(r, 1).toFixed(0)} | ${tps(r, 4).toFixed(0)} | ` +
        `${tps(r, 16).toFixed(0)} | ${(tps(r, 16) / ref).toFixed(2)} |`,
    );
  }
  console.log("\nms per step by kernel, mean over the timed steps (R = 1 step | sparse step):\n");
  const cols = rows.flatMap((r) => [r.method.kernels, r.sparse.kernels]);
  const names = new Set<string>();
  for (const c of cols) {
    for (const [k] of [...c].sort((a, b) => b[1] - a[1]).slice(0, 10)) names.add(k);
  }
  const last = cols[cols.length - 1];
  const order = [...names].sort((a, b) => (last.get(b) ?? 0) - (last.get(a) ?? 0));
  console.log(
    "| kernel | " + rows.map(({ ef }) => `ef ${ef} R = 1 | ef ${ef} sparse`).join(" | ") + " |",
  );
  console.log("|---|" + "---|".repeat(cols.length));
  const sum = (c: Map<string, number>, skip: Set<string>) =>
    [...c].reduce((a, [k, v]) => a + (skip.has(k) ? 0 : v), 0);
  for (const k of order) {
    console.log(`| ${k} | ${cols.map((c) => (c.get(k) ?? 0).toFixed(1)).join(" | ")} |`);
  }
  console.log(`| (others) | ${cols.map((c) => sum(c, names).toFixed(1)).join(" | ")} |`);
  console.log(`| all kernels | ${cols.map((c) => sum(c, new Set()).toFixed(1)).join(" | ")} |`);
  tablePeer(
    threads,
    rounds,
    peer,
    rows.map((r, e) => ({
      ef: r.ef,
      r1: tps(r, 1),
      r16: tps(r, 16),
      torch: peerMs[e].length ? r.N / (Math.min(...peerMs[e]) / 1000) : NaN,
    })),
    [load0, Deno.loadavg()],
  );
}

/** A name for the BLAS library a path resolves to (Debian's alternatives point libblas.so.3). */
function blasName(path: string): string {
  if (/openblas/i.test(path)) return "OpenBLAS";
  if (/mkl/i.test(path)) return "MKL";
  if (/blis/i.test(path)) return "BLIS";
  if (/atlas/i.test(path)) return "ATLAS";
  if (/\/blas\/libblas\.so/.test(path)) return "reference BLAS (netlib)";
  return "unknown";
}

/** The PyTorch table: tokens/s of each side and thinwire over PyTorch (issue 10's targets). */
function tablePeer(
  threads: number,
  rounds: number,
  peer: TorchPeer | string,
  rows: { ef: number; r1: number; r16: number; torch: number }[],
  load: number[][],
): void {
  console.log(`\n## PyTorch on the same cores (${threads} threads, shortest of ${rounds} steps)\n`);
  if (typeof peer === "string") {
    console.log(`PyTorch peer: ${peer}`);
    return;
  }
  const info = peer.info!;
  const blas = info.blas_loaded.map((p) => `${blasName(p)} (${p})`).join(", ") || "none mapped";
  console.log(
    `${peer.exe}: torch ${info.torch}, ${info.threads} threads, BLAS_INFO=${info.blas_info}, ` +
      `loaded ${blas}` +
      (info.compat.length ? `; torch_compat added ${info.compat.join(", ")}` : ""),
  );
  const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  console.log(`load average before ${fmt(load[0])}, after ${fmt(load[1])}\n`);
  console.log(
    "| ef | block density | thinwire R = 1 tokens/s | thinwire R = 16 tokens/s | " +
      "PyTorch tokens/s | R = 1 / PyTorch | R = 16 / PyTorch |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.ef} | 1/${4 * r.ef * r.ef} | ${r.r1.toFixed(0)} | ${r.r16.toFixed(0)} | ` +
        `${r.torch.toFixed(0)} | ${(r.r1 / r.torch).toFixed(2)} | ${
          (r.r16 / r.torch).toFixed(2)
        } |`,
    );
  }
  console.log("\nissue 10's goal: thinwire / PyTorch ≥ 1.5 at ef 1 and ≥ 5 at ef 4 (density 1/64)");
}

if (import.meta.main) await main(Deno.args);
