/**
 * What a pruning run is told: the mask optimiser's settings (and their names in circuit files),
 * the data and measurement defaults, and the settings a circuit file records, read back.
 */
import type { Circuit } from "../run/circuit.ts";

/** The mask optimiser's settings (docs/method.md §4's starting values, except steps: see docs/prune.md). */
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
  /** Std of the Gaussian added to τ before the forward's Heaviside (decays linearly to 0). */
  maskNoise: number;
  /**
   * When the full model's task loss on the pruning pairs is under this, the masks train on its
   * logits divided by the temperature that puts it here (0: never).
   */
  lossSetPoint: number;
  /**
   * Rounds of re-ranking the bisected circuit by attribution inside it and bisecting again, each
   * kept only if it shrinks the circuit (0: the τ ranking alone, as in the paper).
   */
  rerank: number;
  /** Fraction of the steps over which k_coef ramps up linearly from 0 (0: full from the start). */
  penaltyWarmup: number;
  /**
   * Weight of the edge penalty Σ_edges m_i·m_j (the number of edges among the nodes on) in the
   * masks' loss, beside k_coef·Σm; ramps up with k_coef (0: the paper's objective).
   */
  edgeCoef: number;
  /**
   * Passes of trimming the circuit after the re-ranking: its nodes tried in galloping groups,
   * dropped where the rest still meets the target (src/prune/trim.ts; 0: none).
   */
  trim: number;
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
  // Planted circuits (docs/prune.md, "Planted circuits"): without noise a head's masks collapse
  // (its key and value are each useless alone, so once both are off neither gets a gradient);
  // without the set point a very sure model (full loss 1e-3 to 1e-5) keeps distractors beside an
  // MLP path. 0.05 is the smallest set point tried that recovered every planted circuit; a model
  // whose full loss on the pruning pairs is at or above it trains exactly as with 0 (lossScale).
  maskNoise: 0.1,
  lossSetPoint: 0.05,
  // The paper model (docs/prune.md, "What the τ ranking misses: re-ranking"): the τ ranking left
  // the one node var_if cannot do without last of 276; re-ranked, 61 nodes met the target. At
  // these defaults three rounds took var_if 172 → 80 and while_return_true 56 → 6; each costs one
  // masked backward over the bisection pairs and a bisection.
  rerank: 3,
  penaltyWarmup: 0,
  edgeCoef: 0,
  trim: 0,
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
  maskNoise: "mask_noise",
  lossSetPoint: "loss_set_point",
  rerank: "rerank_rounds",
  penaltyWarmup: "penalty_warmup",
  edgeCoef: "edge_coef",
  trim: "trim_passes",
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
  // A file without mask_noise, loss_set_point, rerank_rounds, penalty_warmup, edge_coef or
  // trim_passes was written before they existed.
  const hp = {
    ...DEFAULT_HP,
    maskNoise: 0,
    lossSetPoint: 0,
    rerank: 0,
    penaltyWarmup: 0,
    edgeCoef: 0,
    trim: 0,
  };
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
  prunePairs: 512,
  /** The first of them, on which k is bisected, the calibration fitted and the curve measured. */
  bisectPairs: 256,
  /**
   * The first of them the masks train on (at least bisectPairs); the rest check k, unseen by
   * both.
   */
  maskPairs: 256,
  /** Held-out evaluation pairs (EVAL_SEED): every reported loss. */
  evalPairs: 200,
  randomDraws: 20,
  /** Evaluation pairs each random draw is measured on (the first ones). */
  randomPairs: 64,
  /** Evaluation pairs each node's delta is measured on. */
  deltaPairs: 32,
  /**
   * Standard errors of their mean by which the pruning pairs held out of the bisection must meet
   * the target (docs/prune.md, "The paper model").
   */
  checkMargin: 1,
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
  /**
   * Pruning pairs the masks train on: the first ones, bisectPairs of them at least (then those
   * very pairs); k is checked on the pruning pairs after them.
   */
  maskPairs: number;
  /** Standard errors by which the rest of the pruning pairs must meet the target (0: just meet it). */
  checkMargin: number;
  /** Skip the random baseline, the deltas and the curve (tests and benches: the circuit only). */
  skipBaselines?: boolean;
}

/**
 * `prune`'s default settings for the circuit alone: learned masks, mean ablation, seed 0, without
 * the random baseline, the deltas and the curve, which do not change the circuit (tests and
 * benches).
 */
export function circuitSearchSettings(hp: MaskHyperparams = DEFAULT_HP): PruneSettings {
  return {
    target: PRUNE_DEFAULTS.target,
    method: "learned",
    ablation: "mean",
    freezeNorm: false,
    seed: 0,
    hp,
    randomDraws: 0,
    randomPairs: 0,
    deltaPairs: 0,
    bisectPairs: PRUNE_DEFAULTS.bisectPairs,
    maskPairs: PRUNE_DEFAULTS.maskPairs,
    checkMargin: PRUNE_DEFAULTS.checkMargin,
    skipBaselines: true,
  };
}

const num = (v: unknown, fallback: number) => typeof v === "number" ? v : fallback;

/**
 * The settings a circuit file was pruned and measured with (files written before a setting
 * existed get what that version did: random draws measured on every evaluation pair, k bisected
 * on every pruning pair).
 */
export function settingsFromCircuit(c: Circuit): PruneSettings {
  const h = c.hyperparameters;
  return {
    target: c.target,
    method: c.method,
    ablation: c.ablation,
    freezeNorm: c.freeze_norm,
    seed: c.seed,
    hp: hyperparamsFromJson(h),
    randomDraws: num(h.random_draws, PRUNE_DEFAULTS.randomDraws),
    randomPairs: num(h.random_pairs, c.pairs.eval_pairs),
    deltaPairs: num(h.delta_pairs, PRUNE_DEFAULTS.deltaPairs),
    bisectPairs: num(h.bisect_pairs, c.pairs.prune_pairs),
    maskPairs: num(h.mask_pairs, num(h.bisect_pairs, c.pairs.prune_pairs)),
    checkMargin: num(h.check_margin, 0),
  };
}

/** How many pruning pairs the masks train on: maskPairs, and never fewer than bisectPairs. */
export function trainPairs(st: Pick<PruneSettings, "bisectPairs" | "maskPairs">): number {
  return Math.max(st.maskPairs, st.bisectPairs);
}

/**
 * The pruning pairs' roles (2 items a pair): the masks train on the first maskPairs, k is
 * bisected and calibrated on the first bisectPairs of those, and checked on the rest, which
 * neither has seen.
 */
export function poolRoles<T>(
  pool: readonly T[],
  st: Pick<PruneSettings, "bisectPairs" | "maskPairs">,
): { train: T[]; bisect: T[]; check: T[] } {
  const train = pool.slice(0, 2 * trainPairs(st));
  return { train, bisect: pool.slice(0, 2 * st.bisectPairs), check: pool.slice(train.length) };
}

/** Progress callback: phase name, units done, units in the phase, optional fields. */
export type OnProgress = (
  phase: string,
  done: number,
  total: number,
  fields?: Record<string, string>,
) => void;
