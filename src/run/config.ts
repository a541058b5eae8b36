/**
 * The run's configuration: the model and training sections of config.json, their types and
 * their validation (value ranges, and field types when parsed from JSON). Pure: the CLI, the
 * trainer and the browser viewer all read a run's config through here.
 */
import { UserError } from "../errors.ts";
import { type ModelConfig, validateModelConfig } from "../model/config.ts";
import { ARENA_BYTES, formatBytes, trainingBytes } from "../model/memory.ts";
import { targetDensity } from "../model/params.ts";

export const FORMAT_VERSION = 1;

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
  /** Target L0 fraction for block matrices at ef = 1 (docs/method.md §2 pfrac). */
  pfrac: number;
  /** Entries protected per neuron by top-k. */
  protectJ: number;
  /** The anneal runs from dense at annealStart to the target at annealEnd (fractions of steps). */
  annealStart: number;
  annealEnd: number;
  /**
   * How the nonzeros fall between annealStart and annealEnd (src/train/sparsify.ts): "linear"
   * (docs/method.md §2, the method) or "cubic" (Zhu & Gupta 2017: fast at first, slow near the target,
   * so fewer steps run at the densities where products are dense).
   */
  annealShape: AnnealShape;
  /**
   * Block density the anneal starts from (src/train/sparse_anneal.ts). Absent: 1, dense, the
   * method. Below 1, a sparse anneal: every sparsified tensor is pruned at init to this many
   * times its target density (at most dense), the anneal runs from there, and with R > 1 the kept
   * tensors are pruned only on dense-gradient steps. Written to config.json only when below 1.
   */
  annealFrom?: number;
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

