/**
 * Circuit pruning (PAPER §4): find the smallest set of nodes that keeps a task's loss at or under
 * a target with every other node mean-ablated, then measure it.
 *
 *  1. Rank the nodes. "learned": one τ per node, m = H(τ) forward, the sigmoid-derivative
 *     surrogate backward, AdamW (clipped, warmup + linear decay) on task loss + k_coef·Σm over
 *     batches of pairs from the pruning set; rank by τ. "attribution": rank by |∂L/∂m| at m = 1
 *     (gradient × (x − μ) summed over tokens), over the same pairs.
 *  2. Discretise: bisect the kept count k of the ranking so that the calibrated task loss on the
 *     pruning pairs just meets the target (calibration: src/prune/calibrate.ts); keep every k
 *     measured as the loss-vs-k curve.
 *  3. Measure on the held-out evaluation pairs: the full model, the circuit alone (sufficiency,
 *     raw and with the pruning pairs' calibration), the model with only the circuit ablated
 *     (necessity), random node sets with the same count per layer and location, and each
 *     node's delta (the loss change when it alone is ablated from the circuit).
 *
 * Task-agnostic: it takes prompt items (src/eval/task_eval.ts `taskItems`), so tests can hand it a
 * model and task built by hand.
 */
import * as ops from "../backend/ops/index.ts";
import {
  type BatchResume,
  type PairScorer,
  type PromptItem,
  type PromptScores,
} from "../eval/task_eval.ts";
import type { Ablation } from "../model/block.ts";
import type { Model } from "../model/model.ts";
import { LOCATIONS, nodeAt } from "../model/nodes.ts";
import { Rng } from "../util/rng.ts";
import { type Calibration, fitCalibration, IDENTITY } from "./calibrate.ts";
import { LayerCache } from "./layer_cache.ts";

/** The mask optimiser's settings (PAPER §4's starting values, except steps: see docs/prune.md). */
export interface MaskHyperparams {
  steps: number;
  batchPairs: number;
  lr: number;
  kCoef: number;
  initNoise: number;
  initBias: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  warmupFrac: number;
  temperature: number;
  /** Global gradient-norm clip. */
  clip: number;
}

export const DEFAULT_HP: MaskHyperparams = {
  // Chosen on the default model (docs/prune.md, "Choosing the defaults"): 100 steps at lr 0.03 and
  // k_coef 1e-3 gave the smallest circuits of the 100-step rows on both tasks swept.
  steps: 100,
  batchPairs: 64,
  lr: 3e-2,
  kCoef: 1e-3,
  initNoise: 1e-2,
  initBias: 0.1,
  weightDecay: 1e-3,
  beta1: 0.9,
  beta2: 0.95,
  warmupFrac: 0.05,
  temperature: 1,
  clip: 1,
};

/** The circuit file's names of the mask optimiser's settings (docs/circuit-format.md). */
const HP_NAMES: Record<keyof MaskHyperparams, string> = {
  steps: "steps",
  batchPairs: "batch_pairs",
  lr: "lr",
  kCoef: "k_coef",
  initNoise: "init_noise",
  initBias: "init_bias",
  weightDecay: "weight_decay",
  beta1: "beta1",
  beta2: "beta2",
  warmupFrac: "warmup_frac",
  temperature: "temperature",
  clip: "clip",
};

/** The settings under the circuit file's names. */
export function hyperparamsJson(hp: MaskHyperparams): Record<string, number> {
  return Object.fromEntries(
    (Object.keys(HP_NAMES) as (keyof MaskHyperparams)[]).map((k) => [HP_NAMES[k], hp[k]]),
  );
}

/** Settings read back from a circuit file's `hyperparameters` (defaults for absent ones). */
export function hyperparamsFromJson(
  j: Record<string, number | string | boolean>,
): MaskHyperparams {
  const hp = { ...DEFAULT_HP };
  for (const k of Object.keys(HP_NAMES) as (keyof MaskHyperparams)[]) {
    const v = j[HP_NAMES[k]];
    if (typeof v === "number" && Number.isFinite(v)) hp[k] = v;
  }
  return hp;
}

