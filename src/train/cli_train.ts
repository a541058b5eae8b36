/**
 * `thinwire train`: flags → RunConfig → train(). Every model and schedule number of docs/method.md §1-2
 * has a flag; defaults come from the preset.
 */
import { commandFlags, COMPUTE_FLAGS, computeFlags, computeUsage } from "../cli_flags.ts";
import { UserError } from "../errors.ts";
import { ANNEAL_SHAPES, type AnnealShape, type RunConfig } from "../run/config.ts";
import { DENSE_LR, denseVariant, PRESETS } from "./presets.ts";
import { train, type TrainArgs } from "./trainer.ts";

const NUMERIC: Record<string, [string, (rc: RunConfig, v: number) => void]> = {
  steps: ["optimizer steps", (rc, v) => rc.train.steps = v],
  seed: ["random seed (init and data order)", (rc, v) => rc.train.seed = v],
  batch: ["sequences per step", (rc, v) => rc.train.batchSize = v],
  layers: ["transformer blocks", (rc, v) => rc.model.nLayer = v],
  "d-model": ["base residual width (× ef)", (rc, v) => rc.model.baseDModel = v],
  "d-mlp": ["base MLP width (× ef)", (rc, v) => rc.model.baseDMlp = v],
  "d-head": ["attention head width", (rc, v) => rc.model.dHead = v],
  "n-ctx": ["context length in tokens", (rc, v) => rc.model.nCtx = v],
  "d-pos-emb": [
    "learned position channels read by every block (0 = none)",
    (rc, v) => rc.model.dPosEmb = v,
  ],
  vocab: ["BPE vocabulary size", (rc, v) => rc.model.vocabSize = v],
  ef: ["width expansion factor", (rc, v) => rc.model.ef = v],
  pfrac: ["target L0 fraction of block matrices at ef 1", (rc, v) => rc.train.pfrac = v],
  afrac: ["AbsTopK fraction kept (1 = off)", (rc, v) => rc.model.afrac = v],
  lr: ["peak learning rate", (rc, v) => rc.train.lr = v],
  warmup: ["warmup fraction of steps", (rc, v) => rc.train.warmupFrac = v],
  "anneal-start": ["L0 anneal start (fraction of steps)", (rc, v) => rc.train.annealStart = v],
  "anneal-end": ["L0 anneal end (fraction of steps)", (rc, v) => rc.train.annealEnd = v],
  "anneal-from": [
    "block density the L0 anneal starts from (1 = dense, the method; below 1 a sparse anneal)",
    (rc, v) => {
      if (v === 1) delete rc.train.annealFrom;
      else rc.train.annealFrom = v;
    },
  ],
  "protect-j": ["entries protected per neuron by top-k", (rc, v) => rc.train.protectJ = v],
  "dense-grad-every": [
    "R: dense weight gradients every R steps, kept entries only between (1 = the paper's method)",
    (rc, v) => rc.train.denseGradEvery = v,
  ],
  wd: ["decoupled weight decay", (rc, v) => rc.train.weightDecay = v],
  eps: ["Adam epsilon", (rc, v) => rc.train.eps = v],
  beta1: ["Adam beta1", (rc, v) => rc.train.beta1 = v],
  beta2: ["Adam beta2", (rc, v) => rc.train.beta2 = v],
  "eval-every": ["validation every N steps", (rc, v) => rc.train.evalEvery = v],
  "val-batches": ["validation batches", (rc, v) => rc.train.valBatches = v],
  "save-every": ["checkpoint every N steps", (rc, v) => rc.train.saveEvery = v],
  "log-every": ["metrics every N steps", (rc, v) => rc.train.logEvery = v],
};

/** The flags --resume takes; every other one would change the saved run's config. */
const RESUME_FLAGS = new Set(["resume", "out", "threads", "backend", "quiet", "steps"]);

