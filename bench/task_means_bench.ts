/**
 * Does mean ablation's choice of means make a circuit large? Prunes one task of a trained run at
 * the default settings twice: with the node means over pretraining tokens (the paper's, what
 * `prune` uses) and with the means over the task's own prompts (its mask-training pairs, each
 * prompt after an end-of-text token, packed into rows of n_ctx: the "mean_task" ablation of a
 * third-party reimplementation). If ablated nodes sat far off the task's distribution at their
 * pretraining means, the second circuit would be much smaller. docs/prune.md, "What
 * single_double_quote's size is not".
 *
 *   deno run -A --config bench/bench.json bench/task_means_bench.ts --model runs/small-s1 \
 *     [--task single_double_quote] [--threads N]
 */
import { parseArgs } from "node:util";
import { exitOnUserError } from "../src/cli_flags.ts";
import { UserError } from "../src/errors.ts";
import { nodeMeans, nodeMeansOf } from "../src/prune/means.ts";
import { circuitSearchSettings, PRUNE_DEFAULTS } from "../src/prune/settings.ts";
import { taskData } from "../src/prune/task_data.ts";
import { pruneTask } from "../src/prune/task_prune.ts";
import { loadRun } from "../src/run/run_dir.ts";
import { getTask } from "../tasks/index.ts";

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      task: { type: "string", default: "single_double_quote" },
      threads: { type: "string", default: "2" },
    },
    strict: true,
  });
  if (!values.model) throw new UserError("--model RUN is required");
  const r = await loadRun(values.model, { threads: Number(values.threads) });
  try {
    const task = getTask(values.task!);
    const st = circuitSearchSettings();
    const d = taskData(r, task, PRUNE_DEFAULTS.prunePairs, PRUNE_DEFAULTS.evalPairs);
    if ("note" in d) throw new Error(d.note);
    const stream: number[] = [];
    for (const it of d.pool.slice(0, 2 * st.maskPairs)) stream.push(r.tokenizer.eot, ...it.tokens);
    const T = r.rc.model.nCtx, B = 8, batches = Math.floor(stream.length / (B * T));
    const taskMeans = nodeMeansOf(
      r.model,
      B,
      T,
      batches,
      (i) => Int32Array.from(stream.slice(i * B * T, (i + 1) * B * T)),
    );
    const sets = [
      { name: "pretraining tokens (prune's)", means: (await nodeMeans(r)).means.mean },
      { name: `the task's prompts (${batches * B * T} tokens)`, means: taskMeans },
    ];
    console.log(`\n## ${task.name} on ${values.model}: node means over\n`);
    console.log(
      "| means over | nodes / edges | k: τ → re-ranked | cal. bisect / check / held-out | nodes per location |",
    );
    console.log("|---|---|---|---|---|");
    for (const { name, means } of sets) {
      const out = pruneTask(r, task, means, {
        settings: st,
        prunePairs: PRUNE_DEFAULTS.prunePairs,
        evalPairs: PRUNE_DEFAULTS.evalPairs,
        trials: 1,
      });
      if (out.status !== "pruned" && out.status !== "target not reached") {
        throw new Error(`${task.name}: ${out.status}`);
      }
      const c = out.circuit, l = c.losses;
      const at = new Map<string, number>();
      for (const n of c.nodes) {
        const key = `${n.layer}.${n.location}`;
        at.set(key, (at.get(key) ?? 0) + 1);
      }
      console.log(
        `| ${name} | ${c.nodes.length} / ${c.edges.length} | ${out.ks?.join(" → ")} | ${
          l.pruning!.bisect.circuit_calibrated.toFixed(3)
        } / ${l.pruning!.check?.circuit_calibrated.toFixed(3) ?? "–"} / ${
          l.circuit_calibrated.toFixed(3)
        } | ${[...at].map(([k, v]) => `${k} ${v}`).join(", ")} |`,
      );
    }
  } finally {
    r.close();
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    exitOnUserError(e); // a --model that is not a run: one line, as the CLI says it
  }
}
