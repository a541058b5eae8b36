/**
 * What the L0 anneal costs: step time against block density for one shape (a preset, by default
 * the small one at --ef, sparse gradients every --dense-grad-every R), and the wall time this
 * predicts for an N-step run under each anneal shape (src/train/sparsify.ts: linear, the method,
 * or cubic), with the number of steps that fit a time budget. docs/sparsity.md chose the
 * equal-time runs' step counts and the paper preset with it.
 *
 *   deno run -A bench/anneal_bench.ts [--preset small] [--ef 4] [--dense-grad-every 16]
 *     [--anneal-from D] [--threads 2] [--steps 2400] [--budget-min 15] [--rounds 2]
 *     [--no-dense-start]
 *   deno run -A bench/anneal_bench.ts --preset paper --budget-min 120 \
 *     --anneal-from 0.0625,0.03125,0.015625 --dense-grad-every 16,32 --steps 9766,8500
 *
 * --dense-grad-every, --anneal-from and --steps take comma lists: every combination is predicted
 * from the same measurements.
 *
 * A step's cost depends on the density it runs at (dense products at density ≥ SPARSE_DENSITY,
 * sparse ones below, plus the anneal's top-k and rebuild), not on the shape, so the bench times
 * steps at a few densities and integrates each shape's schedule over them (piecewise linear in
 * density). The method's anneal starts dense: each density gets a fresh model at init, pruned to
 * it by one untimed step, then `rounds` steps of each kind are timed (R > 1: sparse and
 * dense-gradient steps; R = 1: method steps), the shortest counting. A sparse anneal
 * (--anneal-from D < 1, or a preset that has one; src/train/sparse_anneal.ts) gets its own curve
 * from D to the target: each density's model is pruned at init as a run starting there would be,
 * and its sparse steps prune nothing (the kept tensors are pruned on dense-gradient steps only).
 * --no-dense-start leaves the method's curve out (it is the slow part of this bench at ef 4).
 *
 * Each step is also timed in CPU time (the process's, all threads), which other jobs on a shared
 * machine move much less than wall time; the predictions give both, and the last column the steps
 * that fit the budget when the default's predicted CPU time stands for its README time (15 minutes
 * on 2 cores of a quiet laptop): a ratio of two CPU times from the same run.
 *
 * It also times the default (the small preset: ef 1, the method, linear) the same way in the same
 * run and predicts its full run's time, so the step counts that fit "the default's time" are a
 * ratio of two measurements under the same load, whatever the machine's speed that day.
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
import { SPARSE_DENSITY } from "../src/model/linear.ts";
import {
  ANNEAL_SHAPES,
  type AnnealShape,
  type RunConfig,
  validateRunConfig,
} from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import { isDenseGradStep } from "../src/train/kept_grads.ts";
import { pruneAtInit } from "../src/train/sparse_anneal.ts";
import { blockDensity, isSparseAnneal } from "../src/train/sparsify.ts";
import { StepRunner } from "../src/train/step.ts";
import { Rng } from "../src/util/rng.ts";

/** The default's time on 2 cores of a quiet laptop, in minutes (README). */
const DEFAULT_MIN = 15;

/** A long linear schedule, so that one step moves the density by almost nothing. */
const LONG = 1_000_000;

/** The step of LONG's linear schedule whose block density is d, moved to be a sparse step. */
function stepAt(rc: RunConfig, d: number): number {
  const t = rc.train, target = blockDensity(LONG, rc).target;
  const p = (1 - d) / (1 - target);
  const s0 = t.annealStart * LONG, s1 = t.annealEnd * LONG;
  let s = Math.min(LONG - 4 * t.denseGradEvery, Math.round(s0 + p * (s1 - s0)));
  while (t.denseGradEvery > 1 && (isDenseGradStep(s, rc) || isDenseGradStep(s + 1, rc))) s++;
  return s;
}

interface Point {
  density: number;
  /** Shortest step at this density of each kind (ms); dense = sparse = method at R = 1. */
  sparse: number;
  dense: number;
  /** The same steps' CPU time (ms, every thread of the process). */
  sparseCpu: number;
  denseCpu: number;
}

