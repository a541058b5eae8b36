/**
 * A task's pair sets for pruning: the pruning pairs (PRUNE_SEED), on which the masks train and k
 * is bisected, and the held-out evaluation pairs (EVAL_SEED) every reported loss is measured on;
 * and a scorer sized for them on a run's model.
 */
import { PairScorer, type PromptItem, taskItems } from "../eval/task_eval.ts";
import { type OpenRun, passTokens } from "../run/open.ts";
import { EVAL_SEED, PRUNE_SEED, type Task, type TaskPair } from "../../tasks/index.ts";

/** The pair sets of a task, or why it cannot be pruned. */
export interface TaskData {
  task: Task;
  pool: PromptItem[];
  evalItems: PromptItem[];
  evalPairs: TaskPair[];
}

/** Builds a task's pruning (PRUNE_SEED) and evaluation (EVAL_SEED) items. */
export function taskData(
  r: OpenRun,
  task: Task,
  prunePairs: number,
  evalPairs: number,
): TaskData | { task: Task; note: string } {
  const pool = taskItems(r.tokenizer, task, PRUNE_SEED, prunePairs);
  if (pool.note !== null) return { task, note: pool.note };
  const ev = taskItems(r.tokenizer, task, EVAL_SEED, evalPairs);
  if (ev.note !== null) return { task, note: ev.note };
  return { task, pool: pool.items, evalItems: ev.items, evalPairs: ev.pairs };
}

/** A scorer sized for a task's pair sets, on the run's model, for passes under an ablation. */
export function makeScorer(r: OpenRun, items: number): PairScorer {
  return new PairScorer(r.model, r.tokenizer, items, passTokens(r, true), { ablated: true });
}
