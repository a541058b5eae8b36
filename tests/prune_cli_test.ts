/**
 * `deno task prune` end to end on a random-init run folder: the circuit file validates against its
 * schema, the neuronpedia graph has every required field, the node means are cached with the
 * weights' hash (a damaged cache is recomputed), `--all` lists every task with its status, and
 * bad input is one line with exit code 2 and nothing half-written.
 */
import assert from "node:assert/strict";
import { makeRandomRun } from "./run_fixture.ts";
import { UserError } from "../src/errors.ts";
import { pruneCommand } from "../src/prune/cli_prune.ts";
import { parseCircuit, parseSummary } from "../src/run/circuit.ts";
import { loadRun, readCircuit, readRunConfig, RunDir } from "../src/run/run_dir.ts";
import { evalTask, PairScorer } from "../src/eval/task_eval.ts";
import { getTask } from "../tasks/index.ts";
import { type RunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";

const RC: RunConfig = {
  model: { ...PRESETS.tiny.model, nLayer: 1, baseDModel: 32, baseDMlp: 64, nCtx: 128 },
  train: { ...PRESETS.tiny.train, batchSize: 4, valBatches: 1 },
};

function makeRun(): Promise<string> {
  return makeRandomRun(RC, "thinwire-prune-");
}

/** Small settings: every phase runs, in seconds. */
const QUICK = [
  "--steps",
  "4",
  "--batch-pairs",
  "4",
  "--prune-pairs",
  "8",
  "--pairs",
  "8",
  "--random-draws",
  "2",
  "--delta-pairs",
  "2",
  "--bisect-pairs",
  "4",
  "--means-tokens",
  "1024",
  "--threads",
  "1",
];

/** Runs pruneCommand capturing stdout and stderr lines. */
async function prune(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [], err: string[] = [];
  const log = console.log, error = console.error;
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    const code = await pruneCommand(args);
    return { code, out: out.join("\n"), err: err.join("\n") };
  } finally {
    console.log = log;
    console.error = error;
  }
}