/** The data and measurement defaults of `prune` (docs/prune.md has the table that chose them). */
export const PRUNE_DEFAULTS = {
  target: 0.15,
  /** Pairs the masks train on (PRUNE_SEED). */
  prunePairs: 256,
  /** The first of them, on which k is bisected, the calibration fitted and the curve measured. */
  bisectPairs: 128,
  /** Held-out evaluation pairs (EVAL_SEED): every reported loss. */
  evalPairs: 200,
  randomDraws: 20,
  /** Evaluation pairs each random draw is measured on (the first ones). */
  randomPairs: 64,
  /** Evaluation pairs each node's delta is measured on. */
  deltaPairs: 32,
};

export type PruneMethod = "learned" | "attribution";
export type AblationKind = "mean" | "zero";

export interface PruneSettings {
  target: number;
  method: PruneMethod;
  ablation: AblationKind;
  freezeNorm: boolean;
  seed: number;
  hp: MaskHyperparams;
  /** Random node sets drawn for the baseline. */
  randomDraws: number;
  /** Evaluation pairs each random draw is measured on (the first ones; all if larger). */
  randomPairs: number;
  /** Evaluation pairs the per-node deltas are measured on (the first ones; all if larger). */
  deltaPairs: number;
  /** Pruning pairs k is bisected on, the calibration fitted on and the curve measured on. */
  bisectPairs: number;
  /** Skip the random baseline and the deltas (hyperparameter search trials). */
  skipBaselines?: boolean;
}

export interface PruneData {
  /** Pruning pairs (2 items per pair): the masks train on them and k is bisected on them. */
  pool: PromptItem[];
  /** Held-out evaluation pairs: every reported loss. */
  evalItems: PromptItem[];
}

export interface CurvePoint {
  k: number;
  loss: number;
  loss_calibrated: number;
}

export interface CircuitResult {
  /** Kept nodes (model-wide indices), ascending. */
  kept: number[];
  /** Every node by rank, best first. */
  ranking: number[];
  curve: CurvePoint[];
  calibration: Calibration;
  /** Whether the calibrated loss on the pruning pairs met the target at the chosen k. */
  reached: boolean;
  losses: {
    full: number;
    circuit: number;
    circuit_calibrated: number;
    ablated: number;
    random: { mean: number; sd: number; draws: number };
  };
  /** Loss change when each kept node alone is ablated (same order as `kept`). */
  deltas: number[];
  /** Per-evaluation-item losses: the full model (raw) and the circuit (calibrated). */
  fullLosses: Float32Array;
  circuitLosses: Float32Array;
  /** Last optimisation loss (task + k_coef·Σm) and nodes on, for the report. */
  trainLoss: number;
  trainOn: number;
  /** The mask optimiser's settings that made the ranking (k_coef lowered after a collapse). */
  hp: MaskHyperparams;
  /** Optimisations whose masks lost the task (see collapseLoss), each retried at k_coef / 10. */
  collapses: { kCoef: number; taskLoss: number; on: number }[];
  timing: Record<string, number>;
}

/** Progress callback: phase name, units done, units in the phase, optional fields. */
export type OnProgress = (
  phase: string,
  done: number,
  total: number,
  fields?: Record<string, string>,
) => void;

/** Scores item sets under node masks; owns the ablation vectors the model reads. */
export class MaskedScorer {
  readonly n: number;
  readonly ablation: Ablation;
  readonly #d: number;
  readonly #losses: number;
  readonly #capacity: number;

  constructor(
    readonly model: Model,
    readonly scorer: PairScorer,
    means: Float32Array | null,
    readonly freezeNorm: boolean,
  ) {
    const arena = model.be.arena;
    this.n = model.nodes.total;
    this.#capacity = scorer.capacity;
    const f = (n: number, what: string) => arena.tensor([n], what).ptr;
    const mean = means ? f(this.n, "node means") : 0;
    if (means) arena.f32(mean, this.n).set(means);
    this.ablation = { mask: f(this.n, "node mask"), mean, dmask: f(this.n, "mask gradient") };
    this.#d = f(this.#capacity, "logit differences");
    this.#losses = f(this.#capacity, "calibrated losses");
  }

  /** The mask vector (a view: write 1 to keep a node, 0 to ablate it). */
  get mask(): Float32Array {
    return this.model.be.arena.f32(this.ablation.mask, this.n);
  }

  /** Keeps exactly the nodes in `kept`. */
  keepOnly(kept: Iterable<number>): void {
    const m = this.mask;
    m.fill(0);
    for (const i of kept) m[i] = 1;
  }

