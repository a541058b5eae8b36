/**
 * The task suite (docs/method.md §3): the twenty minimal-pair next-token tasks in the paper's order,
 * seeded pair sets for evaluation and pruning, and the listing printed by `deno task tasks`.
 */
import { UserError } from "../src/errors.ts";
import { Rng } from "../src/util/rng.ts";
import type { Task, TaskPair } from "./types.ts";
import { singleDoubleQuote } from "./single_double_quote.ts";
import { finalKwarg } from "./final_kwarg.ts";
import { setOrString } from "./set_or_string.ts";
import { setOrStringFixedVarname } from "./set_or_string_fixedvarname.ts";
import { classInit } from "./class_init.ts";
import { withAs } from "./with_as.ts";
import { bracketBrace } from "./bracket_brace.ts";
import { withOpen } from "./with_open.ts";
import { bracketCounting } from "./bracket_counting.ts";
import { forWhile } from "./for_while.ts";
import { elseElif } from "./else_elif.ts";
import { fstringBrace } from "./fstring_brace.ts";
import { ifTernary } from "./if_ternary.ts";
import { varSwap } from "./var_swap.ts";
import { indentFor } from "./indent_for.ts";
import { lambdaFunc } from "./lambda_func.ts";
import { ifEquals } from "./if_equals.ts";
import { enumerateRange } from "./enumerate_range.ts";
import { varIf } from "./var_if.ts";
import { whileReturnTrue } from "./while_return_true.ts";

export type { Task, TaskPair } from "./types.ts";

/** The twenty tasks, in the task table of docs/method.md §3 order. */
export const TASKS: readonly Task[] = [
  singleDoubleQuote,
  finalKwarg,
  setOrString,
  setOrStringFixedVarname,
  classInit,
  withAs,
  bracketBrace,
  withOpen,
  bracketCounting,
  forWhile,
  elseElif,
  fstringBrace,
  ifTernary,
  varSwap,
  indentFor,
  lambdaFunc,
  ifEquals,
  enumerateRange,
  varIf,
  whileReturnTrue,
];

/** Seed of the held-out pairs every evaluation reports on. */
export const EVAL_SEED = 0x7A5C_E7A1;
/** Seed of the pairs circuit pruning optimises on (disjoint stream from EVAL_SEED's). */
export const PRUNE_SEED = 0x9E11_0B5D;

/** The task called `name`; an unknown name is a UserError listing the valid ones. */
export function getTask(name: string): Task {
  const t = TASKS.find((t) => t.name === name);
  if (!t) {
    throw new UserError(`unknown task '${name}' (tasks: ${TASKS.map((t) => t.name).join(", ")})`);
  }
  return t;
}

/** FNV-1a of a task name, so each task draws its own stream from a shared seed. */
function nameSalt(name: string): number {
  let h = 0x811C9DC5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * `count` pairs of `task` drawn from `seed`: the same (task, seed) always gives the same list, and
 * a longer list starts with the shorter one. Pairs with an already drawn first prompt are redrawn
 * (a few times at most), so a set rarely holds duplicates.
 */
export function makePairs(task: Task, seed: number, count: number): TaskPair[] {
  const rng = new Rng(seed).fork(nameSalt(task.name));
  const seen = new Set<string>();
  const out: TaskPair[] = [];
  while (out.length < count) {
    let p = task.generate(rng);
    for (let t = 0; t < 8 && seen.has(p.prompts[0]); t++) p = task.generate(rng);
    seen.add(p.prompts[0]);
    out.push(p);
  }
  return out;
}

/** The end of a prompt, as a JSON string (newlines visible), at most `max` characters. */
function tail(text: string, max: number): string {
  return JSON.stringify(text.length > max ? "…" + text.slice(text.length - max + 1) : text);
}

/** One line per task (name, description) followed by its first EVAL_SEED pair, prompt ends only. */
export function formatTaskList(): string {
  const width = Math.max(...TASKS.map((t) => t.name.length));
  const lines: string[] = [];
  for (const t of TASKS) {
    const p = makePairs(t, EVAL_SEED, 1)[0];
    lines.push(`${t.name.padEnd(width)}  ${t.description}`);
    for (const i of [0, 1]) {
      lines.push(`    ${tail(p.prompts[i], 60)}  →  ${JSON.stringify(p.answers[i])}`);
    }
  }
  return lines.join("\n");
}