export function validateRunConfig(rc: RunConfig): void {
  validateModelConfig(rc.model);
  const t = rc.train;
  const int = (name: string, v: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`;
      throw new UserError(`${name} must be an integer ${range}, got ${v}`);
    }
  };
  int("steps", t.steps, 1, 1e9);
  int("batch size", t.batchSize, 1);
  // Seeds are 32-bit in the generators (src/util/rng.ts and the WASM Gaussian fill).
  int("seed", t.seed, 0, 2 ** 32 - 1);
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
  // An Adam step moves each weight by about lr: past 10 every run diverges at once.
  if (!(t.lr > 0 && t.lr <= 10)) throw new UserError(`lr must be in (0, 10], got ${t.lr}`);
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
  if (t.annealFrom !== undefined) {
    if (t.dense && t.annealFrom !== 1) {
      throw new UserError(
        `anneal-from ${t.annealFrom} needs weight sparsity: the --dense baseline has no anneal`,
      );
    }
    const target = targetDensity("block", t.pfrac, rc.model.ef);
    if (!(t.annealFrom >= target && t.annealFrom <= 1)) {
      throw new UserError(
        `anneal-from must be a block density in [the target ${+target.toPrecision(4)}, 1], ` +
          `got ${t.annealFrom} (--anneal-from ${target} starts at the target)`,
      );
    }
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

/**
 * Refuses, before anything is written, a training that cannot fit the WebAssembly memory (a
 * run's config.json may still name one: a model trained elsewhere is only evaluated here).
 */
export function checkTrainingFits(rc: RunConfig): void {
  const need = trainingBytes(
    rc.model,
    rc.train.batchSize,
    rc.model.nCtx,
    rc.train.denseGradEvery,
  );
  if (need > ARENA_BYTES) {
    throw new UserError(
      `training this model on batches of ${rc.train.batchSize}×${rc.model.nCtx} tokens needs ` +
        `${formatBytes(need)} of WebAssembly memory, which holds ${formatBytes(ARENA_BYTES)}: ` +
        `lower --batch or --n-ctx, or the widths and layers`,
    );
  }
}

/** ModelConfig's fields that every config.json has (the optional ones: OPTIONAL_MODEL_FIELDS). */
type RequiredModelField = Exclude<keyof ModelConfig, OptionalModelField>;
type OptionalModelField = "afracLoctypes" | "addPosEmb";

export const MODEL_FIELDS: Record<RequiredModelField, "number" | "boolean"> = {
  vocabSize: "number",
  nLayer: "number",
  baseDModel: "number",
  baseDMlp: "number",
  ef: "number",
  dHead: "number",
  nCtx: "number",
  afrac: "number",
  sink: "boolean",
  bigram: "boolean",
  dPosEmb: "number",
};

/**
 * Fields a model has only when it differs from the default (imported models): absent in every
 * run trained before they existed, and left out when at the default, so those runs' files are
 * unchanged. validateModelConfig checks their values.
 */
export const OPTIONAL_MODEL_FIELDS: readonly OptionalModelField[] = ["afracLoctypes", "addPosEmb"];

/** TrainConfig's fields that a config.json has only when they differ from the method. */
type OptionalTrainField = "annealFrom";
const OPTIONAL_TRAIN_FIELDS: Record<OptionalTrainField, "number"> = { annealFrom: "number" };

/**
 * The train section's field types: validateRunConfig's range checks compare with `>` and `<=`,
 * which a string such as "0.1" would pass.
 */
const TRAIN_FIELDS: Record<
  Exclude<keyof TrainConfig, OptionalTrainField>,
  "number" | "boolean" | "string"
> = {
  steps: "number",
  batchSize: "number",
  lr: "number",
  warmupFrac: "number",
  beta1: "number",
  beta2: "number",
  eps: "number",
  weightDecay: "number",
  pfrac: "number",
  protectJ: "number",
  annealStart: "number",
  annealEnd: "number",
  annealShape: "string",
  dense: "boolean",
  denseGradEvery: "number",
  seed: "number",
  evalEvery: "number",
  valBatches: "number",
  saveEvery: "number",
  logEvery: "number",
  data: "string",
};

/** Validates parsed config.json (format version, field types, value ranges). */
export function parseRunConfig(j: unknown, where: string): RunConfig {
  const bad = (why: string): never => {
    throw new UserError(`${where}: ${why}`);
  };
  if (typeof j !== "object" || j === null || Array.isArray(j)) bad("not a JSON object");
  const cfg = j as Record<string, unknown>;
  if (cfg.format_version !== FORMAT_VERSION) {
    bad(
      `run folder format ${JSON.stringify(cfg.format_version ?? "unknown")} is not supported ` +
        `(this thinwire reads format ${FORMAT_VERSION})`,
    );
  }
  const model = cfg.model as Record<string, unknown> | undefined;
  const train = cfg.train as Record<string, unknown> | undefined;
  if (typeof model !== "object" || model === null) bad("missing the model section");
  if (typeof train !== "object" || train === null) bad("missing the train section");
  // Run folders written before the sparse-gradient mode trained with the method's dense gradients.
  if (train!.denseGradEvery === undefined) train!.denseGradEvery = 1;
  // ... and before --anneal-shape, with the method's linear anneal.
  if (train!.annealShape === undefined) train!.annealShape = "linear";
  for (
    const [section, obj, fields] of [
      ["model", model!, MODEL_FIELDS],
      ["train", train!, TRAIN_FIELDS],
    ] as const
  ) {
    for (const [k, type] of Object.entries(fields)) {
      const actual = typeof obj[k];
      if (actual !== type) {
        bad(`${section}.${k} must be a ${type}, got ${JSON.stringify(obj[k])}`);
      }
    }
  }
  for (const [k, type] of Object.entries(OPTIONAL_TRAIN_FIELDS)) {
    if (train![k] !== undefined && typeof train![k] !== type) {
      bad(`train.${k} must be a ${type}, got ${JSON.stringify(train![k])}`);
    }
  }
  const rc = { model, train } as unknown as RunConfig;
  try {
    validateRunConfig(rc);
  } catch (e) {
    if (e instanceof UserError) bad(e.message);
    throw e;
  }
  return rc;
}
