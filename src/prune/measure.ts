/**
 * Measuring a node set (step 3 of src/prune/prune.ts) on the held-out evaluation pairs: the full
 * model, the circuit alone (sufficiency, raw and calibrated), the model with only the circuit
 * ablated (necessity), random node sets with the same count per layer and location, and each
 * node's delta (the loss change when it alone is ablated from the circuit).
 */
import type { BatchResume, PromptItem, PromptScores } from "../eval/task_eval.ts";
import { locationSpec, nodeAt } from "../model/nodes.ts";
import { Rng } from "../util/rng.ts";
import type { Calibration } from "./calibrate.ts";
import type { MaskedScorer } from "./masked_scorer.ts";
import type { OnProgress, PruneSettings } from "./settings.ts";

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
      const width = locationSpec(nd.location).width(model.d);
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

/** What measureCircuit finds. */
export interface CircuitMeasures {
  /** Task losses on the evaluation pairs (src/run/circuit.ts says what each is). */
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
}

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
