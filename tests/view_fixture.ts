/**
 * A run folder for the viewer's tests: the tiny preset trained for real (`train --preset tiny`),
 * then `prune` run on it (in process, the CLI's own command) with small settings: node means and
 * two circuits, one of them pruned with --freeze-norm. A tiny run solves no task at the default
 * target 0.15, so the target is 0.75 (the full loss of a barely trained model sits near ln 2), as
 * in tests/prune_cli_test.ts.
 */
import { pruneCommand } from "../src/prune/cli_prune.ts";
import { type Circuit } from "../src/run/circuit.ts";
import { readCircuit, readRunConfig, RunDir } from "../src/run/run_dir.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The circuit the page opens first. */
export const FIXTURE_TASK = "indent_for";
/** A second task, pruned with --freeze-norm (the tiny run's full loss on it is about 0.83). */
export const FROZEN_TASK = "single_double_quote";
export const FIXTURE_TARGET = "0.75";

/**
 * The prune flags: 16 evaluation pairs, more than the page's quick estimate takes (8), so the
 * page shows an estimate before the exact number.
 */
export const FIXTURE_PRUNE = [
  "--steps",
  "8",
  "--batch-pairs",
  "4",
  "--prune-pairs",
  "16",
  "--bisect-pairs",
  "8",
  "--pairs",
  "16",
  "--random-draws",
  "2",
  "--delta-pairs",
  "4",
  "--means-tokens",
  "1024",
  "--threads",
  "1",
];

/** Trains the tiny preset into `dir` (about ten seconds on two cores). */
export async function trainTiny(dir: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli.ts`, "train", "--preset", "tiny", "--out", dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`train failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Runs `deno task prune` in process, its output kept for the error message. */
export async function prune(args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  let code: number;
  try {
    code = await pruneCommand(args);
  } finally {
    console.log = log;
    console.error = error;
  }
  if (code !== 0) throw new Error(`prune ${args.join(" ")}: exit ${code}\n${lines.join("\n")}`);
  return lines.join("\n");
}

/** A complete viewer fixture in a fresh temp dir: trained tiny run, means, two circuits. */
export async function makeViewRun(): Promise<
  { dir: string; circuit: Circuit; frozen: Circuit }
> {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-view-" });
  await trainTiny(dir);
  try {
    await prune([
      "--model",
      dir,
      "--task",
      FIXTURE_TASK,
      "--target",
      FIXTURE_TARGET,
      ...FIXTURE_PRUNE,
    ]);
    await prune([
      "--model",
      dir,
      "--task",
      FROZEN_TASK,
      "--target",
      "0.95",
      "--freeze-norm",
      ...FIXTURE_PRUNE,
    ]);
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    throw e;
  }
  const run = new RunDir(dir);
  const cfg = (await readRunConfig(run)).model;
  return {
    dir,
    circuit: await readCircuit(run, FIXTURE_TASK, cfg),
    frozen: await readCircuit(run, FROZEN_TASK, cfg),
  };
}

if (import.meta.main) {
  const r = await makeViewRun();
  for (const c of [r.circuit, r.frozen]) {
    console.log(
      `${r.dir}: ${c.task}: ${c.nodes.length} nodes, ${c.edges.length} edges, loss ` +
        `${c.losses.circuit_calibrated} (freeze_norm ${c.freeze_norm})`,
    );
  }
}