/** This process's CPU time in ms (user + system, all threads). */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Times steps at block density d. `from`: "dense" prunes a dense model at init to d by one step
 * of the method's anneal (whose sparse steps then top-k on every step); "sparse" prunes it at
 * init as a sparse anneal starting at d would (its sparse steps then prune nothing).
 */
async function measure(
  rc: RunConfig,
  d: number,
  from: "dense" | "sparse",
  threads: number,
  rounds: number,
): Promise<Point> {
  const be = await Backend.create({ threads });
  try {
    // stepAt places densities on a linear schedule.
    const run: RunConfig = {
      model: rc.model,
      train: { ...rc.train, annealShape: "linear" },
    };
    if (from === "sparse") run.train.annealFrom = d;
    const runner = new StepRunner(be, run);
    runner.model.init(run.train.seed);
    pruneAtInit(be, runner.model, run);
    runner.model.refresh(true);
    const N = run.train.batchSize * run.model.nCtx;
    const rng = new Rng(7);
    const x = new Int32Array(N).map(() => rng.int(run.model.vocabSize));
    const y = new Int32Array(N).map(() => rng.int(run.model.vocabSize));
    // A sparse anneal's start holds until annealStart (1% of LONG): time steps there.
    const at = from === "dense" ? stepAt(run, d) : 0;
    runner.step(x, y, at); // dense start: prunes from dense to density d; both: warm-up (untimed)
    const time = (s: number) => {
      const t0 = performance.now(), c0 = cpuMs();
      runner.step(x, y, s);
      return [performance.now() - t0, cpuMs() - c0];
    };
    const R = run.train.denseGradEvery;
    const sparse: number[][] = [], dense: number[][] = [];
    let s = at + 1;
    for (let i = 0; i < rounds; i++) {
      // The next sparse step, then (R > 1) the next dense-gradient step.
      while (R > 1 && isDenseGradStep(s, run)) s++;
      sparse.push(time(s++));
      if (R > 1) {
        while (!isDenseGradStep(s, run)) s++;
        dense.push(time(s++));
      }
    }
    const density = blockDensity(s, run).now;
    const least = (xs: number[][], i: number) => Math.min(...xs.map((v) => v[i]));
    const sp = least(sparse, 0), spCpu = least(sparse, 1);
    return {
      density,
      sparse: sp,
      dense: R > 1 ? least(dense, 0) : sp,
      sparseCpu: spCpu,
      denseCpu: R > 1 ? least(dense, 1) : spCpu,
    };
  } finally {
    be.close();
  }
}

/** Mean ms per step at block density d: R-step cycles, interpolated between measured points. */
function costAt(points: Point[], R: number, d: number, cpu = false): number {
  const mean = (p: Point) =>
    cpu ? ((R - 1) * p.sparseCpu + p.denseCpu) / R : ((R - 1) * p.sparse + p.dense) / R;
  // points are sorted by density, descending; the jump at SPARSE_DENSITY lies between two.
  if (d >= points[0].density) return mean(points[0]);
  for (let i = 1; i < points.length; i++) {
    const hi = points[i - 1], lo = points[i];
    if (d >= lo.density) {
      const f = (d - lo.density) / (hi.density - lo.density);
      return mean(lo) + f * (mean(hi) - mean(lo));
    }
  }
  return mean(points[points.length - 1]);
}

/**
 * Predicted wall and CPU seconds of an S-step run under `shape` (starting where `rc` says: dense,
 * or a sparse anneal's annealFrom), and the share of wall time spent at density ≥ 0.3.
 */
function predict(rc: RunConfig, points: Point[], S: number, shape: AnnealShape) {
  const run: RunConfig = {
    model: rc.model,
    train: { ...rc.train, steps: S, annealShape: shape },
  };
  let ms = 0, cpu = 0, densePhase = 0;
  for (let s = 0; s < S; s++) {
    // A step's products run at the density after the previous step's top-k.
    const d = blockDensity(s, run).now;
    const c = costAt(points, rc.train.denseGradEvery, d);
    ms += c;
    cpu += costAt(points, rc.train.denseGradEvery, d, true);
    if (d >= SPARSE_DENSITY) densePhase += c;
  }
  return { s: ms / 1000, cpu: cpu / 1000, densePhase: densePhase / ms };
}

