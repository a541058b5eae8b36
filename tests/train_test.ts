/**
 * Training: bit-reproducibility (golden weights hash, 1 vs 2 threads), crash-safe resume after a
 * real SIGKILL, and one-line errors for bad input.
 */
import assert from "node:assert/strict";
import { PRESETS, type RunConfig } from "../src/train/config.ts";
import { train } from "../src/train/trainer.ts";

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

async function runCli(args: string[]) {
  const p = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    stdout: "piped",
    stderr: "piped",
  });
  const r = await p.output();
  return { code: r.code, stderr: new TextDecoder().decode(r.stderr) };
}

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
  // Kill it mid-run, after its first checkpoint and before the end.
  for (let i = 0; i < 600; i++) {
    try {
      await Deno.stat(`${dir}/killed/state/checkpoint.safetensors`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  await new Promise((r) => setTimeout(r, 300));
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
  const steps = (await Deno.readTextFile(`${dir}/killed/metrics.jsonl`)).trim().split("\n")
    .map((l) => JSON.parse(l).step);
  assert.deepEqual(steps, [...new Set(steps)].sort((x, y) => x - y), "metrics steps repeat");
  await Deno.remove(dir, { recursive: true });
}

Deno.test("a run killed with SIGKILL resumes to bit-identical weights", async () => {
  await killAndResume([]);
});

Deno.test("a sparse-gradient run killed with SIGKILL resumes to bit-identical weights", async () => {
  // R = 3 against checkpoints every 4 steps: most resumes start between two dense steps.
  await killAndResume(["--dense-grad-every", "3"]);
});

Deno.test("bad input: one line on stderr, exit 2, nothing written", async (t) => {
  const dir = await tmp();
  const cases: [string, string[], RegExp][] = [
    ["unknown flag", ["--bogus"], /bogus/],
    ["flag value that looks like a flag", ["--d-pos-emb", "-2"], /d-pos-emb/],
    ["threads out of range", ["--threads", "0"], /--threads needs an integer in 1\.\.64/],
    ["d_model not a multiple of d_head", ["--d-model", "40"], /multiple of d_head/],
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
