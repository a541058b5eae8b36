/**
 * A seeded hyperparameter search for the mask optimiser (`prune --trials N`). The paper tunes
 * eight settings per model and task with 256 CARBS runs; this is plain random search around the
 * defaults: trial 0 is the given settings, trials 1..N−1 draw each setting log-uniformly in a
 * range around it. The circuit with the fewest edges that meets the target on the pruning pairs
 * wins (fewer nodes breaks ties); evaluation pairs are never looked at.
 */
import type { Model } from "../model/model.ts";
import { Rng } from "../util/rng.ts";
import { circuitEdges } from "./edges.ts";
import { findCircuit, type PruneData } from "./prune.ts";
import type { MaskedScorer } from "./masked_scorer.ts";
import type { MaskHyperparams, OnProgress, PruneSettings } from "./settings.ts";

/** Log-uniform factor ranges (× the default) and absolute ranges of the searched settings. */
const FACTORS: Partial<Record<keyof MaskHyperparams, [number, number]>> = {
  lr: [1 / 3, 3],
  kCoef: [1 / 10, 10],
  initNoise: [1 / 3, 3],
  weightDecay: [1 / 10, 10],
};
const RANGES: Partial<Record<keyof MaskHyperparams, [number, number]>> = {
  initBias: [0.02, 0.5],
  temperature: [0.3, 3],
  warmupFrac: [0.01, 0.15],
  beta2: [0.9, 0.999],
};

/** Settings of trial t ≥ 1. */
export function sampleHyperparams(base: MaskHyperparams, rng: Rng): MaskHyperparams {
  const hp = { ...base };
  const logU = (lo: number, hi: number) => Math.exp(Math.log(lo) + rng.float() * Math.log(hi / lo));
  for (
    const [k, [lo, hi]] of Object.entries(FACTORS) as [keyof MaskHyperparams, [number, number]][]
  ) {
    hp[k] = base[k] * logU(lo, hi);
  }
  for (
    const [k, [lo, hi]] of Object.entries(RANGES) as [keyof MaskHyperparams, [number, number]][]
  ) {
    hp[k] = k === "beta2" ? 1 - logU(1 - hi, 1 - lo) : logU(lo, hi);
  }
  return hp;
}

export interface SearchResult {
  best: MaskHyperparams;
  bestEdges: number;
  bestNodes: number;
  defaultEdges: number;
  defaultNodes: number;
}

export function searchHyperparams(
  model: Model,
  ms: MaskedScorer,
  data: PruneData,
  st: PruneSettings,
  trials: number,
  progress?: OnProgress,
): SearchResult {
  const rng = new Rng(st.seed).fork(0x53524348);
  let best = st.hp, bestScore = [Infinity, Infinity];
  let defaults = [Infinity, Infinity];
  for (let t = 0; t < trials; t++) {
    const hp = t === 0 ? st.hp : sampleHyperparams(st.hp, rng);
    const res = findCircuit(ms, data, { ...st, hp, skipBaselines: true });
    const score = res.reached
      ? [circuitEdges(model, res.kept).length, res.kept.length]
      : [Infinity, Infinity];
    if (t === 0) defaults = score;
    if (score[0] < bestScore[0] || (score[0] === bestScore[0] && score[1] < bestScore[1])) {
      best = hp;
      bestScore = score;
    }
    progress?.("trials", t + 1, trials, { edges: String(score[0]), best: String(bestScore[0]) });
  }
  return {
    best,
    bestEdges: bestScore[0],
    bestNodes: bestScore[1],
    defaultEdges: defaults[0],
    defaultNodes: defaults[1],
  };
}
