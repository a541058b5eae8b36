/**
 * Training hyperparameters (PAPER.md §2) as plain defaults, the presets, and validation.
 * Everything here is written next to the checkpoint (config.json).
 */
import { UserError } from "../errors.ts";
import { type ModelConfig, validateModelConfig } from "../model/config.ts";

export interface TrainConfig {
  /** Optimizer steps. */
  steps: number;
  /** Sequences per step. */
  batchSize: number;
  /** Peak learning rate (at the target L0; the sharkfin factor scales it during the anneal). */
  lr: number;
  warmupFrac: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Target L0 fraction for block matrices at ef = 1 (PAPER §2 pfrac). */
  pfrac: number;
  /** Entries protected per neuron by top-k. */
  protectJ: number;
  /** The anneal runs from dense at annealStart to the target at annealEnd (fractions of steps). */
  annealStart: number;
  annealEnd: number;
  /**
   * How the nonzeros fall between annealStart and annealEnd (src/train/sparsify.ts): "linear"
   * (PAPER.md §2, the method) or "cubic" (Zhu & Gupta 2017: fast at first, slow near the target,
   * so fewer steps run at the densities where products are dense).
   */
  annealShape: AnnealShape;
  /** Dense baseline: no weight sparsity (and, with afrac = 1, no activation sparsity). */
  dense: boolean;
  /**
   * R: weight gradients are dense on steps with (step + 1) % R = 0 (0-based step) and at the
   * kept entries only on the others (src/train/kept_grads.ts). 1 = dense on every step, the
   * paper's method.
   */
  denseGradEvery: number;
  seed: number;
  /** Validation every this many steps, on valBatches fixed batches of held-out data. */
  evalEvery: number;
  valBatches: number;
  /** Checkpoint every this many steps (and at the end). */
  saveEvery: number;
  logEvery: number;
  /** Training data: "corpus" (embedded generator) or a folder of .py files. */
  data: string;
}

export const ANNEAL_SHAPES = ["linear", "cubic"] as const;
export type AnnealShape = typeof ANNEAL_SHAPES[number];

export interface RunConfig {
  model: ModelConfig;
  train: TrainConfig;
}

/** The method's numbers (PAPER.md §2), shared by every preset. */
const METHOD = {
  lr: 0.02,
  warmupFrac: 0.01,
  beta1: 0.9,
  beta2: 0.95,
  eps: 0.1,
  weightDecay: 0.1,
  pfrac: 0.25,
  protectJ: 4,
  annealStart: 0.01,
  annealEnd: 0.5,
  annealShape: "linear" as AnnealShape,
  dense: false,
  denseGradEvery: 1,
  seed: 1,
  data: "corpus",
};

/** Model defaults shared by every preset (PAPER.md §1). */
const ARCH = {
  vocabSize: 2048,
  ef: 1,
  dHead: 16,
  afrac: 0.25,
  sink: true,
  bigram: true,
  dPosEmb: 0,
};

export const PRESETS: Record<string, RunConfig> = {
  /** CI smoke run: every part of the method in well under a minute. */
  tiny: {
    model: { ...ARCH, nLayer: 2, baseDModel: 64, baseDMlp: 256, nCtx: 64 },
    train: {
      ...METHOD,
      steps: 60,
      batchSize: 8,
      evalEvery: 20,
      valBatches: 2,
      saveEvery: 20,
      logEvery: 5,
    },
  },
  /** The default: the best model 2 cores train in about 15 minutes (docs/sweep.md). */
  small: {
    // d_model 128 beat 256 at the same wall time (8/20 tasks against 2/20); lr 0.04 beat 0.01
    // and 0.02 (11/20 against 8/20 at 2600 steps). 2400 steps fit 15 minutes on 2 cores.
    model: { ...ARCH, nLayer: 4, baseDModel: 128, baseDMlp: 512, nCtx: 128 },
    train: {
      ...METHOD,
      lr: 0.04,
      steps: 2400,
      batchSize: 16,
      evalEvery: 200,
      valBatches: 8,
      saveEvery: 200,
      logEvery: 10,
    },
  },
};

/**
 * Peak lr of the dense baselines. Without L0 pressure or the sharkfin factor a dense model wants a
 * much smaller lr: at the small shape and 870 steps, 0.005 reached val 2.32, 0.01 2.74, 0.02 3.23
 * (docs/sweep.md).
 */
export const DENSE_LR = 0.005;

/** The dense baseline's changes to a preset: no weight and no activation sparsity (PAPER §2). */
export function denseVariant(rc: RunConfig): RunConfig {
  return {
    model: { ...rc.model, afrac: 1 },
    train: { ...rc.train, dense: true, lr: DENSE_LR, pfrac: rc.model.ef * rc.model.ef },
  };
}

export function validateRunConfig(rc: RunConfig): void {
  validateModelConfig(rc.model);
  const t = rc.train;
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) {
      throw new UserError(`${name} must be an integer ≥ ${min}, got ${v}`);
    }
  };
  int("steps", t.steps, 1);
  int("batch size", t.batchSize, 1);
  int("seed", t.seed, 0);
  int("eval-every", t.evalEvery, 1);
  int("val-batches", t.valBatches, 1);
  int("save-every", t.saveEvery, 1);
  int("log-every", t.logEvery, 1);
  int("protect-j", t.protectJ, 0);
  int("dense-grad-every", t.denseGradEvery, 1);
  if (t.dense && t.denseGradEvery > 1) {
    throw new UserError(
      `dense-grad-every ${t.denseGradEvery} needs weight sparsity: the --dense baseline has no ` +
        `kept entries to restrict gradients to`,
    );
  }
  const ef2 = rc.model.ef * rc.model.ef;
  if (!(t.pfrac > 0 && t.pfrac <= ef2)) {
    throw new UserError(`pfrac must be in (0, ef²] = (0, ${ef2}], got ${t.pfrac}`);
  }
  if (!(t.lr > 0 && Number.isFinite(t.lr))) throw new UserError(`lr must be > 0, got ${t.lr}`);
  for (
    const [k, v] of [["warmup", t.warmupFrac], ["anneal-start", t.annealStart], [
      "anneal-end",
      t.annealEnd,
    ]] as const
  ) {
    if (!(v >= 0 && v <= 1)) throw new UserError(`${k} must be a fraction in [0, 1], got ${v}`);
  }
  if (!ANNEAL_SHAPES.includes(t.annealShape)) {
    throw new UserError(
      `anneal-shape must be one of ${ANNEAL_SHAPES.join(", ")}, got '${t.annealShape}'`,
    );
  }
  if (t.dense && t.annealShape !== "linear") {
    throw new UserError(
      `anneal-shape ${t.annealShape} needs weight sparsity: the --dense baseline has no anneal`,
    );
  }
  if (t.annealEnd < t.annealStart) {
    throw new UserError(
      `anneal-end (${t.annealEnd}) must not precede anneal-start (${t.annealStart})`,
    );
  }
  if (!(t.beta1 >= 0 && t.beta1 < 1 && t.beta2 >= 0 && t.beta2 < 1)) {
    throw new UserError("betas must be in [0, 1)");
  }
  if (!(t.eps > 0)) throw new UserError(`eps must be > 0, got ${t.eps}`);
  if (!(t.weightDecay >= 0)) throw new UserError(`weight decay must be ≥ 0, got ${t.weightDecay}`);
}
