/**
 * `eval` on a run folder: the task suite (src/eval/task_eval.ts) and the pretraining validation
 * loss, recomputed as the trainer computes it.
 */
import { fixedBatches, valSource } from "../data/dataset.ts";
import { loadPyFiles } from "../data/pyfiles.ts";
import { passTokens } from "../run/open.ts";
import type { LoadedRun } from "../run/run_dir.ts";
import { validationXent } from "../train/validation.ts";
import { EVAL_SEED, type Task } from "../../tasks/index.ts";
import { evalTask, PairScorer, SOLVED_LOSS, type TaskResult } from "./task_eval.ts";

/** Pretraining validation loss: recomputed, and the last value the trainer logged. */
export interface ValLoss {
  /** Mean next-token cross-entropy (nats/token) on the run's validation batches, or null. */
  loss: number | null;
  tokens: number;
  /** The last `val/xent` in metrics.jsonl and its step (null when absent). */
  logged: number | null;
  loggedStep: number | null;
  /** Why the loss was not recomputed (null when it was). */
  note: string | null;
}

/**
 * Recomputes the validation loss exactly as the trainer does: the first `valBatches` batches of
 * batch×n_ctx tokens of the validation stream (generated corpus with VAL_SEED, or the held-out
 * files), mean of the per-batch means. For a finished run it equals the last logged val/xent.
 */
export async function validationLoss(r: LoadedRun): Promise<ValLoss> {
  const last = [...r.metrics].reverse().find((m) => typeof m["val/xent"] === "number");
  const logged = last ? last["val/xent"] : null;
  const loggedStep = last ? last.step : null;
  const t = r.rc.train, B = t.batchSize, T = r.rc.model.nCtx;
  let files = null;
  if (t.data !== "corpus") {
    try {
      files = await loadPyFiles(t.data);
    } catch (e) {
      const why = `training data ${t.data} unavailable: ${(e as Error).message.split("\n")[0]}`;
      return { loss: null, tokens: 0, logged, loggedStep, note: why };
    }
  }
  const batches = fixedBatches(valSource(r.tokenizer, files), t.valBatches, B, T);
  return {
    loss: validationXent(r.model, batches, B, T, passTokens(r, false) / T),
    tokens: batches.length * B * T,
    logged,
    loggedStep,
    note: null,
  };
}

/** The whole evaluation of one run. */
export interface EvalReport {
  model: string;
  tokenizer: string;
  nCtx: number;
  evalSeed: number;
  pairs: number;
  solvedLoss: number;
  tasks: TaskResult[];
  /** Tasks solved, and tasks measurable. */
  solved: number;
  measured: number;
  val: ValLoss;
}

export interface EvalOptions {
  tasks: readonly Task[];
  pairs: number;
  show?: number;
  /** Skip the validation loss (tests). */
  skipVal?: boolean;
  /** Called after each task. */
  onTask?: (done: number, result: TaskResult) => void;
}

/** Evaluates a loaded run on the given tasks and its validation stream. */
export async function evaluateRun(r: LoadedRun, opts: EvalOptions): Promise<EvalReport> {
  const scorer = new PairScorer(r.model, r.tokenizer, 2 * opts.pairs, passTokens(r, false));
  const tasks: TaskResult[] = [];
  for (const task of opts.tasks) {
    const res = evalTask(scorer, r.tokenizer, task, opts.pairs, opts.show ?? 0);
    tasks.push(res);
    opts.onTask?.(tasks.length, res);
  }
  const val: ValLoss = opts.skipVal
    ? { loss: null, tokens: 0, logged: null, loggedStep: null, note: "skipped" }
    : await validationLoss(r);
  return {
    model: r.path,
    tokenizer: r.tokenizer.name,
    nCtx: r.rc.model.nCtx,
    evalSeed: EVAL_SEED,
    pairs: opts.pairs,
    solvedLoss: SOLVED_LOSS,
    tasks,
    solved: tasks.filter((t) => t.solved).length,
    measured: tasks.filter((t) => t.measurable).length,
    val,
  };
}