/** The most steps whose predicted time (or CPU time) fits `budget` seconds. */
function stepsFor(
  rc: RunConfig,
  points: Point[],
  budget: number,
  shape: AnnealShape,
  cpu = false,
): number {
  let lo = 1, hi = 100_000;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    const p = predict(rc, points, mid, shape);
    if ((cpu ? p.cpu : p.s) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** A comma list of numbers ("16,32"). */
function list(s: string): number[] {
  const xs = s.split(",").map(Number);
  if (xs.some((x) => !Number.isFinite(x))) throw new Error(`not a list of numbers: ${s}`);
  return xs;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      preset: { type: "string", default: "small" },
      ef: { type: "string" },
      "dense-grad-every": { type: "string", default: "16" },
      "anneal-from": { type: "string" },
      threads: { type: "string", default: "2" },
      steps: { type: "string" },
      "budget-min": { type: "string", default: "15" },
      rounds: { type: "string", default: "2" },
      pfrac: { type: "string" },
      "no-dense-start": { type: "boolean" },
    },
  });
  const num = (k: keyof typeof values) => Number(values[k]);
  const preset = PRESETS[values.preset!];
  if (!preset) throw new Error(`--preset: one of ${Object.keys(PRESETS).join(", ")}`);
  const rc = structuredClone(preset);
  // The small preset is timed at ef 4 unless --ef says otherwise (this bench's first use).
  if (values.ef !== undefined || values.preset === "small") rc.model.ef = Number(values.ef ?? 4);
  if (values.pfrac !== undefined) rc.train.pfrac = num("pfrac");
  // Lists: every combination is predicted from one set of measurements. A step's cost does not
  // depend on R (a cycle of R is R − 1 sparse steps and one dense-gradient step), and a sparse
  // anneal's steps at density d cost the same whatever density it started from, so one curve
  // from the largest D covers every D.
  const Rs = list(values["dense-grad-every"]!);
  const Ds = values["anneal-from"] !== undefined
    ? list(values["anneal-from"])
    : rc.train.annealFrom !== undefined
    ? [rc.train.annealFrom]
    : [];
  const Ss = values.steps === undefined ? [preset.train.steps] : list(values.steps);
  rc.train.denseGradEvery = Math.max(...Rs);
  rc.train.steps = LONG;
  if (Ds.length) rc.train.annealFrom = Math.max(...Ds);
  validateRunConfig(rc);
  for (const D of Ds) validateRunConfig({ ...rc, train: { ...rc.train, annealFrom: D } });
  const threads = num("threads"), budget = 60 * num("budget-min");
  const rounds = num("rounds");
  const target = blockDensity(LONG, rc).target;
  const N = rc.train.batchSize * rc.model.nCtx;
  console.log(
    `## Anneal cost: ${values.preset} preset at ef ${rc.model.ef}, pfrac ${rc.train.pfrac} ` +
      `(block density → ${target.toPrecision(3)}), timed at R = ${rc.train.denseGradEvery}, ${N} ` +
      `tokens a step, ${threads} threads, shortest of ${rounds}; load average before: ` +
      `${Deno.loadavg().map((x) => x.toFixed(2))}\n`,
  );
  const runs: { start: string; rc: RunConfig; points: Point[] }[] = [];
  if (!values["no-dense-start"]) {
    const dense: RunConfig = { model: rc.model, train: { ...rc.train } };
    delete dense.train.annealFrom;
    console.log("The method's anneal (from dense):\n");
    runs.push({ start: "dense", rc: dense, points: await curve(dense, "dense", threads, rounds) });
  }
  if (isSparseAnneal(rc)) {
    console.log(`\nA sparse anneal (from block density ${rc.train.annealFrom}):\n`);
    const points = await curve(rc, "sparse", threads, rounds);
    for (const D of Ds) {
      runs.push({
        start: D === target ? "sparse, at the target" : `sparse from ${D}`,
        rc: { model: rc.model, train: { ...rc.train, annealFrom: D } },
        points,
      });
    }
  }
  const def = structuredClone(PRESETS.small);
  def.train.steps = LONG;
  console.log(`\nThe default (small preset: ef 1, R = 1), the same way:\n`);
  const defPoints = await curve(def, "dense", threads, rounds);
  const defS = PRESETS.small.train.steps;
  const defRun = predict(def, defPoints, defS, "linear");
  const defTime = defRun.s;
  console.log(
    `\nPredicted for a run (anneal ${rc.train.annealStart}–${rc.train.annealEnd} of the steps; ` +
      `steps only, without validation and checkpoints); the default's ${defS} steps: ` +
      `${(defTime / 60).toFixed(1)} min, ${(defRun.cpu / 60).toFixed(1)} min of CPU time\n`,
  );
  console.log(
    `| start | shape | R | steps | time | CPU time | CPU time / the default's | tokens/s | ` +
      `share at density ≥ ${SPARSE_DENSITY} | steps in ${budget / 60} min | steps in the ` +
      `default's time | steps in ${budget / 60} min by CPU time (the default = ` +
      `${DEFAULT_MIN} min) |`,
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
  // The README's "about 15 minutes on 2 cores" for the default: the budget as a multiple of the
  // default's CPU time in this run, which the host's load moves much less than wall time.
  const cpuBudget = (budget / (60 * DEFAULT_MIN)) * defRun.cpu;
  for (const { start, rc: base, points } of runs) {
    // Starting at the target there is no anneal, and the shape changes nothing.
    const shapes = base.train.annealFrom === target ? [base.train.annealShape] : ANNEAL_SHAPES;
    for (const shape of shapes) {
      for (const R of Rs) {
        const run: RunConfig = { model: base.model, train: { ...base.train, denseGradEvery: R } };
        for (const S of Ss) {
          const p = predict(run, points, S, shape);
          console.log(
            `| ${start} | ${shape} | ${R} | ${S} | ${(p.s / 60).toFixed(1)} min | ` +
              `${(p.cpu / 60).toFixed(1)} min | ${(p.cpu / defRun.cpu).toFixed(2)} | ` +
              `${Math.round((S * N) / p.s)} | ${(100 * p.densePhase).toFixed(0)}% | ` +
              `${stepsFor(run, points, budget, shape)} | ` +
              `${stepsFor(run, points, defTime, shape)} | ` +
              `${stepsFor(run, points, cpuBudget, shape, true)} |`,
          );
        }
      }
    }
  }
}