async function rejects(args: string[], re: RegExp): Promise<void> {
  await assert.rejects(prune(args), (e: unknown) => {
    assert.ok(e instanceof UserError, `expected a UserError, got ${(e as Error).stack}`);
    assert.equal(e.exitCode, 2);
    assert.ok(!e.message.includes("\n"), `not one line: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

const run0 = makeRun();
globalThis.addEventListener("unload", async () => {
  Deno.removeSync(await run0, { recursive: true });
});

/** A task a random model has under the target 0.75 (its full loss is near ln 2). */
const TARGET = "0.75";
const TASK = "indent_for";

Deno.test("prune one task: a valid circuit file, a neuronpedia graph, cached means", async () => {
  const dir = await run0;
  const r = await prune([
    "--model",
    dir,
    "--task",
    TASK,
    "--target",
    TARGET,
    "--format",
    "neuronpedia",
    ...QUICK,
  ]);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`^${TASK}: \\d+ nodes, \\d+ edges`, "m"));
  assert.match(r.out, /task loss \(8 held-out pairs\): full [\d.]+ {2}circuit [\d.]+ \(calibrated/);
  assert.match(r.err, /node means: 1024 pretraining tokens/);
  const run = new RunDir(dir);
  const cfg = (await readRunConfig(run)).model;
  const c = await readCircuit(run, TASK, cfg);
  assert.equal(c.task, TASK);
  assert.equal(c.model.config.baseDModel, 32);
  assert.equal(c.pairs.eval_pairs, 8);
  assert.ok(c.curve.length > 0 && c.ranking.length >= c.nodes.length);
  assert.equal(c.losses.random.draws, 2);
  // The pruning pairs' losses: those k was bisected on, and the rest with their calibration.
  const pr = c.losses.pruning!;
  assert.equal(pr.bisect.pairs + (pr.check?.pairs ?? 0), c.pairs.prune_pairs);
  assert.equal(c.hyperparameters.check_pairs, pr.check?.pairs ?? 0);
  assert.match(r.out, /circuit calibrated [\d.]+ on the \d+ pairs k was bisected on/);
  assert.equal(c.examples.length, 4);
  // The full model's loss is exactly what eval reports on the same pairs (means were computed
  // first in the same process: no buffer may be shared with them).
  const lr = await loadRun(dir);
  try {
    const scorer = new PairScorer(lr.model, lr.tokenizer, 16, 2048);
    assert.equal(c.losses.full, evalTask(scorer, lr.tokenizer, getTask(TASK), 8).loss);
  } finally {
    lr.close();
  }
  const counted = Object.values(c.counts).reduce((a, b) => a + b, 0);
  assert.equal(counted, c.nodes.length);
  // Every node's mean is the cached mean of that node.
  const g = JSON.parse(await Deno.readTextFile(`${dir}/circuits/${TASK}.neuronpedia.json`));
  for (const k of ["metadata", "qParams", "nodes", "links"]) assert.ok(k in g, `graph lacks ${k}`);
  for (const k of ["slug", "scan", "prompt_tokens", "prompt"]) {
    assert.ok(k in g.metadata, `metadata lacks ${k}`);
  }
  assert.equal(g.nodes.length, c.nodes.length + 3, "circuit nodes + two logits + the embedding");
  for (const n of g.nodes) {
    for (
      const k of ["node_id", "feature", "layer", "ctx_idx", "feature_type", "jsNodeId", "clerp"]
    ) {
      assert.ok(k in n, `node ${JSON.stringify(n)} lacks ${k}`);
    }
    assert.equal(typeof n.layer === "string" || typeof n.layer === "number", true);
    assert.ok(Number.isInteger(n.ctx_idx) && n.ctx_idx >= 0);
  }
  const ids = new Set(g.nodes.map((n: { node_id: string }) => n.node_id));
  assert.equal(g.links.length, c.edges.length);
  for (const l of g.links) {
    for (const k of ["source", "target", "weight"]) assert.ok(k in l, `link lacks ${k}`);
    assert.ok(ids.has(l.source) && ids.has(l.target), "a link joins a node the graph lacks");
  }
  assert.equal(g.nodes.filter((n: { is_target_logit?: boolean }) => n.is_target_logit).length, 1);

  // The second run reuses the means; a damaged cache is recomputed, not trusted.
  const again = await prune(["--model", dir, "--task", TASK, "--target", TARGET, ...QUICK]);
  assert.match(again.err, /node means: cached/);
  const bytes = await Deno.readFile(`${dir}/means.safetensors`);
  await Deno.writeFile(`${dir}/means.safetensors`, bytes.slice(0, bytes.length - 100));
  const fixed = await prune(["--model", dir, "--task", TASK, "--target", TARGET, ...QUICK]);
  assert.match(fixed.err, /node means: 1024 pretraining tokens/);
  assert.equal((await Deno.readFile(`${dir}/means.safetensors`)).length, bytes.length);
});

Deno.test("prune --all: every task listed, unsolved ones with their loss, summary valid", async () => {
  const dir = await run0;
  const r = await prune(["--model", dir, "--all", ...QUICK]);
  assert.equal(r.code, 0, r.err);
  const s = parseSummary(JSON.parse(await Deno.readTextFile(`${dir}/circuits/summary.json`)), "s");
  assert.equal(s.tasks.length, 20);
  for (const t of s.tasks) {
    assert.equal(t.status, "not solved by the model", `${t.task}: ${t.status}`);
    assert.ok(t.full_loss !== null && t.full_loss >= 0.15);
    assert.match(
      r.out,
      new RegExp(`^${t.task} +not solved by the model +${t.full_loss!.toFixed(4)}`, "m"),
    );
  }
  assert.equal(s.geomean_edges, null);
  assert.match(
    r.out,
    /0 task\(s\) pruned to task loss ≤ 0.15; geometric mean of edges: - \(no task pruned\)/,
  );
});

Deno.test("prune: bad input is one line, exit code 2, nothing written", async () => {
  const dir = await run0;
  await rejects(["--model", dir, "--task", "nope"], /unknown task 'nope'/);
  await rejects(["--model", dir], /give --task NAME or --all/);
  await rejects(["--model", dir, "--task", TASK, "--all"], /not both/);
  for (const t of ["0", "-1", "1.5", "abc", ""]) {
    await rejects(
      ["--model", dir, "--task", TASK, `--trials=${t}`],
      /--trials must be an integer ≥ 1/,
    );
  }
  await rejects(
    ["--model", dir, "--task", TASK, "--method", "magic"],
    /--method must be learned or attribution/,
  );
  await rejects(
    ["--model", dir, "--task", TASK, "--ablation", "half"],
    /--ablation must be mean or zero/,
  );
  await rejects(
    ["--model", dir, "--task", TASK, "--target=-1"],
    /--target must be a positive number/,
  );
  await rejects(["--model", dir, "--task", TASK, "--bogus"], /prune: Unknown option '--bogus'/);
  // A target the full model does not reach: its loss is printed.
  const before = [...Deno.readDirSync(`${dir}`)].map((e) => e.name).sort();
  await rejects(
    ["--model", dir, "--task", "final_kwarg", ...QUICK],
    /final_kwarg: the full model's task loss is \d\.\d{4}, not under the target 0\.15/,
  );
  assert.equal(
    JSON.stringify(
      [...Deno.readDirSync(`${dir}`)].map((e) => e.name).sort().filter((n) =>
        n !== "means.safetensors" && n !== "circuits"
      ),
    ),
    JSON.stringify(before.filter((n) => n !== "means.safetensors" && n !== "circuits")),
  );
  // A run folder without weights.
  const empty = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${dir}/config.json`, `${empty}/config.json`);
    await Deno.copyFile(`${dir}/tokenizer.json`, `${empty}/tokenizer.json`);
    await rejects(
      ["--model", empty, "--task", TASK],
      /not a finished run folder \(missing model\.safetensors\)/,
    );
    await assert.rejects(Deno.stat(`${empty}/circuits`));
    await assert.rejects(Deno.stat(`${empty}/means.safetensors`));
  } finally {
    Deno.removeSync(empty, { recursive: true });
  }
  // A malformed circuit file handed to a reader.
  const run = new RunDir(dir);
  const cfg = (await readRunConfig(run)).model;
  await Deno.mkdir(run.circuitsDir, { recursive: true });
  await Deno.writeTextFile(
    run.circuit("with_as"),
    '{"format": "thinwire.circuit", "version": 1, "task": 3}',
  );
  await assert.rejects(readCircuit(run, "with_as", cfg), (e: unknown) => {
    assert.ok(e instanceof UserError);
    assert.match(e.message, /with_as\.json: not a valid circuit file: /);
    return true;
  });
  await Deno.writeTextFile(run.circuit("with_as"), '{"format": "thinwire.circ');
  await assert.rejects(readCircuit(run, "with_as", cfg), /not valid JSON/);
  await assert.rejects(
    readCircuit(run, "var_if", cfg),
    /no circuit for var_if yet \(make it with: deno task prune --model .* --task var_if\)/,
  );
  assert.throws(() => parseCircuit(null, "x"), UserError);
});

