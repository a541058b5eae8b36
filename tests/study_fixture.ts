/**
 * A study root written by hand for the report's tests: per run a random-init tiny model (so the
 * circuits name real weights), metrics.jsonl with the given validation loss, eval.json, and circuit
 * files with given edge counts and node sets in circuits/ and stability/seed-<s>/, all valid
 * against their schemas. The numbers are the test's, so the report's can be checked against them.
 */
import { Backend } from "../src/backend/backend.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { Model } from "../src/model/model.ts";
import { NODE_LOCATIONS } from "../src/model/nodes.ts";
import { CIRCUIT_FORMAT, CIRCUIT_VERSION, SUMMARY_FORMAT } from "../src/run/circuit.ts";
import { FORMAT_VERSION } from "../src/run/config.ts";
import { RunDir } from "../src/run/run_dir.ts";
import type { Study } from "../src/study/config.ts";
import { EVAL_FILE, stabilityDir } from "../src/study/plan.ts";
import { saveModel } from "../src/train/trainer.ts";
import { sha256Hex } from "../src/util/sha256.ts";

export interface FixtureCircuit {
  edges: number;
  /** Node ids (default: `edges`-independent ids 0.mlp.post_act.0 … of count 3). */
  nodes?: string[];
}

export interface FixtureRun {
  /** Stop after this stage ("train": trained only; "eval": no circuits). */
  upTo?: "train" | "eval" | "prune";
  loss: number;
  /** Seed-0 circuits by task (status "pruned"). */
  circuits?: Record<string, FixtureCircuit>;
  /** Tasks the run was pruned on but missed the target. */
  missed?: string[];
  /** Circuits of further pruning seeds: seed → task → circuit. */
  seeds?: Record<number, Record<string, FixtureCircuit>>;
}

export const ids = (...xs: number[]) => xs.map((i) => `0.mlp.post_act.${i}`);

function circuit(
  run: string,
  sha: string,
  model: unknown,
  task: string,
  seed: number,
  c: FixtureCircuit,
) {
  const nodeIds = c.nodes ?? ids(0, 1, 2);
  const nodes = nodeIds.map((id) => {
    const [layer, a, b, index] = id.split(".");
    return {
      id,
      layer: Number(layer),
      location: `${a}.${b}`,
      index: Number(index),
      mean: 0,
      delta: 0,
    };
  });
  const counts: Record<string, number> = Object.fromEntries(NODE_LOCATIONS.map((l) => [l, 0]));
  for (const n of nodes) counts[n.location]++;
  return {
    format: CIRCUIT_FORMAT,
    version: CIRCUIT_VERSION,
    thinwire: "test",
    model: { run, weights_sha256: sha, config: model },
    task,
    target: 0.15,
    method: "learned",
    ablation: "mean",
    freeze_norm: false,
    seed,
    hyperparameters: {},
    pairs: { prune_seed: 1, eval_seed: 2, prune_pairs: 8, eval_pairs: 8 },
    nodes,
    // The schema asks only that edges join kept nodes; repeats stand in for distinct weights.
    edges: Array.from({ length: c.edges }, () => ({
      source: nodeIds[0],
      target: nodeIds[nodeIds.length - 1],
      weight: 0.5,
    })),
    counts,
    losses: {
      full: 0.05,
      circuit: 0.2,
      circuit_calibrated: 0.14,
      ablated: 0.7,
      random: { mean: 0.69, sd: 0.01, draws: 2 },
    },
    calibration: { scale: 1, shift: 0 },
    curve: [],
    ranking: [],
    examples: [],
    time_s: 1,
    timing: {},
  };
}

/** Writes the runs of `study` under `root` as `runs` describes (missing names: not started). */
export async function writeStudyFixture(
  root: string,
  study: Study,
  runs: Record<string, FixtureRun>,
): Promise<void> {
  const be = await Backend.create({ threads: 1 });
  try {
    const tok = loadDefaultTokenizer();
    for (const plan of study.runs) {
      const spec = runs[plan.name];
      if (!spec) continue;
      const run = new RunDir(`${root}/runs/${plan.name}`);
      await run.create();
      await Deno.writeTextFile(
        run.config,
        JSON.stringify({ format_version: FORMAT_VERSION, tokenizer: tok.name, ...plan.rc }),
      );
      await Deno.writeTextFile(run.tokenizer, JSON.stringify(tok.toJSON()));
      const model = new Model(be, plan.rc.model);
      model.init(plan.seed);
      const sha = await sha256Hex(await saveModel(run, model, plan.rc));
      await Deno.writeTextFile(
        run.metrics,
        JSON.stringify({
          step: plan.steps,
          "train/xent": spec.loss + 0.1,
          "val/xent": spec.loss,
          L0_non_embed: 1000,
        }) + "\n",
      );
      if (spec.upTo === "train") continue;
      await Deno.writeTextFile(
        `${run.dir}/${EVAL_FILE}`,
        JSON.stringify({ solved: Object.keys(spec.circuits ?? {}).length, measured: 20 }),
      );
      if (spec.upTo === "eval") continue;
      await Deno.mkdir(run.circuitsDir, { recursive: true });
      const tasks: Record<string, unknown>[] = [];
      for (const [task, c] of Object.entries(spec.circuits ?? {})) {
        await Deno.writeTextFile(
          run.circuit(task),
          JSON.stringify(circuit(plan.name, sha, plan.rc.model, task, 0, c)),
        );
        tasks.push({
          task,
          status: "pruned",
          full_loss: 0.05,
          nodes: 3,
          edges: c.edges,
          circuit_loss: 0.14,
          ablated_loss: 0.7,
          random_loss: 0.69,
          time_s: 1,
          note: null,
        });
      }
      for (const task of spec.missed ?? []) {
        await Deno.writeTextFile(
          run.circuit(task),
          JSON.stringify(circuit(plan.name, sha, plan.rc.model, task, 0, { edges: 999 })),
        );
        tasks.push({
          task,
          status: "target not reached",
          full_loss: 0.05,
          nodes: 3,
          edges: 999,
          circuit_loss: 0.3,
          ablated_loss: 0.7,
          random_loss: 0.69,
          time_s: 1,
          note: null,
        });
      }
      await Deno.writeTextFile(
        run.summary,
        JSON.stringify({
          format: SUMMARY_FORMAT,
          version: CIRCUIT_VERSION,
          thinwire: "test",
          model: { run: plan.name, weights_sha256: sha, config: plan.rc.model },
          target: 0.15,
          method: "learned",
          ablation: "mean",
          freeze_norm: false,
          tasks,
          geomean_edges: null,
          time_s: 1,
        }),
      );
      for (const [seed, byTask] of Object.entries(spec.seeds ?? {})) {
        const dir = stabilityDir(run.dir, Number(seed));
        await Deno.mkdir(dir, { recursive: true });
        for (const [task, c] of Object.entries(byTask)) {
          await Deno.writeTextFile(
            `${dir}/${task}.json`,
            JSON.stringify(circuit(plan.name, sha, plan.rc.model, task, Number(seed), c)),
          );
        }
      }
    }
  } finally {
    be.close();
  }
}
