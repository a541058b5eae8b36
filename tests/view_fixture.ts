/**
 * A run folder for the viewer's tests: the tiny preset trained for real (tests/run_fixture.ts
 * trainTiny: long enough for one task, else_elif, to be below chance), then `prune` run on it (in
 * process, the CLI's own command) with small settings: node means and the circuit of that task.
 * A copy of the run holds the same task pruned with --freeze-norm (one circuit file per task and
 * run). A tiny run solves no task at the default target 0.15, so the target is 0.5, below
 * chance (ln 2), which prune requires.
 */
import { pruneCommand } from "../src/prune/cli_prune.ts";
import { type Circuit } from "../src/run/circuit.ts";
import { readCircuit, readRunConfig, RunDir } from "../src/run/run_dir.ts";
import { TINY_SOLVES, trainTiny } from "./run_fixture.ts";

/** The circuit the page opens first. */
export const FIXTURE_TASK = TINY_SOLVES;
export const FIXTURE_TARGET = "0.5";

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

/** The run's files without its training state (what the viewer reads). */
async function copyRunFiles(from: string, to: string): Promise<void> {
  for await (const e of Deno.readDir(from)) {
    if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

export interface ViewRun {
  dir: string;
  circuit: Circuit;
  /** The copy of the run with the --freeze-norm circuit of the same task. */
  frozenDir: string;
  frozen: Circuit;
}

/** A complete viewer fixture in fresh temp dirs: trained tiny run, means, the two circuits. */
export async function makeViewRun(): Promise<ViewRun> {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-view-" });
  const frozenDir = await Deno.makeTempDir({ prefix: "thinwire-view-frozen-" });
  try {
    await trainTiny(dir);
    const task = ["--task", FIXTURE_TASK, "--target", FIXTURE_TARGET, ...FIXTURE_PRUNE];
    await prune(["--model", dir, ...task]);
    await copyRunFiles(dir, frozenDir);
    await prune(["--model", frozenDir, ...task, "--freeze-norm"]);
  } catch (e) {
    await removeViewRun({ dir, frozenDir });
    throw e;
  }
  const cfg = (await readRunConfig(new RunDir(dir))).model;
  return {
    dir,
    circuit: await readCircuit(new RunDir(dir), FIXTURE_TASK, cfg),
    frozenDir,
    frozen: await readCircuit(new RunDir(frozenDir), FIXTURE_TASK, cfg),
  };
}

export async function removeViewRun(r: { dir: string; frozenDir: string }): Promise<void> {
  for (const d of [r.dir, r.frozenDir]) await Deno.remove(d, { recursive: true }).catch(() => {});
}

if (import.meta.main) {
  const r = await makeViewRun();
  for (const [d, c] of [[r.dir, r.circuit], [r.frozenDir, r.frozen]] as const) {
    console.log(
      `${d}: ${c.task}: ${c.nodes.length} nodes, ${c.edges.length} edges, loss ` +
        `${c.losses.circuit_calibrated} (freeze_norm ${c.freeze_norm})`,
    );
  }
}