  /**
   * Scores items under the current mask (ablation: false = the plain model); `resume` skips
   * blocks an earlier pass over the same items already has (src/eval/task_eval.ts BatchResume).
   */
  score(items: readonly PromptItem[], ablation = true, resume?: BatchResume): PromptScores {
    // Forward only: no mask gradient, so the ablation keeps no copies for a backward.
    this.model.setAblation(ablation ? { ...this.ablation, dmask: 0 } : null);
    try {
      return this.scorer.score(items, { freezeNorm: ablation && this.freezeNorm, resume });
    } finally {
      this.model.setAblation(null);
    }
  }

  /**
   * The task loss of items under the current mask, with its gradient in the mask: dmask +=
   * scale·∂(Σ_items loss)/∂m (scale 1/items.length, the mean's gradient, by default; zero dmask
   * first unless accumulating). Backward runs from the two-candidate loss without weight gradients.
   */
  maskGradient(
    items: readonly PromptItem[],
    opts: { scale?: number; accumulate?: boolean } = {},
  ): number {
    const { model } = this, be = model.be, { V } = model.d;
    const scale = opts.scale ?? 1 / items.length;
    if (!opts.accumulate) ops.fill(be, { x: this.ablation.dmask, n: this.n, value: 0 });
    model.setAblation(this.ablation);
    try {
      return this.scorer.score(items, {
        freezeNorm: this.freezeNorm,
        onBatch: (b) => {
          const a = model.acts;
          ops.fill(be, { x: a.dlogits, n: V * b.N, value: 0 });
          ops.pairLossBackward(be, {
            dlogits: a.dlogits,
            logits: a.logits,
            pos: b.pos,
            a: b.a,
            b: b.b,
            count: b.B,
            V,
            N: b.N,
            scale,
          });
          model.backward({ seed: "dlogits", weightGrads: false });
        },
      }).meanLoss;
    } finally {
      model.setAblation(null);
    }
  }

