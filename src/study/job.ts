/**
 * `study job <kind> …`: one job of a study plan, made idempotent. Each kind checks its own outputs
 * first, so an engine can run a plan again after a failure or a kill:
 *
 *   train      <train flags>   a finished run (model.safetensors, same config) is skipped; one with
 *                              a checkpoint resumes (train --resume); one killed before its first
 *                              checkpoint starts over
 *   eval       --model DIR …   writes DIR/eval.json unless it is there
 *   prune      <prune flags>   `prune --all`, skipped when circuits/summary.json belongs to these
 *                              weights
 *   stability  --tasks T|all <prune flags with --seed and --out-dir>: prunes again, with another
 *                              seed, those of the tasks that have a circuit in circuits/summary.json
 *                              and no file in the --out-dir yet
 */
import { intFlag, parseFlags, threadsFlag } from "../cli_flags.ts";
import { UserError } from "../errors.ts";
import { evalCommand } from "../eval/cli_eval.ts";
import { parseCircuit } from "../run/circuit.ts";
import { parsePruneFlags, pruneCommand } from "../prune/cli_prune.ts";
import { fileExists, readRunConfig, readSummary, RunDir } from "../run/run_dir.ts";
import { parseTrainFlags } from "../train/cli_train.ts";
import type { RunConfig } from "../run/config.ts";
import { train } from "../train/trainer.ts";
import { sha256Hex } from "../util/sha256.ts";
import { EVAL_FILE } from "./plan.ts";

const USAGE = `usage: deno task study job <kind> [flags]

One job of a study plan (what \`study --plan\` prints and the engines run), made idempotent:

  train <train flags>        skips a finished run, resumes one with a checkpoint
  eval --model DIR [--pairs N] [--threads N]
                             writes DIR/${EVAL_FILE} unless it is there
  prune <prune flags>        prune --all, skipped when circuits/summary.json matches the weights
  stability --tasks T,…|all <prune flags with --seed S --out-dir DIR>
                             prunes again, with seed S, those tasks that have a circuit in the
                             run's circuits/summary.json and none in DIR yet`;

/** Runs one study job; returns the exit code. */
export async function jobCommand(argv: string[]): Promise<number> {
  const [kind, ...rest] = argv;
  switch (kind) {
    case "train":
      return await trainJob(rest);
    case "eval":
      return await evalJob(rest);
    case "prune":
      return await pruneJob(rest);
    case "stability":
      return await stabilityJob(rest);
    case undefined:
    case "--help":
    case "-h":
      console.log(USAGE);
      return kind === undefined ? 2 : 0;
    default:
      throw new UserError(
        `study job: unknown kind '${kind}' (kinds: train, eval, prune, stability)`,
      );
  }
}

/** The config fields in which a saved run differs from the one asked for ("train.steps 60 ≠ 120"). */
export function configDiff(want: RunConfig, have: RunConfig): string[] {
  const out: string[] = [];
  for (const section of ["model", "train"] as const) {
    const w = want[section] as unknown as Record<string, unknown>;
    const h = have[section] as unknown as Record<string, unknown>;
    for (const k of Object.keys(w)) {
      if (JSON.stringify(w[k]) !== JSON.stringify(h[k])) {
        out.push(`${section}.${k} ${JSON.stringify(h[k])} ≠ ${JSON.stringify(w[k])}`);
      }
    }
  }
  return out;
}

async function trainJob(argv: string[]): Promise<number> {
  const args = parseTrainFlags(argv);
  if (args === null) {
    console.log(USAGE);
    return 0;
  }
  if (args.resume) throw new UserError("study job train: resumes by itself; drop --resume");
  if (!argv.some((a) => a === "--out" || a.startsWith("--out="))) {
    throw new UserError("study job train: give --out DIR");
  }
  const run = new RunDir(args.out);
  const same = async () => {
    const diff = configDiff(args.rc, await readRunConfig(run));
    if (diff.length) {
      throw new UserError(
        `${args.out} holds a run trained with other settings (${diff.join(", ")}): remove it ` +
          `or use another study root`,
      );
    }
  };
  if (await fileExists(run.model)) {
    await same();
    console.log(`${args.out}: finished run (${run.model}): nothing to do`);
    return 0;
  }
  if (await fileExists(run.checkpoint)) {
    await same();
    console.error(`${args.out}: resuming from its checkpoint`);
    await train({ ...args, resume: true, steps: undefined });
    return 0;
  }
  if (await run.exists()) {
    // Killed before its first checkpoint: config.json and tokenizer.json, no training yet.
    if (await fileExists(run.config)) await same();
    console.error(`${args.out}: no checkpoint yet (killed early): starting over`);
    await Deno.remove(args.out, { recursive: true });
  }
  await train(args);
  return 0;
}