function help(): string {
  const p = PRESETS.small;
  const get: Record<string, unknown> = {
    steps: p.train.steps,
    seed: p.train.seed,
    batch: p.train.batchSize,
    layers: p.model.nLayer,
    "d-model": p.model.baseDModel,
    "d-mlp": p.model.baseDMlp,
    "d-head": p.model.dHead,
    "n-ctx": p.model.nCtx,
    "d-pos-emb": p.model.dPosEmb,
    vocab: p.model.vocabSize,
    ef: p.model.ef,
    pfrac: p.train.pfrac,
    afrac: p.model.afrac,
    lr: `${p.train.lr}; with --dense ${DENSE_LR}`,
    warmup: p.train.warmupFrac,
    "anneal-start": p.train.annealStart,
    "anneal-end": p.train.annealEnd,
    "anneal-from": p.train.annealFrom ?? 1,
    "protect-j": p.train.protectJ,
    "dense-grad-every": p.train.denseGradEvery,
    wd: p.train.weightDecay,
    eps: p.train.eps,
    beta1: p.train.beta1,
    beta2: p.train.beta2,
    "eval-every": p.train.evalEvery,
    "val-batches": p.train.valBatches,
    "save-every": p.train.saveEvery,
    "log-every": p.train.logEvery,
  };
  const rows = Object.entries(NUMERIC).map(([k, [desc]]) =>
    `  --${k.padEnd(14)} ${desc} (small: ${get[k]})`
  );
  return [
    "usage: deno task train [flags]",
    "",
    "Trains a weight-sparse GPT-2-style decoder (docs/method.md §1-2) and writes a run folder:",
    "config.json, model.safetensors, tokenizer.json, metrics.jsonl, loss.svg, state/.",
    "",
    "  --preset NAME     tiny (CI smoke run), small (default) or paper (ef 4, block density",
    "                    1/96, 20.5M tokens from a sparse start, 1h36m on 2 cores: docs/sparsity.md)",
    "  --dense           dense baseline: no weight sparsity, no activation sparsity",
    "  --data DIR        train on the .py files under DIR (default: the embedded corpus)",
    "  --out DIR         run folder (default runs/<preset>[-dense]-s<seed>)",
    "  --resume          continue the run in --out from its last checkpoint, with its saved",
    "                    config: only --steps, --threads, --backend and --quiet may be given",
    computeUsage(16),
    "  --sink / --no-sink       attention sink logits (default on)",
    "  --bigram / --no-bigram   dense bigram table (default on)",
    `  --anneal-shape S  how the L0 anneal falls: ${ANNEAL_SHAPES.join(" or ")} (default`,
    "                    linear, the method; cubic prunes fast at first, docs/sparsity.md)",
    "  --quiet           no progress output",
    ...rows,
    "",
    "--resume --steps N extends a run to N steps (N at least its saved count). From the",
    "checkpoint on, everything that is a fraction of the run's steps (warmup, lr decay, the",
    "sharkfin factor, the L0 anneal) follows the schedule of an N-step run, so the weights differ",
    "from those of N steps trained from scratch. config.json gets the new count, and a line in",
    "`extended`: the checkpoint step it changed at, the old and new counts.",
  ].join("\n");
}

export async function trainCommand(argv: string[]): Promise<number> {
  const args = parseTrainFlags(argv);
  if (args !== null) await train(args);
  return 0;
}

/**
 * train's flags → what `train()` takes, every flag checked (the study validates its grid points
 * with it before anything starts); null after printing the usage for --help.
 */
export function parseTrainFlags(argv: string[]): TrainArgs | null {
  const options: Record<string, { type: "string" | "boolean" }> = {
    preset: { type: "string" },
    dense: { type: "boolean" },
    data: { type: "string" },
    out: { type: "string" },
    resume: { type: "boolean" },
    ...COMPUTE_FLAGS,
    sink: { type: "boolean" },
    "no-sink": { type: "boolean" },
    bigram: { type: "boolean" },
    "no-bigram": { type: "boolean" },
    quiet: { type: "boolean" },
    "anneal-shape": { type: "string" },
  };
  for (const k of Object.keys(NUMERIC)) options[k] = { type: "string" };
  const values = commandFlags("train", help, options, argv);
  if (!values) return null;
  if (values.resume) {
    const fixed = Object.keys(values).filter((k) => !RESUME_FLAGS.has(k));
    if (fixed.length) {
      throw new UserError(
        `--resume continues the run with its saved config; not with ${
          fixed.map((k) => `--${k}`).join(", ")
        } (only --steps, --threads, --backend and --quiet apply)`,
      );
    }
  }
  const presetName = (values.preset as string | undefined) ?? "small";
  const preset = PRESETS[presetName];
  if (!preset) {
    throw new UserError(
      `unknown preset '${presetName}' (presets: ${Object.keys(PRESETS).join(", ")})`,
    );
  }
  let rc: RunConfig = structuredClone(preset);
  if (values.dense) rc = denseVariant(rc);
  for (const [k, [, set]] of Object.entries(NUMERIC)) {
    const s = values[k] as string | undefined;
    if (s === undefined) continue;
    const v = Number(s);
    if (s.trim() === "" || !Number.isFinite(v)) {
      throw new UserError(`--${k} needs a number, got '${s}'`);
    }
    set(rc, v);
  }
  // denseVariant keeps every weight at the preset's ef; --ef changes ef² (--dense --ef 0.5 was
  // refused: pfrac 1 above ef² 0.25).
  if (values.dense && values.pfrac === undefined) rc.train.pfrac = rc.model.ef * rc.model.ef;
  if (values.sink && values["no-sink"]) throw new UserError("--sink and --no-sink both given");
  if (values.bigram && values["no-bigram"]) {
    throw new UserError("--bigram and --no-bigram both given");
  }
  if (values["no-sink"]) rc.model.sink = false;
  if (values.sink) rc.model.sink = true;
  if (values["no-bigram"]) rc.model.bigram = false;
  if (values.bigram) rc.model.bigram = true;
  if (values.data !== undefined) rc.train.data = values.data as string;
  if (values["anneal-shape"] !== undefined) {
    rc.train.annealShape = values["anneal-shape"] as AnnealShape;
  }
  const { threads, backend } = computeFlags(
    values as { threads?: string; backend?: string },
  );
  const out = (values.out as string | undefined) ??
    `runs/${presetName}${rc.train.dense ? "-dense" : ""}-s${rc.train.seed}`;
  return {
    out,
    rc,
    threads,
    backend,
    resume: !!values.resume,
    steps: values.steps === undefined ? undefined : rc.train.steps,
    quiet: !!values.quiet,
  };
}