/**
 * Times steps at densities from the start (dense, or a sparse anneal's annealFrom) to rc's target
 * and prints them as a table.
 */
async function curve(
  rc: RunConfig,
  from: "dense" | "sparse",
  threads: number,
  rounds: number,
): Promise<Point[]> {
  const R = rc.train.denseGradEvery;
  const target = blockDensity(LONG, rc).target;
  const top = from === "dense" ? 1 : rc.train.annealFrom!;
  const wanted = [1, 0.6, SPARSE_DENSITY + 0.01, SPARSE_DENSITY - 0.01, 0.15, 0.07, 0.035]
    .filter((d) => d < top && d > target);
  wanted.unshift(top);
  if (top > target) wanted.push(target);
  const points: Point[] = [];
  console.log(
    "| block density | sparse step ms | dense-gradient step ms | mean ms per step | " +
      "CPU ms: sparse | dense-gradient | mean |",
  );
  console.log("|---|---|---|---|---|---|---|");
  for (const d of wanted) {
    const p = await measure(rc, d, from, threads, rounds);
    points.push(p);
    const dash = (v: number) => R > 1 ? v.toFixed(0) : "-";
    console.log(
      `| ${p.density.toPrecision(3)} | ${p.sparse.toFixed(0)} | ${dash(p.dense)} | ${
        costAt([p], R, p.density).toFixed(0)
      } | ${p.sparseCpu.toFixed(0)} | ${dash(p.denseCpu)} | ${
        costAt([p], R, p.density, true).toFixed(0)
      } |`,
    );
  }
  return points;
}

if (import.meta.main) await main(Deno.args);
