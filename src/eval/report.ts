/**
 * Formatting an evaluation (src/eval/task_eval.ts) as the terminal table, the example pairs of
 * `--show`, and the JSON document of `--json`. No numbers are computed here, only printed.
 */
import type { EvalReport } from "./run_eval.ts";
import type { PairExample, TaskResult } from "./task_eval.ts";

/** `text` as one visible line: newlines and tabs escaped, only the last `max` characters kept. */
export function visible(text: string, max = 80): string {
  const esc = text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(
    /\t/g,
    "\\t",
  );
  return esc.length > max ? "…" + esc.slice(esc.length - max + 1) : esc;
}

const fixed = (x: number | null, digits: number) => x === null ? "-" : x.toFixed(digits);

/** The results table, one row per task, then the summary and validation lines. */
export function formatTable(r: EvalReport): string {
  const head = ["task", "loss", "accuracy", "logit diff", "same answer", "solved"];
  const rows = r.tasks.map((t) => [
    t.task,
    fixed(t.loss, 4),
    t.accuracy === null ? "-" : `${(100 * t.accuracy).toFixed(1)}%`,
    t.logitDiff === null ? "-" : (t.logitDiff >= 0 ? "+" : "") + t.logitDiff.toFixed(3),
    t.sameAnswer === null ? "-" : `${(100 * t.sameAnswer).toFixed(1)}%`,
    t.measurable ? (t.solved ? "yes" : "no") : t.note!,
  ]);
  // The last column is free text (a "not measurable" note can be long): no padding.
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const line = (cells: string[]) =>
    cells.map((s, c) => c === 0 ? s.padEnd(width[c]) : c < 5 ? s.padStart(width[c]) : s)
      .join("  ");
  const out = [line(head), line(head.map((h, c) => "-".repeat(c < 5 ? width[c] : h.length)))];
  out.push(...rows.map(line));
  out.push("");
  out.push(summaryLine(r));
  out.push(valLine(r));
  const cut = r.tasks.filter((t) => t.truncated > 0);
  if (cut.length > 0) {
    out.push(
      `note: prompts longer than n_ctx = ${r.nCtx} tokens were cut from the left: ` +
        cut.map((t) => `${t.task} (${t.truncated})`).join(", "),
    );
  }
  return out.join("\n");
}

function summaryLine(r: EvalReport): string {
  const unmeasurable = r.tasks.length - r.measured;
  return `solved ${r.solved}/${r.tasks.length} (task loss < ${r.solvedLoss}; ${r.pairs} pairs ` +
    `per task, seed 0x${r.evalSeed.toString(16)}` +
    (unmeasurable > 0 ? `; ${unmeasurable} not measurable` : "") + ")";
}

function valLine(r: EvalReport): string {
  const v = r.val;
  const parts: string[] = [];
  if (v.loss !== null) parts.push(`val loss ${v.loss.toFixed(4)} (${v.tokens} tokens, recomputed)`);
  else parts.push(`val loss not recomputed (${v.note})`);
  if (v.logged !== null) {
    parts.push(`training logged ${v.logged.toFixed(4)} at step ${v.loggedStep}`);
  }
  return parts.join("; ");
}

/** The `--show` block of one task: each pair's prompts, candidates and P(correct). */
export function formatExamples(t: TaskResult): string {
  const out = [`${t.task}:`];
  t.examples.forEach((ex: PairExample, k: number) => {
    for (let i = 0; i < 2; i++) {
      const p = ex.probCorrect[i];
      out.push(
        `  ${k + 1}${"ab"[i]}  "${visible(ex.prompts[i])}"`,
        `      → '${visible(ex.answers[i], 20)}' vs '${visible(ex.answers[1 - i], 20)}'  ` +
          (p === null ? "(not measurable)" : `P(correct) = ${p.toFixed(3)}`),
      );
    }
  });
  return out.join("\n");
}

/** The JSON document written by `--json` (snake_case keys, nulls for what was not measured). */
export function reportJson(r: EvalReport): object {
  return {
    model: r.model,
    tokenizer: r.tokenizer,
    eval_seed: r.evalSeed,
    pairs_per_task: r.pairs,
    solved_loss: r.solvedLoss,
    solved: r.solved,
    measured: r.measured,
    tasks_total: r.tasks.length,
    val: {
      loss: r.val.loss,
      tokens: r.val.tokens,
      logged: r.val.logged,
      logged_step: r.val.loggedStep,
      note: r.val.note,
    },
    tasks: r.tasks.map((t) => ({
      task: t.task,
      measurable: t.measurable,
      note: t.note,
      loss: t.loss,
      accuracy: t.accuracy,
      logit_diff: t.logitDiff,
      same_answer: t.sameAnswer,
      solved: t.solved,
      truncated_prompts: t.truncated,
      examples: t.examples.map((e) => ({
        prompts: e.prompts,
        answers: e.answers,
        p_correct: e.probCorrect,
      })),
    })),
  };
}
