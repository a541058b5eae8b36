/**
 * Training: bit-reproducibility (golden weights hash, 1 vs 2 threads), crash-safe resume after a
 * real SIGKILL, and one-line errors for bad input.
 */
import assert from "node:assert/strict";
import { type RunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import { train } from "../src/train/trainer.ts";
import { MICRO_TRAIN, runCli } from "./util.ts";

/** A very small run: every part of the method, a few seconds. */
function microConfig(steps = 16): RunConfig {
  const rc = structuredClone(PRESETS.tiny);
  rc.model.nCtx = 32;
  rc.train.steps = steps;
  rc.train.batchSize = 4;
  rc.train.evalEvery = 8;
  rc.train.saveEvery = 4;
  rc.train.logEvery = 2;
  rc.train.valBatches = 1;
  return rc;
}

/** SHA-256 of model.safetensors for microConfig(16), seed 1. Update only for an intended change. */
const GOLDEN_SHA256 = "e6325eab8bc20f84ba8d97adc0df2290d18a80d62a4937c09eb8309561025309";
/** The same with --dense-grad-every 3 (the sparse-gradient mode). */
const GOLDEN_SHA256_R3 = "f89495b8636c7d48ac4d8a97e9b31336142ed8806109394d9c79b1a57c990d0a";

const tmp = () => Deno.makeTempDir({ prefix: "thinwire-train-" });
const cli = new URL("../cli.ts", import.meta.url).pathname;

Deno.test("training is bit-reproducible: golden hash, 1 thread = 2 threads", async () => {
  const dirs = [await tmp(), await tmp()];
  const a = await train({
    out: `${dirs[0]}/r`,
    rc: microConfig(),
    threads: 1,
    resume: false,
    quiet: true,
  });
  const b = await train({
    out: `${dirs[1]}/r`,
    rc: microConfig(),
    threads: 2,
    resume: false,
    quiet: true,
  });
  assert.equal(a.modelSha256, b.modelSha256, "1 and 2 threads differ");
  assert.ok(Number.isFinite(a.valLoss) && a.valLoss < Math.log(2048), `val loss ${a.valLoss}`);
  assert.equal(a.modelSha256, GOLDEN_SHA256, "weights changed: update GOLDEN_SHA256 if intended");
  for (
    const f of ["config.json", "model.safetensors", "tokenizer.json", "metrics.jsonl", "loss.svg"]
  ) {
    await Deno.stat(`${dirs[0]}/r/${f}`);
  }
  const lines = (await Deno.readTextFile(`${dirs[0]}/r/metrics.jsonl`)).trim().split("\n");
  const last = JSON.parse(lines[lines.length - 1]);
  for (const k of ["step", "train/xent", "val/xent", "lr", "L0", "L0_non_embed", "tokens_per_s"]) {
    assert.ok(k in last, `metrics lack ${k}`);
  }
  assert.ok(Object.keys(last).some((k) => k.startsWith("alive_neurons/")));
  for (const d of dirs) await Deno.remove(d, { recursive: true });
});

Deno.test("sparse-gradient mode is bit-reproducible: its golden hash, 1 thread = 2 threads", async () => {
  const dirs = [await tmp(), await tmp()];
  const rc = microConfig();
  rc.train.denseGradEvery = 3;
  const [a, b] = [
    await train({ out: `${dirs[0]}/r`, rc, threads: 1, resume: false, quiet: true }),
    await train({ out: `${dirs[1]}/r`, rc, threads: 2, resume: false, quiet: true }),
  ];
  assert.equal(a.modelSha256, b.modelSha256, "1 and 2 threads differ");
  assert.ok(Number.isFinite(a.valLoss) && a.valLoss < Math.log(2048), `val loss ${a.valLoss}`);
  assert.notEqual(a.modelSha256, GOLDEN_SHA256, "R = 3 trained as R = 1");
  assert.equal(
    a.modelSha256,
    GOLDEN_SHA256_R3,
    "weights changed: update GOLDEN_SHA256_R3 if intended",
  );
  const cfg = JSON.parse(await Deno.readTextFile(`${dirs[0]}/r/config.json`));
  assert.equal(cfg.train.denseGradEvery, 3);
  for (const d of dirs) await Deno.remove(d, { recursive: true });
});

/**
 * Trains the tiny preset for 40 steps (checkpoints every 4) twice with `extra` flags: once
 * through, once killed with SIGKILL after a checkpoint and resumed on 2 threads; asserts the same
 * model.safetensors bytes.
 */
async function killAndResume(extra: string[]): Promise<void> {
  const dir = await tmp();
  const flags = [
    "train",
    "--preset",
    "tiny",
    "--n-ctx",
    "32",
    "--batch",
    "4",
    "--steps",
    "40",
    "--save-every",
    "4",
    "--eval-every",
    "20",
    "--val-batches",
    "1",
    "--quiet",
    "--threads",
    "1",
    ...extra,
  ];
  const full = await runCli([...flags, "--out", `${dir}/full`]);
  assert.equal(full.code, 0, full.stderr);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...flags, "--out", `${dir}/killed`],
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Kill it mid-run once it has a checkpoint and has logged a step past it (log every 5, save
  // every 4): the resume must then drop that row and log it again.
  for (let i = 0; i < 600 && !(await checkpointAndLaterRow(`${dir}/killed`)); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill("SIGKILL");
  const status = await child.status;
  assert.notEqual(status.code, 0, "the run finished before it could be killed");
  const resumed = await runCli([
    "train",
    "--resume",
    "--out",
    `${dir}/killed`,
    "--quiet",
    "--threads",
    "2",
  ]);
  assert.equal(resumed.code, 0, resumed.stderr);
  const a = await Deno.readFile(`${dir}/full/model.safetensors`);
  const b = await Deno.readFile(`${dir}/killed/model.safetensors`);
  assert.deepEqual(a, b);
  // Every row but its throughput is a function of the weights: the same as the full run's.
  assert.deepEqual(await metricsRows(`${dir}/killed`), await metricsRows(`${dir}/full`));
  await Deno.remove(dir, { recursive: true });
}

/** metrics.jsonl without tokens_per_s (timing); fails on a damaged line. */
async function metricsRows(run: string): Promise<Record<string, number>[]> {
  const text = await Deno.readTextFile(`${run}/metrics.jsonl`);
  return text.trim().split("\n").map((l) => {
    const { tokens_per_s: _, ...row } = JSON.parse(l);
    return row;
  });
}

/** True once the run has a checkpoint and metrics.jsonl a row with a step it does not cover. */
async function checkpointAndLaterRow(run: string): Promise<boolean> {
  try {
    await Deno.stat(`${run}/state/checkpoint.safetensors`);
    const steps = (await Deno.readTextFile(`${run}/metrics.jsonl`)).split("\n")
      .filter((l) => l.endsWith("}")).map((l) => JSON.parse(l).step as number);
    return steps.some((s) => s % 4 !== 0);
  } catch {
    return false;
  }
}

Deno.test("--resume refuses flags that change the run; --steps N extends it", async () => {
  const dir = await tmp(), out = `${dir}/r`;
  const flags = MICRO_TRAIN;
  const first = await runCli(["train", ...flags, "--steps", "8", "--out", out]);
  assert.equal(first.code, 0, first.stderr);
  const config = await Deno.readTextFile(`${out}/config.json`);

  const changed = await runCli(["train", "--resume", "--out", out, "--lr", "0.1", "--no-sink"]);
  assert.equal(changed.code, 2, changed.stderr);
  assert.equal(changed.stderr.trim().split("\n").length, 1, changed.stderr);
  assert.match(changed.stderr, /saved config; not with --lr, --no-sink \(only --steps/);
  const shorter = await runCli(["train", "--resume", "--out", out, "--steps", "4"]);
  assert.equal(shorter.code, 2, shorter.stderr);
  assert.match(shorter.stderr, /--steps 4: --resume can only extend a run, and .* has 8 steps/);
  const complete = await runCli(["train", "--resume", "--out", out, "--threads", "2"]);
  assert.equal(complete.code, 0, complete.stderr);
  assert.match(complete.stderr, /is complete: nothing to train/);
  assert.equal(await Deno.readTextFile(`${out}/config.json`), config);

  const longer = await runCli(["train", "--resume", "--out", out, "--steps", "12", "--quiet"]);
  assert.equal(longer.code, 0, longer.stderr);
  const cfg = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
  assert.equal(cfg.train.steps, 12);
  assert.deepEqual(cfg.extended, [
    { at_step: 8, from_steps: 8, to_steps: 12, thinwire: cfg.thinwire },
  ]);
  const rows = await metricsRows(out);
  assert.deepEqual(rows.map((r) => r.step), [2, 4, 6, 8, 10, 12]);
  // The schedule after step 8 is a 12-step run's, before it an 8-step run's: not a 12-step run.
  const scratch = await runCli(["train", ...flags, "--steps", "12", "--out", `${dir}/scratch`]);
  assert.equal(scratch.code, 0, scratch.stderr);
  const scratchRows = await metricsRows(`${dir}/scratch`);
  assert.notEqual(rows[1].lr, scratchRows[1].lr, "the first 8 steps had an 8-step schedule");
  assert.equal(rows[5].lr, scratchRows[5].lr, "the last step has a 12-step schedule");
  assert.notDeepEqual(
    await Deno.readFile(`${out}/model.safetensors`),
    await Deno.readFile(`${dir}/scratch/model.safetensors`),
  );

  // A checkpoint of another model's size: one line, exit 2, the run folder left as it was.
  const other = await runCli([
    "train",
    ...flags,
    "--d-model",
    "32",
    "--steps",
    "4",
    "--out",
    `${dir}/other`,
  ]);
  assert.equal(other.code, 0, other.stderr);
  await Deno.copyFile(
    `${dir}/other/state/checkpoint.safetensors`,
    `${out}/state/checkpoint.safetensors`,
  );
  const model = await Deno.readFile(`${out}/model.safetensors`);
  const foreign = await runCli(["train", "--resume", "--out", out, "--steps", "16"]);
  assert.equal(foreign.code, 2, foreign.stderr);
  assert.equal(foreign.stderr.trim().split("\n").length, 1, foreign.stderr);
  assert.match(
    foreign.stderr,
    /checkpoint\.safetensors: was saved by a run with another config than .*config\.json/,
  );
  assert.deepEqual(await Deno.readFile(`${out}/model.safetensors`), model);
  assert.equal(JSON.parse(await Deno.readTextFile(`${out}/config.json`)).train.steps, 12);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a run killed with SIGKILL resumes to bit-identical weights", async () => {
  await killAndResume([]);
});

Deno.test("a sparse-gradient run killed with SIGKILL resumes to bit-identical weights", async () => {
  // R = 3 against checkpoints every 4 steps: most resumes start between two dense steps.
  await killAndResume(["--dense-grad-every", "3"]);
});

Deno.test("a sparse-anneal run killed with SIGKILL resumes to bit-identical weights", async () => {
  // Block target 1/4, so the anneal starts at 1/2; R = 3 against checkpoints every 4 steps.
  await killAndResume([
    "--anneal-from",
    "0.5",
    "--dense-grad-every",
    "3",
    "--anneal-shape",
    "cubic",
  ]);
});

Deno.test("bad input: one line on stderr, exit 2, nothing written", async (t) => {
  const dir = await tmp();
  const cases: [string, string[], RegExp][] = [
    ["unknown flag", ["--bogus"], /bogus/],
    ["flag value that looks like a flag", ["--d-pos-emb", "-2"], /d-pos-emb/],
    ["threads out of range", ["--threads", "0"], /--threads must be an integer in 1\.\.64/],
    ["d_model not a multiple of d_head", ["--d-model", "40"], /multiple of d_head/],
    [
      "ef that gives no whole width",
      ["--ef", "1.3"],
      /ef 1\.3 × d-model 64 = 83\.2 is not a whole/,
    ],
    ["afrac out of range", ["--afrac", "0"], /afrac/],
    ["pfrac above ef²", ["--pfrac", "2"], /pfrac/],
    ["n_ctx too small", ["--n-ctx", "1"], /n-ctx/],
    ["non-numeric", ["--lr", "fast"], /--lr needs a number/],
    ["missing data folder", ["--data", `${dir}/nope`], /nope/],
    ["unknown preset", ["--preset", "huge"], /preset/],
    ["pfrac too small for the j=4 protection", ["--pfrac", "0.001"], /protect-j/],
    [
      "pfrac too small for the j=4 protection, sparse gradients",
      ["--pfrac", "0.001", "--dense-grad-every", "4"],
      /protect-j/,
    ],
    [
      "dense-grad-every below 1",
      ["--dense-grad-every", "0"],
      /dense-grad-every must be an integer ≥ 1/,
    ],
    ["dense-grad-every not an integer", ["--dense-grad-every", "2.5"], /dense-grad-every must be/],
    ["dense-grad-every not a number", ["--dense-grad-every", "often"], /--dense-grad-every needs/],
    [
      "unknown anneal shape",
      ["--anneal-shape", "exp"],
      /anneal-shape must be one of linear, cubic/,
    ],
    [
      "dense baseline with an anneal shape",
      ["--dense", "--anneal-shape", "cubic"],
      /anneal-shape cubic needs weight sparsity.*--dense/,
    ],
    [
      "anneal-from below the target density",
      ["--anneal-from", "0.1"],
      /anneal-from must be a block density in \[the target 0\.25, 1\], got 0\.1/,
    ],
    ["anneal-from above 1", ["--anneal-from", "2"], /anneal-from must be a block density/],
    [
      "a preset's start below the target of a larger --pfrac",
      ["--preset", "paper", "--pfrac", "2"],
      /target 0\.125, 1\], got 0\.010416666666666666 \(--anneal-from 0\.125 starts at the target\)/,
    ],
    [
      "dense baseline with a sparse anneal",
      ["--dense", "--anneal-from", "0.5"],
      /anneal-from 0\.5 needs weight sparsity.*--dense/,
    ],
    [
      "dense baseline with sparse gradients",
      ["--dense", "--dense-grad-every", "4"],
      /dense-grad-every 4 needs weight sparsity.*--dense/,
    ],
  ];
  for (const [name, args, re] of cases) {
    await t.step(name, async () => {
      const out = `${dir}/${name.replace(/\W+/g, "_")}`;
      const r = await runCli(["train", "--preset", "tiny", "--out", out, ...args]);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], re);
      await assert.rejects(Deno.stat(out));
    });
  }
  await t.step("unwritable --out", async () => {
    const r = await runCli(["train", "--preset", "tiny", "--out", "/proc/thinwire-run"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /cannot write/);
  });
  await t.step("run folder from an incompatible version", async () => {
    const out = `${dir}/old`;
    await Deno.mkdir(out);
    await Deno.writeTextFile(`${out}/config.json`, JSON.stringify({ format_version: 0 }));
    const r = await runCli(["train", "--resume", "--out", out]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /format 0 is not supported/);
  });
  await Deno.remove(dir, { recursive: true });
});
