/**
 * Loading a run folder and evaluating it on the task suite: numbers of a random model, padding
 * independence of the batched scoring, the CLI and its JSON, and the one-line errors of damaged
 * run folders.
 */
import assert from "node:assert/strict";
import { assertUserError, makeRandomRun } from "./run_fixture.ts";
import { evalCommand } from "../src/eval/cli_eval.ts";
import { loadRun } from "../src/run/run_dir.ts";
import { formatExamples, formatTable } from "../src/eval/report.ts";
import { evalTask, PairScorer, type PromptItem } from "../src/eval/task_eval.ts";
import { evaluateRun } from "../src/eval/run_eval.ts";
import { decodeSafetensors, encodeSafetensors } from "../src/model/safetensors.ts";
import { type RunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import { getTask, type Task } from "../tasks/index.ts";

const RC: RunConfig = {
  model: {
    ...PRESETS.tiny.model,
    nLayer: 1,
    baseDModel: 32,
    baseDMlp: 64,
    nCtx: 128,
  },
  train: { ...PRESETS.tiny.train, batchSize: 4, valBatches: 1 },
};
const LN2 = Math.log(2);

/** Writes a random-init run folder the way the trainer lays it out; returns its path. */
async function makeRun(rc = RC): Promise<string> {
  const dir = await makeRandomRun(rc, "thinwire-eval-");
  await Deno.writeTextFile(
    `${dir}/metrics.jsonl`,
    JSON.stringify({ step: 60, "val/xent": 5.5 }) + "\n",
  );
  return dir;
}

/** Copies a run folder so a test can damage the copy. */
async function copyRun(dir: string): Promise<string> {
  const out = await Deno.makeTempDir({ prefix: "thinwire-eval-bad-" });
  for (const f of ["config.json", "tokenizer.json", "model.safetensors"]) {
    await Deno.copyFile(`${dir}/${f}`, `${out}/${f}`);
  }
  return out;
}

const dirs: string[] = [];
// Runs also when --filter skips tests that would otherwise clean up.
globalThis.addEventListener("unload", () => {
  for (const d of dirs) Deno.removeSync(d, { recursive: true });
});
const run0 = makeRun().then((d) => (dirs.push(d), d));

Deno.test("a random model scores about ln 2 on every task and ln V on validation", async () => {
  const r = await loadRun(await run0);
  try {
    const tasks = ["single_double_quote", "for_while", "if_equals"].map(getTask);
    const rep = await evaluateRun(r, { tasks, pairs: 12, show: 2 });
    assert.equal(rep.tasks.length, 3);
    for (const t of rep.tasks) {
      assert.ok(t.measurable, t.note ?? "");
      assert.ok(Math.abs(t.loss! - LN2) < 0.05, `${t.task} loss ${t.loss}`);
      assert.ok(Math.abs(t.logitDiff!) < 0.1, `${t.task} logit diff ${t.logitDiff}`);
      // Both members of a pair share almost all context: an untrained model gets one right.
      assert.ok(t.accuracy! >= 0.25 && t.accuracy! <= 0.75, `${t.task} accuracy ${t.accuracy}`);
      // ... because it picks the same token for both members of almost every pair.
      assert.ok(t.sameAnswer! >= 0.75, `${t.task} same answer ${t.sameAnswer}`);
      assert.equal(t.solved, false);
      assert.equal(t.examples.length, 2);
      for (const ex of t.examples) {
        for (const p of ex.probCorrect) assert.ok(Math.abs(p! - 0.5) < 0.15, `P ${p}`);
      }
    }
    assert.equal(rep.solved, 0);
    assert.ok(Math.abs(rep.val.loss! - Math.log(2048)) < 0.1, `val ${rep.val.loss}`);
    assert.equal(rep.val.tokens, RC.train.batchSize * RC.model.nCtx);
    assert.equal(rep.val.logged, 5.5);
    const table = formatTable(rep);
    assert.match(table, /^task +loss +accuracy +logit diff +same answer +solved$/m);
    assert.match(table, /^for_while +0\.6\d{3} +\d+\.\d% +[+-]0\.\d{3} +\d+\.\d% +no$/m);
    assert.match(table, /^solved 0\/3 /m);
    assert.match(table, /^val loss 7\.\d{4} \(512 tokens, recomputed\); training logged 5\.5000/m);
    const shown = formatExamples(rep.tasks[0]);
    assert.match(shown, /^ {2}1a {2}".*\\n.*"$/m);
    assert.match(shown, /P\(correct\) = 0\.\d{3}/);
  } finally {
    r.close();
  }
});

Deno.test("pair loss matches softplus of the logits of a prompt run alone", async () => {
  const r = await loadRun(await run0);
  try {
    const tok = r.tokenizer;
    const texts = ["def f(x):\n    return x", "a = [1, 2", "for i in range(10):\n", "x"];
    const items: PromptItem[] = texts.map((t, i) => ({
      tokens: tok.encode(t),
      correct: 10 + i,
      wrong: 300 + 7 * i,
    }));
    const scorer = new PairScorer(r.model, r.tokenizer, items.length, 4096);
    const batched = scorer.score(items);
    // Each prompt alone (B = 1, no padding) and in batches that pad it differently.
    for (let i = 0; i < items.length; i++) {
      const alone = scorer.score([items[i]]);
      assert.equal(alone.losses[0], batched.losses[i], `prompt ${i}: padded vs alone`);
      assert.equal(alone.correct[0], batched.correct[i]);
      const seq = [tok.eot, ...items[i].tokens], V = r.model.d.V, N = seq.length;
      r.model.forward(Int32Array.from(seq), null, 1, N);
      const logits = r.be.arena.f32(r.model.acts.logits, V * N);
      const lc = logits[items[i].correct * N + N - 1], lw = logits[items[i].wrong * N + N - 1];
      assert.equal(alone.correct[0], lc);
      assert.equal(alone.wrong[0], lw);
      const softplus = Math.log1p(Math.exp(lw - lc));
      assert.ok(Math.abs(alone.losses[0] - softplus) < 1e-6, `${alone.losses[0]} vs ${softplus}`);
    }
    const reversed = scorer.score([...items].reverse());
    assert.deepEqual(Array.from(reversed.losses).reverse(), Array.from(batched.losses));
    let mean = 0;
    for (const x of batched.losses) mean += x / items.length;
    assert.ok(Math.abs(batched.meanLoss - mean) < 1e-6);
    let diff = 0;
    for (let i = 0; i < items.length; i++) diff += (batched.correct[i] - batched.wrong[i]) / 4;
    assert.ok(Math.abs(batched.meanDiff - diff) < 1e-6);
  } finally {
    r.close();
  }
});

Deno.test("prompts longer than n_ctx are cut from the left and counted", async () => {
  const dir = await makeRun({ ...RC, model: { ...RC.model, nCtx: 16 } });
  dirs.push(dir);
  const r = await loadRun(dir);
  try {
    const tok = r.tokenizer;
    const long = tok.encode("x = 1\n".repeat(20));
    const tail = long.slice(long.length - 16);
    const scorer = new PairScorer(r.model, r.tokenizer, 2, 1024);
    const s = scorer.score([{ tokens: long, correct: 5, wrong: 6 }]);
    assert.equal(s.truncated, 1);
    // The kept window is the last n_ctx tokens: same as giving that window without the eot.
    r.model.forward(Int32Array.from(tail), null, 1, 16);
    const logits = r.be.arena.f32(r.model.acts.logits, 2048 * 16);
    assert.equal(s.correct[0], logits[5 * 16 + 15]);
  } finally {
    r.close();
  }
});

Deno.test("a candidate of several tokens makes the task not measurable", async () => {
  const r = await loadRun(await run0);
  try {
    const fake: Task = {
      name: "fake",
      description: "a candidate that is no single token",
      generate: () => ({
        prompts: ["x = 1\n", "y = 2\n"],
        answers: ["print", "xyzzy_plugh"],
        endings: ["", ""],
      }),
    };
    const scorer = new PairScorer(r.model, r.tokenizer, 4, 1024);
    const res = evalTask(scorer, r.tokenizer, fake, 2, 1);
    assert.equal(res.measurable, false);
    assert.equal(res.loss, null);
    assert.match(res.note!, /^not measurable: 'xyzzy_plugh' is \d+ tokens under this tokenizer$/);
    assert.match(formatExamples(res), /not measurable/);
  } finally {
    r.close();
  }
});

Deno.test("eval CLI prints the table and writes the same numbers as JSON", async () => {
  const dir = await run0;
  const json = `${dir}/eval.json`;
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => logs.push(a.join(" "));
  let code;
  try {
    code = await evalCommand([
      "--model",
      dir,
      "--task",
      "for_while,with_open",
      "--task",
      "if_equals",
      "--pairs",
      "6",
      "--threads",
      "1",
      "--json",
      json,
    ]);
  } finally {
    console.log = log;
  }
  assert.equal(code, 0);
  const j = JSON.parse(await Deno.readTextFile(json));
  assert.deepEqual(j.tasks.map((t: { task: string }) => t.task), [
    "for_while",
    "with_open",
    "if_equals",
  ]);
  assert.equal(j.pairs_per_task, 6);
  assert.equal(j.tasks_total, 3);
  assert.equal(j.solved, 0);
  for (const t of j.tasks) {
    assert.ok(Math.abs(t.loss - LN2) < 0.05);
    assert.ok(logs.join("\n").includes(`${t.task}`));
    assert.ok(logs.join("\n").includes(t.loss.toFixed(4)), `table lacks ${t.loss.toFixed(4)}`);
  }
  assert.ok(Math.abs(j.val.loss - Math.log(2048)) < 0.1);
  assert.equal(j.val.logged, 5.5);
});

Deno.test("eval CLI rejects bad flags and damaged run folders with one line", async (t) => {
  const good = await run0;
  const evalOn = (dir: string, ...more: string[]) =>
    evalCommand(["--model", dir, "--pairs", "2", "--task", "for_while", ...more]);
  await t.step("unknown flag", () => assertUserError(evalCommand(["--modle", good]), /--modle/));
  await t.step(
    "missing --model",
    () => assertUserError(evalCommand([]), /--model DIR is required/),
  );
  await t.step("bad --pairs", () => assertUserError(evalOn(good, "--pairs", "0"), /--pairs/));
  await t.step("unknown task", () => {
    return assertUserError(evalOn(good, "--task", "no_such_task"), /unknown task 'no_such_task'/);
  });
  await t.step("missing folder", () => {
    return assertUserError(evalOn(`${good}/nope`), /nope: no such run folder/);
  });
  await t.step("folder without weights", async () => {
    const d = await copyRun(good);
    dirs.push(d);
    await Deno.remove(`${d}/model.safetensors`);
    await assertUserError(evalOn(d), /not a finished run folder \(missing model\.safetensors\)/);
  });
  await t.step("truncated safetensors", async () => {
    const d = await copyRun(good);
    dirs.push(d);
    const bytes = await Deno.readFile(`${d}/model.safetensors`);
    await Deno.writeFile(`${d}/model.safetensors`, bytes.subarray(0, bytes.length - 100));
    await assertUserError(
      evalOn(d),
      /model\.safetensors: not a valid safetensors file: .*past the end/,
    );
  });
  const rewrite = async (
    edit: (t: Map<string, { name: string; shape: number[]; data: Float32Array }>) => void,
  ) => {
    const d = await copyRun(good);
    dirs.push(d);
    const f = decodeSafetensors(await Deno.readFile(`${d}/model.safetensors`), "x");
    const tensors = new Map([...f.tensors].map(([k, v]) => [k, { ...v, data: v.data.slice() }]));
    edit(tensors);
    await Deno.writeFile(
      `${d}/model.safetensors`,
      encodeSafetensors([...tensors.values()], f.metadata),
    );
    return d;
  };
  await t.step("NaN weight", async () => {
    const d = await rewrite((m) => m.get("transformer.h.0.mlp.c_fc.weight")!.data[17] = NaN);
    await assertUserError(
      evalOn(d),
      /model\.safetensors: tensor transformer\.h\.0\.mlp\.c_fc\.weight has 1 NaN\/Inf value/,
    );
  });
  await t.step("NaN in a sparse weight (packed when opened)", async () => {
    const d = await rewrite((m) => {
      const w = m.get("transformer.h.0.attn.c_proj.weight")!.data;
      w.fill(0, 0, w.length - 8);
      w[w.length - 3] = -Infinity;
    });
    await assertUserError(
      evalOn(d),
      /model\.safetensors: tensor transformer\.h\.0\.attn\.c_proj\.weight has 1 NaN\/Inf value/,
    );
  });
  await t.step("missing tensor", async () => {
    const d = await rewrite((m) => m.delete("lm_head.weight"));
    await assertUserError(evalOn(d), /tensor lm_head\.weight is missing/);
  });
  await t.step("wrong shape", async () => {
    const d = await rewrite((m) => m.get("transformer.ln_f.weight")!.shape = [4, 8]);
    await assertUserError(
      evalOn(d),
      /tensor transformer\.ln_f\.weight has shape \[4, 8\], config\.json implies \[32\]/,
    );
  });
  await t.step("extra tensor", async () => {
    const d = await rewrite((m) =>
      m.set("stray", { name: "stray", shape: [1], data: new Float32Array(1) })
    );
    await assertUserError(evalOn(d), /unexpected tensor\(s\) "stray"/);
  });
  await t.step("config of another format", async () => {
    const d = await copyRun(good);
    dirs.push(d);
    const cfg = JSON.parse(await Deno.readTextFile(`${d}/config.json`));
    await Deno.writeTextFile(`${d}/config.json`, JSON.stringify({ ...cfg, format_version: 99 }));
    await assertUserError(evalOn(d), /config\.json: run folder format 99 is not supported/);
  });
  await t.step("config with a number given as a string", async () => {
    const d = await copyRun(good);
    dirs.push(d);
    const cfg = JSON.parse(await Deno.readTextFile(`${d}/config.json`));
    cfg.train.lr = "0.02";
    await Deno.writeTextFile(`${d}/config.json`, JSON.stringify(cfg));
    await assertUserError(evalOn(d), /config\.json: train\.lr must be a number, got "0\.02"/);
  });
  await t.step("config disagrees with the weights", async () => {
    const d = await copyRun(good);
    dirs.push(d);
    const cfg = JSON.parse(await Deno.readTextFile(`${d}/config.json`));
    cfg.model.nLayer = 2;
    await Deno.writeTextFile(`${d}/config.json`, JSON.stringify(cfg));
    await assertUserError(
      evalOn(d),
      /model\.safetensors: saved with model\.nLayer = 1 but config\.json says 2/,
    );
  });
  await t.step("config not JSON", async () => {
    const d = await copyRun(good);
    dirs.push(d);
    await Deno.writeTextFile(`${d}/config.json`, "{");
    await assertUserError(evalOn(d), /config\.json: not valid JSON/);
  });
  await t.step("tokenizer damaged", async () => {
    const d = await copyRun(good);
    dirs.push(d);
    await Deno.writeTextFile(`${d}/tokenizer.json`, JSON.stringify({ vocab_size: 2048 }));
    await assertUserError(evalOn(d), /tokenizer\.json: eot must be/);
  });
});

const CLI = new URL("../cli.ts", import.meta.url);
const hasCli = await Deno.stat(CLI).then(() => true, () => false);

Deno.test({
  name: "eval through cli.ts: a damaged run exits 2 with one line on stderr, quickly",
  ignore: !hasCli,
  fn: async () => {
    const d = await copyRun(await run0);
    dirs.push(d);
    const bytes = await Deno.readFile(`${d}/model.safetensors`);
    await Deno.writeFile(`${d}/model.safetensors`, bytes.subarray(0, 1000));
    const t0 = performance.now();
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", CLI.pathname, "eval", "--model", d],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 2, err);
    assert.equal(err.split("\n").length, 1, err);
    assert.match(err, /model\.safetensors: not a valid safetensors file/);
    assert.ok(performance.now() - t0 < 20_000);
  },
});

Deno.test("eval --json - writes only the JSON document to stdout, the table to stderr", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      CLI.pathname,
      "eval",
      "--model",
      await run0,
      "--task",
      "if_equals",
      "--pairs",
      "4",
      "--threads",
      "1",
      "--json",
      "-",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  const j = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.deepEqual(j.tasks.map((t: { task: string }) => t.task), ["if_equals"]);
  assert.equal(j.pairs_per_task, 4);
  assert.match(err, /^if_equals +\d\.\d{4}/m);
  assert.match(err, /→ stdout$/m);
  await assert.rejects(Deno.stat("-"), "wrote a file named '-'");
});
