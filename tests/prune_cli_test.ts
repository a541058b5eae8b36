/**
 * `deno task prune` end to end: on a tiny run trained until one task is better than chance
 * (tests/run_fixture.ts trainTiny) the circuit file validates against its schema, the neuronpedia
 * graph has every required field and the node means are cached with the weights' hash (a damaged
 * cache is recomputed); on a random-init run folder `--all` lists every task with its status, a
 * model at chance is refused with what to do, and bad input is one line with exit code 2 and
 * nothing half-written.
 */
import assert from "node:assert/strict";
import { makeRandomRun, TINY_SOLVES, trainTiny } from "./run_fixture.ts";
import { UserError } from "../src/errors.ts";
import { pruneCommand } from "../src/prune/cli_prune.ts";
import { parseCircuit, parseSummary } from "../src/run/circuit.ts";
import { loadRun, readCircuit, readRunConfig, RunDir } from "../src/run/run_dir.ts";
import { evalTask, PairScorer } from "../src/eval/task_eval.ts";
import { getTask } from "../tasks/index.ts";
import { type RunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import { DEFAULT_HP, PRUNE_DEFAULTS } from "../src/prune/settings.ts";

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
  if (trained) Deno.removeSync(await trained, { recursive: true });
});

let trained: Promise<string> | null = null;
/** The trained tiny run, made on first use. */
function run1(): Promise<string> {
  trained ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "thinwire-prune-tiny-" });
    await trainTiny(dir);
    return dir;
  })();
  return trained;
}

/** The task the tiny run does better than chance on (loss about 0.27), and a target it meets. */
const TASK = TINY_SOLVES;
const TARGET = "0.5";

Deno.test("prune one task: a valid circuit file, a neuronpedia graph, cached means", async () => {
  const dir = await run1();
  const pruneTask = (...more: string[]) =>
    prune(["--model", dir, "--task", TASK, "--target", TARGET, ...QUICK, ...more]);
  const r = await pruneTask("--format", "neuronpedia");
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, new RegExp(`^${TASK}: \\d+ nodes, \\d+ edges`, "m"));
  assert.match(r.out, /task loss \(8 held-out pairs\): full [\d.]+ {2}circuit [\d.]+ \(calibrated/);
  assert.match(r.err, /node means: 1024 pretraining tokens/);
  const run = new RunDir(dir);
  const cfg = (await readRunConfig(run)).model;
  const c = await readCircuit(run, TASK, cfg);
  assert.equal(c.task, TASK);
  assert.equal(c.model.config.baseDModel, PRESETS.tiny.model.baseDModel);
  assert.equal(c.pairs.eval_pairs, 8);
  assert.ok(c.curve.length > 0 && c.ranking.length >= c.nodes.length);
  assert.equal(c.losses.random.draws, 2);
  // The pruning pairs' losses: those k was bisected on, and the rest with their calibration.
  const pr = c.losses.pruning!;
  assert.equal(c.hyperparameters.bisect_pairs, pr.bisect.pairs);
  assert.equal(c.hyperparameters.check_pairs, pr.check?.pairs ?? 0);
  // The masks train on the first mask_pairs (the bisection's among them); the rest check k.
  assert.ok(pr.bisect.pairs <= Number(c.hyperparameters.mask_pairs));
  assert.equal(Number(c.hyperparameters.mask_pairs) + (pr.check?.pairs ?? 0), c.pairs.prune_pairs);
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
  // With pairs to check k on and a margin no model meets, the check asks for the whole model's.
  const again = await pruneTask("--mask-pairs", "4", "--check-margin", "1000000");
  assert.match(again.err, /node means: cached/);
  assert.equal(again.code, 0, again.err);
  const lowered = await readCircuit(run, TASK, cfg);
  const used = Number(lowered.hyperparameters.check_margin);
  assert.ok(Number.isInteger(used) && used < 1000000, `check_margin ${used}`);
  assert.equal(lowered.hyperparameters.check_pairs, 4);
  const chk = lowered.losses.pruning!.check!;
  assert.ok(chk.circuit_calibrated <= Number(TARGET), `check pairs ${chk.circuit_calibrated}`);
  assert.match(again.out, new RegExp(`check margin ${used}, not 1000000: the whole model`));
  const bytes = await Deno.readFile(`${dir}/means.safetensors`);
  await Deno.writeFile(`${dir}/means.safetensors`, bytes.slice(0, bytes.length - 100));
  const fixed = await pruneTask();
  assert.match(fixed.err, /node means: 1024 pretraining tokens/);
  assert.equal((await Deno.readFile(`${dir}/means.safetensors`)).length, bytes.length);
  // Trimming starts from the same search's circuit and can only shrink it, within the target.
  const untrimmed = await readCircuit(run, TASK, cfg);
  const t = await pruneTask("--trim", "1");
  assert.equal(t.code, 0, t.err);
  const trimmed = await readCircuit(run, TASK, cfg);
  assert.equal(trimmed.hyperparameters.trim_passes, 1);
  assert.equal(untrimmed.hyperparameters.trim_passes, 0);
  assert.ok("trim" in trimmed.timing && !("trim" in untrimmed.timing));
  assert.ok(trimmed.nodes.length <= untrimmed.nodes.length);
  assert.ok(trimmed.losses.pruning!.bisect.circuit_calibrated <= Number(TARGET));
  // (A one-node circuit has nothing to trim: no pass runs.)
  if (untrimmed.nodes.length > 1) {
    assert.match(
      t.out,
      new RegExp(`trimmed: ${untrimmed.nodes.length} → ${trimmed.nodes.length} nodes`),
    );
  } else assert.doesNotMatch(t.out, /trimmed:/);
});

