/**
 * Several searches for one task, the smallest circuit kept: a seeded hyperparameter search for
 * the mask optimiser (`prune --trials N`) and restarts from other seeds (`prune --restarts N`).
 * The paper tunes eight settings per model and task with 256 CARBS runs; `--trials` is plain
 * random search around the defaults: trial 0 is the given settings, trials 1..N−1 draw each
 * setting log-uniformly in a range around it. `--restarts` repeats each trial's search from seeds
 * seed, seed + 1, …: a circuit's size varies from draw to draw by more than most settings move it
 * (docs/prune.md). Every candidate is searched (ranked and discretised) and the circuit with the
 * fewest edges that meets the target on the pruning pairs wins (fewer nodes break ties, then the
 * earlier candidate); only the winner is measured, and evaluation pairs are never looked at before.
 */
import type { Model } from "../model/model.ts";
import { Rng } from "../util/rng.ts";
import { circuitEdges } from "./edges.ts";
import { type Found, type PruneData, searchCircuit } from "./prune.ts";
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

/** The hyperparameters of trials 0..trials−1 (trial 0: the given ones). */
export function trialHyperparams(st: PruneSettings, trials: number): MaskHyperparams[] {
  const rng = new Rng(st.seed).fork(0x53524348);
  return Array.from({ length: trials }, (_, t) => t === 0 ? st.hp : sampleHyperparams(st.hp, rng));
}

/** A candidate's score: edges, then nodes (a candidate that misses the target never wins). */
export function foundScore(model: Model, f: Found): [number, number] {
  if (!f.bisection.reached) return [Infinity, Infinity];
  const kept = f.ranking.slice(0, f.bisection.k);
  return [circuitEdges(model, kept).length, kept.length];
}

/**
 * The index of the winning score: fewest edges, then fewest nodes, then the earliest; −1 when
 * every candidate missed the target.
 */
export function bestScore(scores: readonly (readonly [number, number])[]): number {
  let best = -1;
  scores.forEach(([edges, nodes], i) => {
    if (!Number.isFinite(edges)) return;
    const b = scores[best];
    if (best < 0 || edges < b[0] || (edges === b[0] && nodes < b[1])) best = i;
  });
  return best;
}

export interface Candidate {
  /** The trial (hyperparameters) of this candidate; its seed is st.seed. */
  trial: number;
  st: PruneSettings;
  edges: number;
  nodes: number;
}

export interface SearchResult {
  candidates: Candidate[];
  /** Index of the winner in candidates. */
  best: number;
  found: Found;
  /** Every candidate's search time per phase, summed. */
  timing: Record<string, number>;
}

/**
 * Searches every trial × restart (trial-major) and keeps the winner's search (see the file
 * comment). With one candidate this is searchCircuit with its phase names.
 */
export function searchCandidates(
  model: Model,
  ms: MaskedScorer,
  data: PruneData,
  st: PruneSettings,
  trials: number,
  restarts: number,
  progress?: OnProgress,
): SearchResult {
  const hps = trialHyperparams(st, trials);
  const candidates: Candidate[] = [], found: Found[] = [];
  const timing: Record<string, number> = {};
  // The first candidate's search stands when every one misses the target.
  const best = () => Math.max(0, bestScore(candidates.map((c) => [c.edges, c.nodes])));
  const label = (t: number, r: number) =>
    [trials > 1 ? `trial ${t + 1}/${trials}` : "", restarts > 1 ? `seed ${st.seed + r}` : ""]
      .filter((x) => x).join(", ");
  for (let t = 0; t < trials; t++) {
    for (let r = 0; r < restarts; r++) {
      const cst = { ...st, hp: hps[t], seed: st.seed + r };
      const tag = label(t, r);
      const f = searchCircuit(
        ms,
        data,
        cst,
        progress && (tag ? (phase, ...a) => progress(`${phase} (${tag})`, ...a) : progress),
      );
      for (const [k, v] of Object.entries(f.timing)) timing[k] = (timing[k] ?? 0) + v;
      const [edges, nodes] = foundScore(model, f);
      candidates.push({ trial: t, st: cst, edges, nodes });
      found.push(f);
      if (candidates.length > 1) {
        progress?.("candidates", candidates.length, trials * restarts, {
          edges: String(edges),
          best: String(candidates[best()].edges),
        });
      }
    }
  }
  const won = best();
  return { candidates, best: won, found: found[won], timing };
}
