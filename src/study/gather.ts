/**
 * Reads whatever a study root holds (src/study/plan.ts has the layout): per planned run, how far
 * it got, its validation loss and nonzeros (metrics.jsonl), its eval table (eval.json), its
 * circuits (circuits/summary.json and the circuit files) and the circuits of the other pruning
 * seeds (stability/seed-<s>/). A circuit counts only when it names the run's current weights.
 */
import { UserError } from "../errors.ts";
import { type CircuitSummary, parseCircuit } from "../run/circuit.ts";
import { fileExists, readMetrics, readSummary, RunDir } from "../run/run_dir.ts";
import { sha256Hex } from "../util/sha256.ts";
import type { RunPlan, Study } from "./config.ts";
import { EVAL_FILE } from "./plan.ts";

/** One circuit file, reduced to what the report shows. */
export interface CircuitRow {
  run: string;
  task: string;
  /** The pruning seed (0: the study's prune job; others: stability jobs). */
  seed: number;
  /** From circuits/summary.json for seed 0 ("pruned" | "target not reached"); "" otherwise. */
  status: string;
  nodes: number;
  edges: number;
  nodeIds: Set<string>;
  losses: { full: number; circuit: number; ablated: number; random: number };
  path: string;
}

export type RunState = "not started" | "training" | "trained" | "evaluated" | "pruned";

export interface RunResult {
  plan: RunPlan;
  dir: string;
  state: RunState;
  /** Last logged step (training runs). */
  step: number | null;
  /** Validation loss of the finished run (the last val/xent of metrics.jsonl). */
  valLoss: number | null;
  /** Nonzero weights outside the embeddings at the end (L0_non_embed). */
  nonzeros: number | null;
  /** Tasks solved in eval (loss < 0.15 on the held-out pairs), of those measured. */
  solved: number | null;
  measured: number | null;
  summary: CircuitSummary | null;
  /** Seed-0 circuits that reached the target ("pruned"), by task. */
  circuits: CircuitRow[];
  /** Every circuit file of the run that names its weights: seed 0's and the stability seeds'. */
  allCircuits: CircuitRow[];
  notes: string[];
}

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await Deno.readTextFile(path));
}

async function circuitRow(path: string, run: string, sha: string): Promise<CircuitRow | string> {
  let c;
  try {
    c = parseCircuit(await readJson(path), path);
  } catch (e) {
    if (e instanceof UserError) return `skipped ${e.message}`;
    if (e instanceof SyntaxError) return `skipped ${path}: not valid JSON`;
    throw e;
  }
  if (c.model.weights_sha256 !== sha) return `${path}: from other weights, skipped`;
  return {
    run,
    task: c.task,
    seed: c.seed,
    status: "",
    nodes: c.nodes.length,
    edges: c.edges.length,
    nodeIds: new Set(c.nodes.map((n) => n.id)),
    losses: {
      full: c.losses.full,
      circuit: c.losses.circuit_calibrated,
      ablated: c.losses.ablated,
      random: c.losses.random.mean,
    },
    path,
  };
}

async function gatherRun(plan: RunPlan, root: string): Promise<RunResult> {
  const dir = `${root}/runs/${plan.name}`;
  const run = new RunDir(dir);
  const res: RunResult = {
    plan,
    dir,
    state: "not started",
    step: null,
    valLoss: null,
    nonzeros: null,
    solved: null,
    measured: null,
    summary: null,
    circuits: [],
    allCircuits: [],
    notes: [],
  };
  const metrics = await readMetrics(run);
  res.step = metrics.at(-1)?.step ?? null;
  if (!(await fileExists(run.model))) {
    if (await run.exists()) res.state = "training";
    return res;
  }
  res.state = "trained";
  const vals = metrics.filter((r) => Number.isFinite(r["val/xent"]));
  res.valLoss = vals.at(-1)?.["val/xent"] ?? null;
  res.nonzeros = metrics.at(-1)?.L0_non_embed ?? null;
  if (res.valLoss === null) res.notes.push(`${run.metrics}: no val/xent row`);
  const sha = await sha256Hex(await Deno.readFile(run.model));

  const evalPath = `${dir}/${EVAL_FILE}`;
  if (await fileExists(evalPath)) {
    try {
      const j = await readJson(evalPath) as { solved?: unknown; measured?: unknown };
      if (typeof j.solved === "number" && typeof j.measured === "number") {
        res.solved = j.solved;
        res.measured = j.measured;
        res.state = "evaluated";
      } else res.notes.push(`${evalPath}: no solved/measured counts`);
    } catch (e) {
      res.notes.push(`${evalPath}: unreadable (${(e as Error).message.split("\n")[0]})`);
    }
  }

  if (await fileExists(run.summary)) {
    try {
      const s = await readSummary(run);
      if (s.model.weights_sha256 !== sha) res.notes.push(`${run.summary}: from other weights`);
      else {
        res.summary = s;
        res.state = "pruned";
      }
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      res.notes.push(e.message);
    }
  }
  for (const t of res.summary?.tasks ?? []) {
    if (t.status !== "pruned" && t.status !== "target not reached") continue;
    const row = await circuitRow(run.circuit(t.task), plan.name, sha);
    if (typeof row === "string") {
      res.notes.push(row);
      continue;
    }
    row.status = t.status;
    res.allCircuits.push(row);
    if (t.status === "pruned") res.circuits.push(row);
  }
  const stabRoot = `${dir}/stability`;
  const seedDirs: { seed: number; path: string }[] = [];
  try {
    for await (const e of Deno.readDir(stabRoot)) {
      const m = /^seed-(\d+)$/.exec(e.name);
      if (e.isDirectory && m) seedDirs.push({ seed: Number(m[1]), path: `${stabRoot}/${e.name}` });
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  seedDirs.sort((a, b) => a.seed - b.seed);
  for (const { path } of seedDirs) {
    const files: string[] = [];
    for await (const e of Deno.readDir(path)) {
      if (e.isFile && e.name.endsWith(".json") && e.name !== "summary.json") files.push(e.name);
    }
    for (const f of files.sort()) {
      const row = await circuitRow(`${path}/${f}`, plan.name, sha);
      if (typeof row === "string") res.notes.push(row);
      else res.allCircuits.push(row);
    }
  }
  return res;
}

/** Every planned run of the study as found under `root` (a path from the current directory). */
export async function gatherStudy(study: Study, root: string): Promise<RunResult[]> {
  const out: RunResult[] = [];
  for (const r of study.runs) out.push(await gatherRun(r, root));
  return out;
}