Deno.test("prune several tasks: one the model cannot do is said and skipped, exit 1", async () => {
  const dir = await run1();
  const out = await Deno.makeTempDir({ prefix: "thinwire-prune-several-" });
  try {
    // The task at chance comes first: the run goes on to the one it solves.
    const r = await prune([
      "--model",
      dir,
      "--task",
      `final_kwarg,${TASK}`,
      "--target",
      TARGET,
      "--out-dir",
      out,
      ...QUICK,
    ]);
    assert.equal(r.code, 1, r.err);
    assert.match(r.err, /^thinwire: final_kwarg: the full model is at chance on this task /m);
    assert.match(r.out, new RegExp(`^${TASK}: \\d+ nodes, \\d+ edges`, "m"));
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), [`${TASK}.json`]);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
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
  // A random model is at chance on (nearly) every task, and the summary says what to do.
  const chance = s.tasks.filter((t) => t.full_loss! >= Math.LN2).length;
  assert.ok(chance > 0);
  assert.match(
    r.out,
    new RegExp(
      `^${chance} task\\(s\\) at chance \\(full loss not below ln 2 = 0\\.6931\\): .*train ` +
        "the model longer .* or use the small preset",
      "m",
    ),
  );
});

Deno.test("prune: bad input is one line, exit code 2, nothing written", async () => {
  const dir = await run0;
  await rejects(["--model", dir, "--task", "nope"], /unknown task 'nope'/);
  await rejects(["--model", dir], /give --task NAME or --all/);
  await rejects(["--model", dir, "--task", TASK, "--all"], /not both/);
  for (const t of ["0", "-1", "1.5", "abc", ""]) {
    for (const flag of ["trials", "restarts"]) {
      await rejects(
        ["--model", dir, "--task", TASK, `--${flag}=${t}`],
        new RegExp(`--${flag} must be an integer ≥ 1`),
      );
    }
  }
  for (const t of ["-1", "1.5", "abc"]) {
    await rejects(["--model", dir, "--task", TASK, `--trim=${t}`], /--trim must be an integer ≥ 0/);
  }
  await rejects(
    ["--model", dir, "--task", TASK, "--method", "magic"],
    /--method must be learned or attribution/,
  );
  await rejects(
    ["--model", dir, "--task", TASK, "--method", "attribution", "--restarts", "2"],
    /the attribution ranking does not depend on the seed: use it with --method learned$/,
  );
  await rejects(
    ["--model", dir, "--task", TASK, "--ablation", "half"],
    /--ablation must be mean or zero/,
  );
  await rejects(
    ["--model", dir, "--task", TASK, "--target=-1"],
    /--target must be a positive number/,
  );
  // A target at or above chance is met by ablating every node: refused.
  for (const t of ["0.6932", "0.75", "2"]) {
    await rejects(
      ["--model", dir, "--task", TASK, "--target", t],
      /--target must be a positive number below ln 2 = 0\.6931 \(the task loss of a 50\/50 guess/,
    );
  }
  await rejects(["--model", dir, "--task", TASK, "--bogus"], /prune: Unknown option '--bogus'/);
  await rejects(
    ["--model", dir, "--task", TASK, "--bisect-pairs", "64", "--mask-pairs", "32"],
    /^prune: --mask-pairs 32 is fewer than --bisect-pairs 64: k is bisected on pairs the masks trained on$/,
  );
  // A model at chance on the task: said so, with what to do (not "raise --target").
  const before = [...Deno.readDirSync(`${dir}`)].map((e) => e.name).sort();
  await rejects(
    ["--model", dir, "--task", "final_kwarg", ...QUICK],
    new RegExp(
      "^final_kwarg: the full model is at chance on this task \\(task loss 0\\.(69[3-9]|[7-9])\\d*, " +
        "not below ln 2 = 0\\.6931: it does not tell the two answers apart\\), so there is no " +
        "circuit to find; train the model longer \\(deno task train --out DIR --resume --steps N\\) " +
        "or use the small preset \\(deno task train\\)$",
    ),
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

Deno.test("prune: a target the model misses, below chance: the targets that would do", async () => {
  await rejects(
    ["--model", await run1(), "--task", TASK, ...QUICK],
    new RegExp(
      `^${TASK}: the full model's task loss is (0\\.\\d{4}), not under the target 0\\.15 \\(not ` +
        "solved by the model: nothing to prune; give a --target between \\1 and ln 2 = 0\\.6931, " +
        "or train longer\\)$",
    ),
  );
});

/** pruneTask's options for the tiny run: every phase runs, in seconds (as QUICK). */
function quickTaskOptions() {
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
    maskPairs: 4,
  };
  return { settings, opts: { settings, prunePairs: 8, evalPairs: 8, trials: 1 } };
}

Deno.test("pruning tasks one after another: each as if alone, the arena back where it was", async () => {
  const dir = await run1();
  const { pruneTask } = await import("../src/prune/task_prune.ts");
  const { settings, opts } = quickTaskOptions();
  const strip = (o: unknown) =>
    JSON.stringify(o, (k, x) => (k === "time_s" || k === "timing" ? 0 : x));
  const prune1 = (r: Awaited<ReturnType<typeof loadRun>>, name: string, seed: number) =>
    strip(pruneTask(r, getTask(name), null, { ...opts, settings: { ...settings, seed } }));
  const alone = async (name: string, seed: number) => {
    const r = await loadRun(dir, { threads: 1 });
    try {
      return prune1(r, name, seed);
    } finally {
      r.model.be.close();
    }
  };
  const r = await loadRun(dir, { threads: 1 });
  try {
    const arena = r.model.be.arena;
    const used0 = arena.used;
    const got: string[] = [];
    // The one task the run does better than chance on, with two seeds, and one it is at chance
    // on (scored, then refused) in between.
    for (
      const [name, seed] of [[TASK, 1], [TASK, 2], ["single_double_quote", 1], [TASK, 1]] as const
    ) {
      got.push(prune1(r, name, seed));
      assert.equal(arena.used, used0, `arena after ${name}`);
    }
    assert.equal(got[3], got[0]);
    assert.equal(got[1], await alone(TASK, 2));
    assert.equal(got[2], await alone("single_double_quote", 1));
    assert.match(got[0], /"circuit"/);
    assert.match(got[1], /"circuit"/);
    assert.match(got[2], /"status":"not solved by the model"/);
  } finally {
    r.model.be.close();
  }
});

Deno.test("--restarts: the seed whose circuit has the fewest edges, its file what that seed gives alone", async () => {
  const dir = await run1();
  const { pruneTask } = await import("../src/prune/task_prune.ts");
  const { settings, opts } = quickTaskOptions();
  // The file less what a restart adds (its time and the count of seeds).
  const strip = (c: unknown) =>
    JSON.stringify(
      c,
      (k, x) => (k === "time_s" || k === "timing" ? 0 : k === "restarts" ? undefined : x),
    );
  const r = await loadRun(dir, { threads: 1 });
  try {
    const task = getTask(TASK);
    const alone = [1, 2, 3].map((seed) =>
      pruneTask(r, task, null, { ...opts, settings: { ...settings, seed } })
    );
    const best = await pruneTask(r, task, null, { ...opts, restarts: 3 });
    assert.ok(best.status === "pruned" && alone.every((a) => a.status === "pruned"));
    if (best.status !== "pruned") return;
    const size = (o: (typeof alone)[number]) =>
      "circuit" in o ? [o.circuit.edges.length, o.circuit.nodes.length] : [Infinity, Infinity];
    const sizes = alone.map(size);
    assert.deepEqual(best.restarts, {
      seeds: [1, 2, 3],
      edges: sizes.map((s) => s[0]),
      nodes: sizes.map((s) => s[1]),
      kept: best.circuit.seed,
    });
    const won = sizes.findIndex((s) =>
      sizes.every((o) => s[0] < o[0] || (s[0] === o[0] && s[1] <= o[1]))
    );
    assert.equal(best.circuit.seed, 1 + won);
    assert.equal(best.circuit.hyperparameters.restarts, 3);
    const a = alone[won];
    assert.ok("circuit" in a);
    assert.equal(strip(best.circuit), strip(a.circuit));
  } finally {
    r.model.be.close();
  }
});
