/**
 * A sparse-gradient step of a trained run against the same model at init: does the step cost what
 * the benches (which time models at init on random tokens) say it costs? Loads a run's last
 * checkpoint (weights and Adam moments), takes one batch of the embedded corpus, and times
 * --steps sparse steps of the trained model, then of the same config at init pruned to the same
 * step's density (with R = 1, method steps). Prints the mean step and the largest kernels of each.
 *
 *   deno run -A bench/trained_step_bench.ts --model runs/ef2-R16-900 [--threads 1] [--steps 4]
 */
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
import { TRAIN_SEED } from "../src/data/corpus/index.ts";
import { corpusSource, splitBatch } from "../src/data/dataset.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { readRunConfig, RunDir } from "../src/run/run_dir.ts";
import { isDenseGradStep } from "../src/train/kept_grads.ts";
import { StepRunner } from "../src/train/step.ts";
import { checkpointStep, readCheckpoint, restoreTrainingState } from "../src/train/trainer.ts";

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      threads: { type: "string", default: "1" },
      steps: { type: "string", default: "4" },
    },
  });
  if (!values.model) throw new Error("--model DIR (a run folder with a checkpoint) is required");
  const threads = Number(values.threads), steps = Number(values.steps);
  const run = new RunDir(values.model);
  const rc = await readRunConfig(run);
  // Room past the run's end for the lr schedule; the density stays the target.
  rc.train.steps += 16 * steps + 16;
  const ckpt = await readCheckpoint(run);
  const at = checkpointStep(ckpt, run.checkpoint);
  const B = rc.train.batchSize, T = rc.model.nCtx, N = B * T;
  const x = new Int32Array(N), y = new Int32Array(N);
  const src = corpusSource(loadDefaultTokenizer(), TRAIN_SEED + 1);
  splitBatch(src.nextBatch(B, T), B, T, x, y);
  const kind = rc.train.denseGradEvery > 1 ? "sparse-gradient steps" : "steps";
  const load = Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
  console.log(
    `## ${values.model} at step ${at} against init (${threads} thread(s), mean of ${steps} ` +
      `${kind}; load average ${load})\n`,
  );
  for (const mode of ["trained", "init"] as const) {
    const be = await Backend.create({ threads });
    try {
      const r = new StepRunner(be, rc);
      if (mode === "trained") {
        restoreTrainingState(ckpt, run.checkpoint, r.model, r.adamM, r.adamV);
      } else {
        r.model.init(rc.train.seed);
      }
      r.model.refresh(!rc.train.dense);
      let s = at;
      r.step(x, y, s++); // init: prunes to the target count; both: warm-up
      const kernels = new Map<string, number>();
      let ms = 0;
      for (let i = 0; i < steps; i++) {
        // Time sparse steps only; with R = 1 every step is dense and is timed as it is.
        while (rc.train.denseGradEvery > 1 && isDenseGradStep(s, rc)) s++;
        be.profile = new Map();
        const t0 = performance.now();
        r.step(x, y, s++);
        ms += performance.now() - t0;
        for (const [k, e] of be.profile) kernels.set(k, (kernels.get(k) ?? 0) + e.ms);
        be.profile = null;
      }
      const top = [...kernels].sort((a, b) => b[1] - a[1]).slice(0, 10);
      console.log(
        `${mode}: ${(ms / steps).toFixed(0)} ms per step; ` +
          top.map(([k, v]) => `${k} ${(v / steps).toFixed(0)}`).join(", "),
      );
    } finally {
      be.close();
    }
  }
}

if (import.meta.main) await main(Deno.args);
