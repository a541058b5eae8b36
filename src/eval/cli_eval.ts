/**
 * `thinwire eval`: loads a trained run and reports its task suite results and validation loss.
 * Flags are parsed here; cli.ts dispatches to `evalCommand` and prints any UserError.
 */
import {
  commandFlags,
  COMPUTE_FLAGS,
  computeFlags,
  computeUsage,
  intFlag,
  openModelFlag,
  required,
  taskListFlag,
} from "../cli_flags.ts";
import { backendLabel } from "../backend/create.ts";
import { checkWritable, writeAtomic } from "../util/write_atomic.ts";
import { formatDuration, Progress } from "../util/progress.ts";
import { TASKS } from "../../tasks/index.ts";
import { formatExamples, formatTable, reportJson } from "./report.ts";
import { evaluateRun } from "./run_eval.ts";
import { MAX_PAIRS } from "./task_eval.ts";

const USAGE = `usage: deno task eval --model DIR [options]

Evaluates a trained run on the twenty-task suite (docs/method.md §3) and its validation stream.

  --model DIR    run folder (config.json, tokenizer.json, model.safetensors)   required
  --task NAME    only these tasks (repeat the flag or give a comma list)
  --pairs N      pairs per task (default 200)
  --show N       print N example pairs per task with the model's P(correct)
  --json FILE    also write the results as JSON; with '-', write the JSON to stdout
                 and the table (and --show examples) to stderr
${computeUsage(14)}
  --help         this text`;

/** Runs `eval` with its own arguments; returns the exit code (problems are thrown as UserError). */
export async function evalCommand(argv: string[]): Promise<number> {
  const v = commandFlags("eval", USAGE, {
    model: { type: "string" },
    json: { type: "string" },
    task: { type: "string", multiple: true },
    show: { type: "string" },
    pairs: { type: "string" },
    ...COMPUTE_FLAGS,
  }, argv);
  if (!v) return 0;
  required("eval", v.model, "--model DIR");
  const pairs = intFlag("pairs", v.pairs, 200, 1, MAX_PAIRS);
  const show = intFlag("show", v.show, 0, 0);
  const compute = computeFlags(v);
  const tasks = taskListFlag("eval", v.task, TASKS);
  if (v.json && v.json !== "-") await checkWritable(v.json, "--json");

  const t0 = performance.now();
  const run = await openModelFlag("eval", v.model, compute);
  try {
    const progress = new Progress("eval", tasks.length, "task");
    const report = await evaluateRun(run, {
      tasks,
      pairs,
      show,
      onTask: (done, r) => progress.update(done, { task: r.task }),
    });
    // With --json -, stdout carries only the JSON document, so that it can be piped as is.
    const toStdout = v.json === "-";
    const human = toStdout ? console.error : console.log;
    if (show > 0) {
      for (const t of report.tasks) human(formatExamples(t) + "\n");
    }
    human(formatTable(report));
    if (toStdout) {
      console.log(JSON.stringify(reportJson(report), null, 2));
    } else if (v.json) {
      await writeAtomic(v.json, JSON.stringify(reportJson(report), null, 2) + "\n");
    }
    console.error(
      `evaluated ${tasks.length} task(s) × ${pairs} pairs in ` +
        `${formatDuration((performance.now() - t0) / 1000)}, ${backendLabel(run.be)}` +
        (v.json ? ` → ${toStdout ? "stdout" : v.json}` : ""),
    );
  } finally {
    run.close();
  }
  return 0;
}