Deno.test("prune: the CLI prints one line and exits 2 for a bad flag", async () => {
  const cli = new URL("../cli.ts", import.meta.url).pathname;
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "prune", "--model", await run0, "--task", TASK, "--trials", "0"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(p.stderr).trim();
  assert.equal(p.code, 2);
  assert.equal(err, "thinwire: --trials must be an integer ≥ 1, got '0'");
});

Deno.test("pruning tasks one after another: each as if alone, the arena back where it was", async () => {
  const dir = await run0;
  const { pruneTask } = await import("../src/prune/task_prune.ts");
  const { DEFAULT_HP, PRUNE_DEFAULTS } = await import("../src/prune/settings.ts");
  const settings = {
    ...PRUNE_DEFAULTS,
    target: Number(TARGET),
    method: "learned" as const,
    ablation: "zero" as const,
    freezeNorm: false,
    seed: 1,
    hp: { ...DEFAULT_HP, steps: 4, batchPairs: 4 },
    randomDraws: 2,
    deltaPairs: 2,
    bisectPairs: 4,
  };
  const opts = { settings, prunePairs: 8, evalPairs: 8, trials: 1 };
  const strip = (o: unknown) =>
    JSON.stringify(o, (k, x) => (k === "time_s" || k === "timing" ? 0 : x));
  const alone = async (name: string) => {
    const r = await loadRun(dir, { threads: 1 });
    try {
      return strip(pruneTask(r, getTask(name), null, opts));
    } finally {
      r.model.be.close();
    }
  };
  const r = await loadRun(dir, { threads: 1 });
  try {
    const arena = r.model.be.arena;
    const used0 = arena.used;
    const got: string[] = [];
    for (const name of [TASK, "single_double_quote", TASK]) {
      got.push(strip(pruneTask(r, getTask(name), null, opts)));
      assert.equal(arena.used, used0, `arena after ${name}`);
    }
    assert.equal(got[2], got[0]);
    assert.equal(got[1], await alone("single_double_quote"));
    assert.match(got[0], /"circuit"/);
  } finally {
    r.model.be.close();
  }
});