  /** Mean calibrated loss of scored items; per-item losses too when asked. */
  calibrated(
    s: PromptScores,
    c: Calibration,
    perItem = false,
  ): { loss: number; items?: Float32Array } {
    const be = this.model.be, n = s.diff.length;
    be.arena.f32(this.#d, n).set(s.diff);
    const r = ops.calibLossGrad(be, {
      d: this.#d,
      n,
      scale: c.scale,
      shift: c.shift,
      losses: perItem ? this.#losses : undefined,
    });
    return { loss: r.loss, items: perItem ? be.arena.f32(this.#losses, n).slice() : undefined };
  }

  /** Fits a calibration to scored items (16 LBFGS steps). */
  fit(s: PromptScores): Calibration {
    const be = this.model.be, n = s.diff.length;
    be.arena.f32(this.#d, n).set(s.diff);
    return fitCalibration(be, this.#d, n);
  }

  /** Raw and calibrated (fitted here, or given) loss of items under the current mask. */
  measure(
    items: readonly PromptItem[],
    c?: Calibration,
  ): { raw: number; cal: number; c: Calibration; s: PromptScores } {
    const s = this.score(items);
    const cal = c ?? this.fit(s);
    return { raw: s.meanLoss, cal: this.calibrated(s, cal).loss, c: cal, s };
  }
}

/** Arena buffers of the learned-mask optimiser: τ, its gradient and Adam moments. */
function trainMasks(
  ms: MaskedScorer,
  pool: readonly PromptItem[],
  st: PruneSettings,
  progress?: OnProgress,
  phase = "optimise",
) {
  const { model } = ms;
  const be = model.be, arena = be.arena, n = ms.n, hp = st.hp;
  const f = (what: string) => arena.tensor([n], what).ptr;
  const tau = f("tau"), g = f("tau gradient"), am = f("tau Adam m"), av = f("tau Adam v");
  // τ = init_bias + init_noise·N(0, 1), drawn in WASM from the seed.
  ops.randnFill(be, { x: tau, n, seed: st.seed, stream: 0, std: hp.initNoise });
  const bias = arena.tensor([n], "init bias");
  arena.view(bias).fill(hp.initBias);
  ops.addInPlace(be, { x: tau, y: bias.ptr, n });
  ops.maskClampHeaviside(be, { m: ms.ablation.mask, tau, n });
  const pairs = pool.length / 2;
  const order = Array.from({ length: pairs }, (_, i) => i);
  const rng = new Rng(st.seed).fork(0x4D41534B);
  let cursor = pairs;
  const batchPairs = Math.min(hp.batchPairs, pairs);
  let loss = NaN, on = 0, lastTask = NaN;
  for (let step = 0; step < hp.steps; step++) {
    const items: PromptItem[] = [];
    for (let j = 0; j < batchPairs; j++) {
      if (cursor >= pairs) {
        rng.shuffle(order);
        cursor = 0;
      }
      const p = order[cursor++];
      items.push(pool[2 * p], pool[2 * p + 1]);
    }
    const taskLoss = ms.maskGradient(items);
    ops.maskSurrogateGrad(be, {
      g,
      tau,
      dm: ms.ablation.dmask,
      n,
      temperature: hp.temperature,
      kcoef: hp.kCoef,
    });
    const norm = Math.sqrt(ops.sumSquares(be, { x: g, n }));
    if (norm > hp.clip) ops.scale(be, { x: g, n, factor: hp.clip / norm });
    const lr = ops.lrSchedule(be, {
      step,
      total: hp.steps,
      warmupFrac: hp.warmupFrac,
      base: hp.lr,
      pfracTarget: 1,
      pfracNow: 1,
    });
    ops.decayWeights(be, { param: tau, n, factor: 1 - lr * hp.weightDecay });
    ops.adamStep(be, {
      param: tau,
      grad: g,
      m: am,
      v: av,
      n,
      lr,
      beta1: hp.beta1,
      beta2: hp.beta2,
      eps: 1e-8,
      t: step + 1,
    });
    ops.maskClampHeaviside(be, { m: ms.ablation.mask, tau, n });
    on = ops.countNonzero(be, { w: ms.ablation.mask, n });
    loss = taskLoss + hp.kCoef * on;
    lastTask = taskLoss;
    progress?.(phase, step + 1, hp.steps, { loss: taskLoss.toFixed(3), nodes: String(on) });
  }
  const t = arena.f32(tau, n).slice();
  const ranking = Array.from({ length: n }, (_, i) => i).sort((a, b) => t[b] - t[a] || a - b);
  return { ranking, loss, on, taskLoss: lastTask };
}

/** Nodes ranked by |∂L/∂m| at m = 1 (attribution: gradient × (x − μ) summed over tokens). */
function attributionRanking(
  ms: MaskedScorer,
  pool: readonly PromptItem[],
  st: PruneSettings,
  progress?: OnProgress,
) {
  const n = ms.n;
  ms.mask.fill(1);
  // ∂(mean loss over the pool)/∂m, chunk by chunk.
  const chunk = 2 * st.hp.batchPairs;
  const chunks = Math.ceil(pool.length / chunk);
  for (let c = 0; c < chunks; c++) {
    ms.maskGradient(pool.slice(c * chunk, (c + 1) * chunk), {
      scale: 1 / pool.length,
      accumulate: c > 0,
    });
    progress?.("attribute", c + 1, chunks);
  }
  const g = ms.model.be.arena.f32(ms.ablation.dmask, n).slice();
  const ranking = Array.from({ length: n }, (_, i) => i).sort((a, b) =>
    Math.abs(g[b]) - Math.abs(g[a]) || a - b
  );
  return { ranking, loss: NaN, on: n };
}

/** Bisects the smallest k whose top-k nodes meet the target (calibrated, pruning pairs). */
function bisect(
  ms: MaskedScorer,
  pool: readonly PromptItem[],
  ranking: number[],
  target: number,
  hint: number,
  progress?: OnProgress,
) {
  const curve = new Map<number, CurvePoint & { c: Calibration }>();
  const at = (k: number) => {
    const got = curve.get(k);
    if (got) return got;
    ms.keepOnly(ranking.slice(0, k));
    const m = ms.measure(pool);
    const p = { k, loss: m.raw, loss_calibrated: m.cal, c: m.c };
    curve.set(k, p);
    progress?.("bisect", curve.size, 0, { k: String(k), loss: m.cal.toFixed(3) });
    return p;
  };
  const n = ranking.length;
  const ok = (k: number) => at(k).loss_calibrated <= target;
  let lo = 0, hi = n;
  // lo fails (or is 0), hi passes; start from the optimiser's own circuit size.
  const h = Math.min(Math.max(hint, 1), n);
  if (ok(h)) hi = h;
  else lo = h;
  if (!ok(hi)) {
    return { k: hi, reached: false, curve };
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (ok(mid)) hi = mid;
    else lo = mid;
  }
  return { k: hi, reached: true, curve };
}

/** The curve's extra points: powers of two up to 2k, for the viewer's slider. */
function fillCurve(
  ms: MaskedScorer,
  pool: readonly PromptItem[],
  ranking: number[],
  k: number,
  curve: Map<number, CurvePoint & { c: Calibration }>,
  progress?: OnProgress,
) {
  const top = Math.min(ranking.length, Math.max(2 * k, 16));
  for (let x = 1; x <= top; x *= 2) {
    if (curve.has(x)) continue;
    ms.keepOnly(ranking.slice(0, x));
    const m = ms.measure(pool);
    curve.set(x, { k: x, loss: m.raw, loss_calibrated: m.cal, c: m.c });
    progress?.("curve", curve.size, 0, { k: String(x) });
  }
}

/** Random node sets with the circuit's count per (layer, location); their calibrated losses. */
function randomBaseline(
  ms: MaskedScorer,
  items: readonly PromptItem[],
  kept: number[],
  draws: number,
  seed: number,
  progress?: OnProgress,
) {
  const { model } = ms;
  const groups = new Map<string, { base: number; width: number; count: number }>();
  for (const i of kept) {
    const nd = nodeAt(model.d, model.nodes, i);
    const key = `${nd.layer}.${nd.location}`;
    const g = groups.get(key);
    if (g) g.count++;
    else {
      const width = LOCATIONS.find((l) => l.name === nd.location)!.width(model.d);
      groups.set(key, { base: model.nodes.offsets[nd.layer][nd.location], width, count: 1 });
    }
  }
  const rng = new Rng(seed).fork(0x52414E44);
  const losses: number[] = [];
  for (let t = 0; t < draws; t++) {
    const pick: number[] = [];
    for (const g of groups.values()) {
      const idx = rng.shuffle(Array.from({ length: g.width }, (_, i) => i)).slice(0, g.count);
      for (const j of idx) pick.push(g.base + j);
    }
    ms.keepOnly(pick);
    losses.push(ms.measure(items).cal);
    progress?.("random", t + 1, draws);
  }
  const mean = losses.reduce((a, b) => a + b, 0) / Math.max(1, losses.length);
  const sd = Math.sqrt(
    losses.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, losses.length - 1),
  );
  return { mean, sd: losses.length > 1 ? sd : 0, draws };
}

/**
 * The task loss (uncalibrated, last batch) above which the optimiser's own masks count as having
 * lost the task: most of the way to chance (ln 2 = 0.693 for a two-answer loss) and at least
 * twice the target.
 */
export function collapseLoss(target: number): number {
  return Math.max(0.5, 2 * target);
}
const MAX_RETRIES = 2;

/** Runs the whole search and measurement (see the file comment). */
export function findCircuit(
  ms: MaskedScorer,
  data: PruneData,
  st: PruneSettings,
  progress?: OnProgress,
): CircuitResult {
  const timing: Record<string, number> = {};
  let t0 = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    timing[name] = (timing[name] ?? 0) + (now - t0) / 1000;
    t0 = now;
  };
  let hp = st.hp;
  const collapses: CircuitResult["collapses"] = [];
  let opt;
  if (st.method === "learned") {
    // A model that is very sure of a task gives the masks almost no task gradient at first, and
    // Adam moves every τ by about lr per step whatever the gradient's size: the penalty can switch
    // the whole task off before its loss pushes back (the masks "collapse"; the bisection then
    // has to take back thousands of nodes in an order that is noise). Such a run is retried with
    // a penalty ten times smaller, at most MAX_RETRIES times.
    for (;;) {
      const phase = collapses.length ? `optimise (k_coef ${hp.kCoef.toPrecision(2)})` : "optimise";
      opt = trainMasks(ms, data.pool, { ...st, hp }, progress, phase);
      if (!(opt.taskLoss > collapseLoss(st.target)) || collapses.length >= MAX_RETRIES) break;
      collapses.push({ kCoef: hp.kCoef, taskLoss: opt.taskLoss, on: opt.on });
      hp = { ...hp, kCoef: hp.kCoef / 10 };
    }
  } else {
    opt = attributionRanking(ms, data.pool, st, progress);
  }
  lap(st.method === "learned" ? "optimise" : "attribute");
  const hint = st.method === "learned" ? opt.on : Math.max(1, Math.round(ms.n / 16));
  const bisectItems = data.pool.slice(0, 2 * st.bisectPairs);
  const { k, reached, curve } = bisect(ms, bisectItems, opt.ranking, st.target, hint, progress);
  lap("bisect");
  const kept = opt.ranking.slice(0, k).sort((a, b) => a - b);
  const calibration = curve.get(k)!.c;
  // Each delta pass differs from the circuit's in one node: resume at that node's layer.
  const deltaResume = new LayerCache(ms.model, () => ms.mask, ms.freezeNorm);
  const m = measureCircuit(ms, data.evalItems, kept, calibration, st, {
    progress,
    lap,
    deltaResume,
  });
  if (!st.skipBaselines) {
    fillCurve(ms, bisectItems, opt.ranking, k, curve, progress);
    lap("curve");
  }
  const points = [...curve.values()].sort((a, b) => a.k - b.k).map((
    { k, loss, loss_calibrated },
  ) => ({
    k,
    loss,
    loss_calibrated,
  }));
  return {
    kept,
    ranking: opt.ranking,
    curve: points,
    calibration: calibration ?? IDENTITY,
    reached,
    ...m,
    trainLoss: opt.loss,
    trainOn: opt.on,
    hp,
    collapses,
    timing,
  };
}

/** What measureCircuit finds: CircuitResult's measurements. */
export type CircuitMeasures = Pick<
  CircuitResult,
  "losses" | "deltas" | "fullLosses" | "circuitLosses"
>;

/**
 * Measures a node set on the held-out pairs (step 3 of the file comment) with a calibration:
 * the full model, the circuit alone (raw and calibrated), the circuit ablated, random node sets
 * with its counts (unless st.skipBaselines) and each node's delta on the first st.deltaPairs
 * pairs. `deltaResume` may skip blocks in the delta passes (the viewer: same bits, sooner).
 */
export function measureCircuit(
  ms: MaskedScorer,
  evalItems: readonly PromptItem[],
  kept: number[],
  calibration: Calibration,
  st: Pick<PruneSettings, "randomDraws" | "randomPairs" | "deltaPairs" | "seed" | "skipBaselines">,
  opts: { progress?: OnProgress; lap?: (phase: string) => void; deltaResume?: BatchResume } = {},
): CircuitMeasures {
  const { progress } = opts;
  const lap = opts.lap ?? (() => {});
  const full = ms.score(evalItems, false);
  ms.keepOnly(kept);
  const circ = ms.score(evalItems);
  const circCal = ms.calibrated(circ, calibration, true);
  const mask = ms.mask;
  for (let i = 0; i < ms.n; i++) mask[i] = 1;
  for (const i of kept) mask[i] = 0;
  const ablated = ms.score(evalItems).meanLoss;
  lap("measure");
  let random = { mean: NaN, sd: NaN, draws: 0 };
  const deltas: number[] = [];
  if (!st.skipBaselines) {
    const rItems = evalItems.slice(0, 2 * st.randomPairs);
    random = randomBaseline(ms, rItems, kept, st.randomDraws, st.seed, progress);
    lap("random");
    const dItems = evalItems.slice(0, 2 * st.deltaPairs);
    ms.keepOnly(kept);
    const base = ms.calibrated(ms.score(dItems, true, opts.deltaResume), calibration).loss;
    const m = ms.mask;
    kept.forEach((i, j) => {
      m[i] = 0;
      deltas.push(
        ms.calibrated(ms.score(dItems, true, opts.deltaResume), calibration).loss - base,
      );
      m[i] = 1;
      progress?.("deltas", j + 1, kept.length);
    });
    lap("deltas");
  }
  return {
    losses: {
      full: full.meanLoss,
      circuit: circ.meanLoss,
      circuit_calibrated: circCal.loss,
      ablated,
      random,
    },
    deltas,
    fullLosses: full.losses,
    circuitLosses: circCal.items!,
  };
}

/**
 * Calibrated loss of a node set on items with a given calibration (the viewer's number; with
 * `resume`, the viewer's faster way to the same bits).
 */
export function circuitLoss(
  ms: MaskedScorer,
  items: readonly PromptItem[],
  kept: Iterable<number>,
  c: Calibration,
  resume?: BatchResume,
): { raw: number; calibrated: number; scores: PromptScores } {
  ms.keepOnly(kept);
  const s = ms.score(items, true, resume);
  return { raw: s.meanLoss, calibrated: ms.calibrated(s, c).loss, scores: s };
}
