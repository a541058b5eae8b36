/**
 * `verify`: a run re-trained from its config.json reproduces bit for bit (exit 0, one line); a
 * changed weight, Adam moment or tokenizer is found and named (exit 1); bad input is one line with
 * exit 2; stopped and extended runs re-train in their parts; the temporary folder goes, Ctrl+C
 * included.
 */
import assert from "node:assert/strict";
import { paramLayout } from "../src/model/params.ts";
import { decodeSafetensors } from "../src/model/safetensors.ts";
import { PRESETS } from "../src/train/presets.ts";
import { train } from "../src/train/trainer.ts";
import {
  bitDifference,
  parseExtensions,
  trainingSegments,
  verifyRun,
} from "../src/train/verify.ts";
import { assertUserError } from "./run_fixture.ts";
import { MICRO_TRAIN, runCli } from "./util.ts";

const cli = new URL("../cli.ts", import.meta.url).pathname;

/** A run of `steps` steps in a few seconds: tiny preset, short context, checkpoints every 4. */

function microConfig(steps: number) {
  const rc = structuredClone(PRESETS.tiny);
  Object.assign(rc.model, { nCtx: 32 });
  Object.assign(rc.train, {
    steps,
    batchSize: 4,
    saveEvery: 4,
    evalEvery: 4,
    valBatches: 1,
    logEvery: 2,
  });
  return rc;
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function trainCli(out: string, steps: number, extra: string[] = []): Promise<void> {
  const r = await runCli([
    "train",
    ...MICRO_TRAIN,
    "--steps",
    String(steps),
    ...extra,
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
}

/** Asserts a verify result: exit code, one line on stdout matching `line`, nothing left in tmp. */
async function assertVerdict(r: CliResult, code: 0 | 1, line: RegExp, tmpdir: string) {
  assert.equal(r.code, code, r.stdout + r.stderr);
  assert.equal(r.stdout.trim().split("\n").length, 1, r.stdout);
  assert.match(r.stdout, line);
  assert.deepEqual(await Array.fromAsync(Deno.readDir(tmpdir)), [], "temporary folder left");
}

/** Asserts exit 2 with one line on stderr matching `line` and nothing on stdout. */
function assertBadInput(r: CliResult, line: RegExp) {
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.equal(r.stdout, "");
  assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, line);
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** Adds `delta` to one value of a tensor in a safetensors file, in place. */
async function tamper(path: string, tensor: string, index: number, delta: number) {
  const bytes = await Deno.readFile(path);
  const t = decodeSafetensors(bytes, path).tensors.get(tensor)!;
  assert.equal(t.data.buffer, bytes.buffer, "aligned data is a view of the file's bytes");
  t.data[index] += delta;
  await Deno.writeFile(path, bytes);
}

async function editConfig(run: string, edit: (j: Record<string, unknown>) => void) {
  const j = JSON.parse(await Deno.readTextFile(`${run}/config.json`));
  edit(j);
  await Deno.writeTextFile(`${run}/config.json`, JSON.stringify(j, null, 2));
}

Deno.test("verify: equal → 0; a changed weight, moment or tokenizer → 1 naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-verify-test-" });
  const tmp = `${dir}/tmp`, run = `${dir}/r`;
  await Deno.mkdir(tmp);
  await trainCli(run, 8);

  const same = await runCli(["verify", "--model", run, "--threads", "2"], tmp);
  await assertVerdict(
    same,
    0,
    /reproduces: model\.safetensors equal bit for bit after 8 steps/,
    tmp,
  );
  assert.match(same.stderr, /train \[#+\] 8\/8 steps/, "progress is shown");
  const state = await runCli(["verify", "--model", run, "--steps", "8", "--quiet"], tmp);
  await assertVerdict(state, 0, /checkpoint at step 8: weights, Adam moments and data/, tmp);
  assert.equal(state.stderr, "", "--quiet prints only the verdict");

  const weight = `${dir}/weight`;
  await copyDir(run, weight);
  await tamper(`${weight}/model.safetensors`, "transformer.h.0.mlp.c_fc.weight", 5, 0.5);
  await assertVerdict(
    await runCli(["verify", "--model", weight, "--quiet"], tmp),
    1,
    /does not reproduce: transformer\.h\.0\.mlp\.c_fc\.weight differs in 1 of 16384 values \(max \|Δ\| 0\.5\d*\) after 8 steps$/m,
    tmp,
  );

  const moment = `${dir}/moment`;
  await copyDir(run, moment);
  const spec = paramLayout(microConfig(8).model).specs.find((s) =>
    s.name === "transformer.h.1.attn.c_proj.weight"
  )!;
  await tamper(`${moment}/state/checkpoint.safetensors`, "adam_v", spec.offset + 3, 1e-3);
  await assertVerdict(
    await runCli(["verify", "--model", moment, "--steps", "8", "--quiet"], tmp),
    1,
    /checkpoint: adam_v of transformer\.h\.1\.attn\.c_proj\.weight differs in 1 of \d+ values/,
    tmp,
  );
  // The final weights of that run are untouched.
  await assertVerdict(
    await runCli(["verify", "--model", moment, "--quiet"], tmp),
    0,
    /reproduces/,
    tmp,
  );

  const tok = `${dir}/tok`;
  await copyDir(run, tok);
  const tj = JSON.parse(await Deno.readTextFile(`${tok}/tokenizer.json`));
  const [a, b] = Object.keys(tj.ranks);
  [tj.ranks[a], tj.ranks[b]] = [tj.ranks[b], tj.ranks[a]];
  await Deno.writeTextFile(`${tok}/tokenizer.json`, JSON.stringify(tj));
  const t0 = performance.now();
  await assertVerdict(
    await runCli(["verify", "--model", tok], tmp),
    1,
    /tokenizer\.json differs from the tokenizer training makes from the embedded corpus/,
    tmp,
  );
  assert.ok(performance.now() - t0 < 20_000, "a different tokenizer fails before training");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify: bad input is one line, exit 2, nothing left behind", async () => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-verify-test-" });
  const tmp = `${dir}/tmp`, run = `${dir}/r`;
  await Deno.mkdir(tmp);
  await trainCli(run, 8);
  const bad = async (args: string[], line: RegExp) => {
    assertBadInput(await runCli(["verify", ...args], tmp), line);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp)), []);
  };
  await bad([], /--model DIR is required/);
  await bad(["--model", `${dir}/none`], /none: no such run folder/);
  await bad(["--model", `${run}/config.json`], /not a folder/);
  await bad(["--model", run, "--steps", "0"], /--steps must be an integer ≥ 1, got '0'/);
  await bad(["--model", run, "--steps", "x"], /--steps must be an integer ≥ 1, got 'x'/);
  await bad(["--model", run, "--steps", "-3"], /--steps must be an integer ≥ 1, got '-3'/);
  await bad(["--model", run, "--steps", "9"], /--steps 9: .*r has only 8 steps/);
  await bad(
    ["--model", run, "--steps", "4"],
    /--steps 4: .*r keeps only its checkpoint at step 8 \(train overwrites it every 4 steps and at the end\): use --steps 8/,
  );
  await bad(["--model", run, "--threads", "0"], /--threads must be an integer in 1\.\.64/);
  await bad(["--model", run, "--nope"], /verify: Unknown option '--nope'/);

  const noState = `${dir}/nostate`;
  await copyDir(run, noState);
  await Deno.remove(`${noState}/state`, { recursive: true });
  await bad(["--model", noState, "--steps", "8"], /checkpoint\.safetensors: missing/);

  const noModel = `${dir}/nomodel`;
  await copyDir(run, noModel);
  await Deno.remove(`${noModel}/model.safetensors`);
  await bad(["--model", noModel], /model\.safetensors: missing, so there are no final weights/);

  const data = `${dir}/data`;
  await copyDir(run, data);
  await editConfig(data, (j) => (j.train as Record<string, unknown>).data = `${dir}/gone`);
  await bad(["--model", data], /trained on --data .*gone, which is not a folder here/);

  const ext = `${dir}/ext`;
  await copyDir(run, ext);
  await editConfig(ext, (j) => j.extended = [{ at_step: 4, from_steps: 6, to_steps: 7 }]);
  await bad(["--model", ext], /extended: the last entry ends at 7 steps, train\.steps is 8/);

  const shape = `${dir}/shape`;
  await copyDir(run, shape);
  await editConfig(shape, (j) => (j.model as Record<string, unknown>).nLayer = 3);
  await bad(
    ["--model", shape],
    /model\.safetensors: saved with model\.nLayer = 2 but config\.json says 3/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify: stopped and extended runs re-train in their parts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-verify-test-" });
  const tmp = `${dir}/tmp`;
  await Deno.mkdir(tmp);
  // A run stopped after its checkpoint at step 4 of 8 (what a kill leaves: train_test.ts shows a
  // killed run resumes to the uninterrupted run's bits).
  const stopped = `${dir}/stopped`;
  await train({
    out: stopped,
    rc: microConfig(8),
    threads: 1,
    resume: false,
    stopAt: 4,
    quiet: true,
  });
  await assert.rejects(Deno.stat(`${stopped}/model.safetensors`));
  assertBadInput(
    await runCli(["verify", "--model", stopped], tmp),
    /stopped at step 4: `verify --steps 4` checks that prefix/,
  );
  await assertVerdict(
    await runCli(["verify", "--model", stopped, "--steps", "4", "--quiet"], tmp),
    0,
    /reproduces its checkpoint at step 4/,
    tmp,
  );

  // Extended from the stopped checkpoint (at_step 4 < from_steps 8), then once more when done.
  const r1 = await runCli(["train", "--resume", "--out", stopped, "--steps", "12", "--quiet"]);
  assert.equal(r1.code, 0, r1.stderr);
  const r2 = await runCli(["train", "--resume", "--out", stopped, "--steps", "14", "--quiet"]);
  assert.equal(r2.code, 0, r2.stderr);
  const cfg = JSON.parse(await Deno.readTextFile(`${stopped}/config.json`));
  assert.deepEqual(
    cfg.extended.map((e: Record<string, number>) => [e.at_step, e.from_steps, e.to_steps]),
    [[4, 8, 12], [12, 12, 14]],
  );
  await assertVerdict(
    await runCli(["verify", "--model", stopped, "--quiet"], tmp),
    0,
    /reproduces: model\.safetensors equal bit for bit after 14 steps/,
    tmp,
  );
  const progress = await runCli(["verify", "--model", stopped, "--steps", "14"], tmp);
  await assertVerdict(progress, 0, /checkpoint at step 14/, tmp);
  assert.match(progress.stderr, /in 3 parts \(extended with --resume\)/);

  // Without the record of its extensions the run is not a 14-step run from scratch.
  await editConfig(stopped, (j) => delete j.extended);
  await assertVerdict(
    await runCli(["verify", "--model", stopped, "--quiet"], tmp),
    1,
    /does not reproduce: .* differs in \d+ of \d+ values .* after 14 steps; \d+ tensors differ/,
    tmp,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify: a --data run needs its folder, with the same files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-verify-test-" });
  const tmp = `${dir}/tmp`, py = `${dir}/py`, run = `${dir}/r`;
  await Deno.mkdir(tmp);
  await Deno.mkdir(py);
  for (let i = 0; i < 60; i++) {
    await Deno.writeTextFile(
      `${py}/m${i}.py`,
      `def f${i}(x, y=${i}):\n    total = x + y * ${i}\n    for i in range(${i}):\n` +
        `        total += i\n    return total\n\nprint(f${i}(${i}))\n`,
    );
  }
  await trainCli(run, 4, ["--vocab", "300", "--data", py]);
  await assertVerdict(
    await runCli(["verify", "--model", run, "--quiet"], tmp),
    0,
    /reproduces/,
    tmp,
  );
  await Deno.writeTextFile(`${py}/m7.py`, "x = [1, 2, 3]\n");
  await assertVerdict(
    await runCli(["verify", "--model", run, "--quiet"], tmp),
    1,
    /does not reproduce: (tokenizer\.json differs .*--data .*py|.* differs in )/,
    tmp,
  );
  await Deno.remove(py, { recursive: true });
  assertBadInput(
    await runCli(["verify", "--model", run], tmp),
    /trained on --data .*py, which is not a folder here/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify: Ctrl+C removes the temporary folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-verify-test-" });
  const tmp = `${dir}/tmp`, run = `${dir}/r`;
  await Deno.mkdir(tmp);
  await trainCli(run, 60);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, "verify", "--model", run, "--threads", "1", "--quiet"],
    stdout: "piped",
    stderr: "piped",
    env: { TMPDIR: tmp },
  }).spawn();
  // Interrupt once training has logged a step in the temporary run folder.
  let seen = false;
  for (let i = 0; i < 1000 && !seen; i++) {
    for await (const e of Deno.readDir(tmp)) {
      try {
        seen ||= (await Deno.readTextFile(`${tmp}/${e.name}/run/metrics.jsonl`)).length > 0;
      } catch {
        // Not there yet.
      }
    }
    if (!seen) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(seen, "verify never started training");
  child.kill("SIGINT");
  const out = await child.output();
  assert.equal(out.code, 130, new TextDecoder().decode(out.stderr));
  assert.deepEqual(await Array.fromAsync(Deno.readDir(tmp)), [], "temporary folder left");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("verify: the parts of an extended run; bitwise differences", async (t) => {
  await t.step("trainingSegments", () => {
    assert.deepEqual(trainingSegments(60, [], 60), [{ steps: 60, stopAt: 60, resume: false }]);
    assert.deepEqual(trainingSegments(60, [], 40), [{ steps: 60, stopAt: 40, resume: false }]);
    const ext = [
      { atStep: 4, fromSteps: 8, toSteps: 12 },
      { atStep: 12, fromSteps: 12, toSteps: 14 },
    ];
    assert.deepEqual(trainingSegments(14, ext, 14), [
      { steps: 8, stopAt: 4, resume: false },
      { steps: 12, stopAt: 12, resume: true },
      { steps: 14, stopAt: 14, resume: true },
    ]);
    assert.deepEqual(trainingSegments(14, ext, 10), [
      { steps: 8, stopAt: 4, resume: false },
      { steps: 12, stopAt: 10, resume: true },
    ]);
    assert.deepEqual(trainingSegments(14, ext, 4), [{ steps: 8, stopAt: 4, resume: false }]);
  });
  await t.step("parseExtensions", async () => {
    const e = (at: number, from: number, to: number) => ({
      at_step: at,
      from_steps: from,
      to_steps: to,
      thinwire: "0.1.0",
    });
    assert.deepEqual(parseExtensions({}, 8, "c"), []);
    assert.deepEqual(parseExtensions({ extended: [e(8, 8, 12)] }, 12, "c"), [
      { atStep: 8, fromSteps: 8, toSteps: 12 },
    ]);
    const bad = (extended: unknown, steps: number, line: RegExp) =>
      assertUserError(
        Promise.resolve().then(() => parseExtensions({ extended }, steps, "c")),
        line,
      );
    await bad("x", 8, /c: extended: not a list/);
    await bad([{ at_step: 1 }], 8, /entry 1 has no integer from_steps/);
    await bad([e(9, 8, 12)], 12, /entry 1 \(at_step 9, 8 → 12 steps\) is impossible/);
    await bad([e(8, 8, 8)], 8, /is impossible/);
    await bad([e(8, 8, 12), e(8, 10, 14)], 14, /entry 2 does not continue entry 1/);
    await bad([e(8, 8, 12), e(4, 12, 14)], 14, /entry 2 does not continue entry 1/);
    await bad([e(8, 8, 12)], 14, /last entry ends at 12 steps, train\.steps is 14/);
  });
  await t.step("bitDifference", () => {
    const a = Float32Array.of(1, 2, 3, 0, NaN);
    assert.equal(bitDifference(a, a.slice()), null);
    assert.deepEqual(bitDifference(a, Float32Array.of(1, 2.5, 1, 0, NaN)), {
      first: 1,
      count: 2,
      maxAbs: 2,
    });
    // -0 and 0 compare equal as numbers but are different bits.
    assert.deepEqual(bitDifference(a, Float32Array.of(1, 2, 3, -0, NaN)), {
      first: 3,
      count: 1,
      maxAbs: 0,
    });
    assert.ok(Number.isNaN(bitDifference(a, Float32Array.of(NaN, 2, 3, 0, NaN))!.maxAbs));
  });
  await t.step("verifyRun rejects a missing folder before making anything", async () => {
    await assertUserError(
      verifyRun({ dir: "/nonexistent/run", threads: 1, quiet: true }),
      /no such run folder/,
    );
  });
});
