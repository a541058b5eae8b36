/**
 * What the L0 anneal costs: step time against block density for one shape (the small preset at
 * --ef, sparse gradients every --dense-grad-every R), and the wall time this predicts for an
 * N-step run under each anneal shape (src/train/sparsify.ts: linear, the method, or cubic), with
 * the number of steps that fit a time budget. docs/sparsity.md chose the equal-time runs' step
 * counts with it.
 *
 *   deno run -A bench/anneal_bench.ts [--ef 4] [--dense-grad-every 16] [--threads 2]
 *     [--steps 2400] [--budget-min 15] [--rounds 2]
 *
 * A step's cost depends on the density it runs at (dense products at density ≥ SPARSE_DENSITY,
 * sparse ones below, plus the anneal's top-k and rebuild), not on the shape, so the bench times
 * steps at a few densities and integrates each shape's schedule over them (piecewise linear in
 * density). Each density gets a fresh model at init, pruned to it by one untimed step; then it
 * times `rounds` steps of each kind (R > 1: sparse and dense-gradient steps; R = 1: method
 * steps), the shortest counting.
 *
 * It also times the default (the small preset: ef 1, the method, linear) the same way in the same
 * run and predicts its full run's time, so the step counts that fit "the default's time" are a
 * ratio of two measurements under the same load, whatever the machine's speed that day.
 */
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
import { blockDensity } from "../src/train/sparsify.ts";
import { StepRunner } from "../src/train/step.ts";
import { Rng } from "../src/util/rng.ts";

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
}

async function measure(rc: RunConfig, d: number, threads: number, rounds: number) {
  const be = await Backend.create({ threads });
  try {
    const runner = new StepRunner(be, rc);
    runner.model.init(rc.train.seed);
    runner.model.refresh(true);
    const N = rc.train.batchSize * rc.model.nCtx;
    const rng = new Rng(7);
    const x = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
    const y = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
    const at = stepAt(rc, d);
    runner.step(x, y, at); // prunes from dense to density d (untimed)
    const time = (s: number) => {
      const t0 = performance.now();
      runner.step(x, y, s);
      return performance.now() - t0;
    };
    const R = rc.train.denseGradEvery;
    const sparse: number[] = [], dense: number[] = [];
    let s = at + 1;
    for (let i = 0; i < rounds; i++) {
      // The next sparse step, then (R > 1) the next dense-gradient step.
      while (R > 1 && isDenseGradStep(s, rc)) s++;
      sparse.push(time(s++));
      if (R > 1) {
        while (!isDenseGradStep(s, rc)) s++;
        dense.push(time(s++));
      }
    }
    const density = blockDensity(s, rc).now;
    const sp = Math.min(...sparse);
    return { density, sparse: sp, dense: R > 1 ? Math.min(...dense) : sp };
  } finally {
    be.close();
  }
}

/** Mean ms per step at block density d: R-step cycles, interpolated between measured points. */
function costAt(points: Point[], R: number, d: number): number {
  const mean = (p: Point) => ((R - 1) * p.sparse + p.dense) / R;
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

/** Predicted seconds of an S-step run under `shape`, and the share spent at density ≥ 0.3. */
function predict(rc: RunConfig, points: Point[], S: number, shape: AnnealShape) {
  const run: RunConfig = {
    model: rc.model,
    train: { ...rc.train, steps: S, annealShape: shape },
  };
  let ms = 0, densePhase = 0;
  for (let s = 0; s < S; s++) {
    // A step's products run at the density after the previous step's top-k.
    const d = blockDensity(s, run).now;
    const c = costAt(points, rc.train.denseGradEvery, d);
    ms += c;
    if (d >= SPARSE_DENSITY) densePhase += c;
  }
  return { s: ms / 1000, densePhase: densePhase / ms };
}

/** The most steps whose predicted time fits `budget` seconds. */
function stepsFor(rc: RunConfig, points: Point[], budget: number, shape: AnnealShape): number {
  let lo = 1, hi = 100_000;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (predict(rc, points, mid, shape).s <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ef: { type: "string", default: "4" },
      "dense-grad-every": { type: "string", default: "16" },
      threads: { type: "string", default: "2" },
      steps: { type: "string", default: "2400" },
      "budget-min": { type: "string", default: "15" },
      rounds: { type: "string", default: "2" },
      pfrac: { type: "string" },
    },
  });
  const num = (k: keyof typeof values) => Number(values[k]);
  const rc = structuredClone(PRESETS.small);
  rc.model.ef = num("ef");
  rc.train.denseGradEvery = num("dense-grad-every");
  if (values.pfrac !== undefined) rc.train.pfrac = num("pfrac");
  rc.train.steps = LONG;
  validateRunConfig(rc);
  const threads = num("threads"), S = num("steps"), budget = 60 * num("budget-min");
  const rounds = num("rounds");
  const R = rc.train.denseGradEvery;
  const target = blockDensity(LONG, rc).target;
  console.log(
    `## Anneal cost: small preset at ef ${rc.model.ef}, pfrac ${rc.train.pfrac} (block density ` +
      `1 → ${target.toPrecision(3)}), R = ${R}, ${threads} threads, shortest of ${rounds}; load ` +
      `average before: ${Deno.loadavg().map((x) => x.toFixed(2))}\n`,
  );
  const points = await curve(rc, threads, rounds);
  const def = structuredClone(PRESETS.small);
  def.train.steps = LONG;
  console.log(`\nThe default (small preset: ef 1, R = 1), the same way:\n`);
  const defPoints = await curve(def, threads, rounds);
  const defS = PRESETS.small.train.steps;
  const defTime = predict(def, defPoints, defS, "linear").s;
  console.log(
    `\nPredicted for a run (anneal ${rc.train.annealStart}–${rc.train.annealEnd} of the steps); ` +
      `the default's ${defS} steps: ${(defTime / 60).toFixed(1)} min\n`,
  );
  console.log(
    `| shape | time of ${S} steps | share at density ≥ ${SPARSE_DENSITY} | steps in ` +
      `${budget / 60} min | steps in the default's time |`,
  );
  console.log("|---|---|---|---|---|");
  for (const shape of ANNEAL_SHAPES) {
    const p = predict(rc, points, S, shape);
    console.log(
      `| ${shape} | ${(p.s / 60).toFixed(1)} min | ${(100 * p.densePhase).toFixed(0)}% | ${
        stepsFor(rc, points, budget, shape)
      } | ${stepsFor(rc, points, defTime, shape)} |`,
    );
  }
}

/** Times steps at densities from dense to rc's target and prints them as a table. */
async function curve(rc: RunConfig, threads: number, rounds: number): Promise<Point[]> {
  const R = rc.train.denseGradEvery;
  const target = blockDensity(LONG, rc).target;
  const wanted = [1, 0.6, SPARSE_DENSITY + 0.01, SPARSE_DENSITY - 0.01, 0.15, 0.07, 0.035]
    .filter((d) => d > target).concat([target]);
  const points: Point[] = [];
  console.log("| block density | sparse step ms | dense-gradient step ms | mean ms per step |");
  console.log("|---|---|---|---|");
  for (const d of wanted) {
    const p = await measure(rc, d, threads, rounds);
    points.push(p);
    console.log(
      `| ${p.density.toPrecision(3)} | ${p.sparse.toFixed(0)} | ${
        R > 1 ? p.dense.toFixed(0) : "-"
      } | ${costAt([p], R, p.density).toFixed(0)} |`,
    );
  }
  return points;
}

if (import.meta.main) await main(Deno.args);