async function evalJob(argv: string[]): Promise<number> {
  const v = parseFlags("study job eval", {
    args: argv,
    strict: true,
    allowPositionals: false,
    options: { model: { type: "string" }, pairs: { type: "string" }, threads: { type: "string" } },
  }).values;
  if (!v.model) throw new UserError("study job eval: --model DIR is required");
  const pairs = intFlag("pairs", v.pairs, 200, 1);
  const threads = threadsFlag(v.threads);
  const json = `${v.model}/${EVAL_FILE}`;
  if (await fileExists(json)) {
    try {
      JSON.parse(await Deno.readTextFile(json));
      console.log(`${json}: evaluated already: nothing to do`);
      return 0;
    } catch {
      console.error(`${json}: unreadable, evaluating again`);
    }
  }
  return await evalCommand([
    "--model",
    v.model,
    "--pairs",
    `${pairs}`,
    "--threads",
    `${threads}`,
    "--json",
    json,
  ]);
}

/** SHA-256 of a run's model.safetensors, the id its circuits carry. */
async function weightsSha(run: RunDir): Promise<string> {
  return await sha256Hex(await run.readBytes(run.model));
}

async function pruneJob(argv: string[]): Promise<number> {
  const req = parsePruneFlags(argv);
  if (req === null) {
    console.log(USAGE);
    return 0;
  }
  if (!req.all || req.outDir !== null) {
    throw new UserError(
      "study job prune: prunes --all into the run's circuits/ (other seeds: study job stability)",
    );
  }
  const run = new RunDir(req.model);
  if (await fileExists(run.summary) && await fileExists(run.model)) {
    try {
      if ((await readSummary(run)).model.weights_sha256 === await weightsSha(run)) {
        console.log(`${run.summary}: pruned already: nothing to do`);
        return 0;
      }
      console.error(`${run.summary}: from other weights, pruning again`);
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      console.error(`${run.summary}: unreadable, pruning again`);
    }
  }
  return await pruneCommand(argv);
}

async function stabilityJob(argv: string[]): Promise<number> {
  const at = argv.indexOf("--tasks");
  if (at < 0 || at + 1 >= argv.length) {
    throw new UserError("study job stability: give --tasks T,… or --tasks all");
  }
  const want = argv[at + 1];
  const rest = [...argv.slice(0, at), ...argv.slice(at + 2)];
  if (rest.some((a) => a === "--all" || a === "--task" || a.startsWith("--task="))) {
    throw new UserError("study job stability: the tasks come from --tasks, not --task/--all");
  }
  const req = parsePruneFlags([...rest, "--all"]);
  if (req === null) {
    console.log(USAGE);
    return 0;
  }
  if (req.outDir === null) throw new UserError("study job stability: give --out-dir DIR");
  const run = new RunDir(req.model);
  if (!(await fileExists(run.summary))) {
    throw new UserError(
      `${run.summary}: no circuits yet (the run's prune job comes before its stability jobs)`,
    );
  }
  const summary = await readSummary(run);
  const sha = await weightsSha(run);
  if (summary.model.weights_sha256 !== sha) {
    throw new UserError(`${run.summary}: from other weights than ${run.model}: prune again first`);
  }
  const listed = want === "all" ? null : new Set(want.split(",").map((t) => t.trim()));
  const found = summary.tasks.filter((t) =>
    t.status === "pruned" && (listed === null || listed.has(t.task))
  ).map((t) => t.task);
  const todo: string[] = [];
  for (const task of found) {
    const path = `${req.outDir}/${task}.json`;
    if (await fileExists(path)) {
      try {
        const c = parseCircuit(JSON.parse(await Deno.readTextFile(path)), path);
        if (c.model.weights_sha256 === sha && c.seed === req.settings.seed) continue;
      } catch (e) {
        if (!(e instanceof UserError) && !(e instanceof SyntaxError)) throw e;
      }
    }
    todo.push(task);
  }
  if (todo.length === 0) {
    console.log(
      `${req.outDir}: ${
        found.length
          ? `every circuit (${found.join(", ")}) pruned already`
          : "no circuit to prune again"
      } (run's circuits: ${
        summary.tasks.filter((t) => t.status === "pruned").length
      }): nothing to do`,
    );
    return 0;
  }
  console.error(`pruning again with seed ${req.settings.seed}: ${todo.join(", ")}`);
  const code = await pruneCommand([...rest, ...todo.flatMap((t) => ["--task", t])]);
  // prune exits 1 when a circuit missed its target; the file is written all the same and the
  // report reads it as what this seed found.
  for (const t of todo) {
    if (!(await fileExists(`${req.outDir}/${t}.json`))) return code || 1;
  }
  return 0;
}
