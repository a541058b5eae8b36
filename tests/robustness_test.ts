/**
 * What a user can do wrong, or what can go wrong around a command, gives one clear line and the
 * documented exit code, with nothing half-written and nothing left behind: output paths that are
 * links, devices, FIFOs or folders; training sizes no machine can hold; two trainings of one run;
 * a run killed before its first checkpoint; checkpoints from another run or with NaNs; files that
 * are FIFOs; circuit files that do not belong to the run; pair counts past what is scored at once.
 */
import assert from "node:assert/strict";
import { UserError } from "../src/errors.ts";
import { checkWritable, writeAtomic } from "../src/util/write_atomic.ts";
import { encodeSafetensors } from "../src/model/safetensors.ts";
import { decodeSafetensors } from "../src/model/safetensors.ts";
import { type RunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import { NODE_LOCATIONS } from "../src/model/nodes.ts";
import { makeRandomRun } from "./run_fixture.ts";
import { MICRO_TRAIN, runCli } from "./util.ts";

const isRoot = Deno.uid() === 0;

/** A micro training run of `steps` steps (tests/util.ts MICRO_TRAIN). */
const microRun = (steps = 12) => [...MICRO_TRAIN, "--steps", String(steps)];

async function listing(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

async function isFifo(path: string): Promise<boolean> {
  return (await Deno.lstat(path)).isFifo === true;
}

async function mkfifo(path: string): Promise<void> {
  const r = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(r.code, 0, "mkfifo");
  assert.ok(await isFifo(path));
}

Deno.test("writes: links, devices, FIFOs and folders are never replaced by a rename", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-writes-" });
  try {
    await t.step("a link to a file: the file gets the bytes, the link stays a link", async () => {
      await Deno.writeTextFile(`${dir}/real.json`, "old");
      await Deno.symlink(`${dir}/real.json`, `${dir}/link.json`);
      await writeAtomic(`${dir}/link.json`, "new");
      assert.ok((await Deno.lstat(`${dir}/link.json`)).isSymlink);
      assert.equal(await Deno.readTextFile(`${dir}/real.json`), "new");
      assert.deepEqual(await listing(dir), ["link.json", "real.json"]);
    });
    await t.step("a FIFO: written through to its reader, still a FIFO", async () => {
      const fifo = `${dir}/pipe`;
      await mkfifo(fifo);
      const reader = Deno.readTextFile(fifo);
      await writeAtomic(fifo, "through the pipe");
      assert.equal(await reader, "through the pipe");
      assert.ok(await isFifo(fifo));
      await Deno.remove(fifo);
    });
    await t.step("a character device made here: written through, still a device", async () => {
      if (!isRoot) {
        console.log("robustness_test: not root, so no device node can be made: step not run");
        return;
      }
      const node = `${dir}/null`;
      const mk = await new Deno.Command("mknod", { args: [node, "c", "1", "3"] }).output();
      assert.equal(mk.code, 0, "mknod");
      await writeAtomic(node, "discarded");
      assert.ok((await Deno.lstat(node)).isCharDevice);
      // A device that refuses the bytes (ENOSPC): a one-line error, exit 1, nothing else.
      const full = `${dir}/full`;
      await new Deno.Command("mknod", { args: [full, "c", "1", "7"] }).output();
      await assert.rejects(writeAtomic(full, "x"), (e: unknown) => {
        assert.ok(e instanceof UserError);
        assert.equal(e.exitCode, 1);
        assert.match(e.message, /full: writing failed/);
        return true;
      });
      assert.ok((await Deno.lstat(full)).isCharDevice);
      await Deno.remove(node);
      await Deno.remove(full);
    });
    await t.step("a folder, or a missing folder: one line, exit 2, no temp file", async () => {
      await Deno.mkdir(`${dir}/sub`);
      for (
        const [path, pattern] of [
          [`${dir}/sub`, /sub: is a folder/],
          [`${dir}/missing/out.json`, /the folder it would go in does not exist/],
        ] as const
      ) {
        await assert.rejects(writeAtomic(path, "x"), (e: unknown) => {
          assert.ok(e instanceof UserError);
          assert.equal(e.exitCode, 2);
          assert.match(e.message, pattern);
          return true;
        });
      }
      await assert.rejects(checkWritable(`${dir}/missing/a.json`, "--json"), /does not exist/);
      assert.ok((await listing(dir)).every((n) => !n.endsWith(".tmp")));
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("eval --json into a missing folder fails before evaluating anything", async () => {
  const run = await makeRandomRun(structuredClone(PRESETS.tiny), "thinwire-robust-eval-");
  try {
    const r = await runCli(["eval", "--model", run, "--json", `${run}/nope/a.json`]);
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr.trim(),
      `thinwire: --json ${run}/nope/a.json: the folder ${run}/nope does not exist`,
    );
    // No table was printed: nothing was evaluated.
    assert.equal(r.stdout, "");
  } finally {
    await Deno.remove(run, { recursive: true });
  }
});

Deno.test("train: impossible sizes and values are refused before anything is written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-robust-sizes-" });
  try {
    for (
      const [flags, pattern] of [
        [["--seed", "99999999999999999999"], /seed must be an integer in 0\.\.4294967295/],
        [["--steps", "1e300"], /steps must be an integer in 1\.\.1000000000/],
        [["--lr", "1e308"], /lr must be in \(0, 10\]/],
        [["--n-ctx", "100000"], /needs [\d.]+ GiB of WebAssembly memory, which holds 2\.00 GiB/],
        [["--layers", "1000000000"], /WebAssembly memory/],
        [["--batch", "1000000000"], /WebAssembly memory/],
      ] as const
    ) {
      const out = `${dir}/r`;
      const r = await runCli(["train", "--preset", "tiny", "--out", out, ...flags]);
      assert.equal(r.code, 2, `${flags.join(" ")}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      await assert.rejects(Deno.stat(out), `${flags.join(" ")} left ${out} behind`);
    }
    const neg = await runCli(["eval", "--model", dir, "--pairs", "-5"]);
    assert.equal(neg.stderr.trim(), "thinwire: --pairs must be an integer in 1..2048, got '-5'");
    for (
      const args of [
        ["eval", "--model", dir, "--pairs", "1000000"],
        ["prune", "--model", dir, "--task", "with_as", "--pairs", "3000"],
        ["prune", "--model", dir, "--task", "with_as", "--prune-pairs", "3000"],
      ]
    ) {
      const r = await runCli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /must be an integer in 1\.\.2048/);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train: one process per run, and a run killed before its first checkpoint resumes from 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-robust-lock-" });
  try {
    // The reference: an uninterrupted run.
    const ref = await runCli(["train", ...microRun(300), "--out", `${dir}/ref`]);
    assert.equal(ref.code, 0, ref.stderr);
    const want = await Deno.readFile(`${dir}/ref/model.safetensors`);

    // A run whose first checkpoint comes at its end, killed once it has written its config.
    const out = `${dir}/run`;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "cli.ts",
        "train",
        ...microRun(300),
        "--save-every",
        "1000",
        "--out",
        out,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    for (let i = 0; i < 600; i++) {
      try {
        await Deno.stat(`${out}/metrics.jsonl`);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // While it trains, a second training of the same run is refused.
    const second = await runCli(["train", "--resume", "--out", out, "--quiet"]);
    child.kill("SIGKILL");
    await child.status;
    await child.stderr.cancel();
    await assert.rejects(Deno.stat(`${out}/state/checkpoint.safetensors`));
    assert.equal(second.code, 2, second.stderr);
    assert.match(second.stderr, /another process is training this run/);
    assert.equal(second.stderr.trim().split("\n").length, 1);
    // Killed before its first checkpoint: --resume trains it from step 0 to the reference's bits.
    const resumed = await runCli(["train", "--resume", "--out", out]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(await Deno.readFile(`${out}/model.safetensors`), want);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train --resume refuses a checkpoint with NaNs, of another config, or another tokenizer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-robust-resume-" });
  try {
    const a = `${dir}/a`, b = `${dir}/b`;
    for (const [out, lr] of [[a, "0.02"], [b, "0.03"]]) {
      const r = await runCli([
        "train",
        ...microRun(8),
        "--save-every",
        "4",
        "--lr",
        lr,
        "--out",
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
    }
    const ckpt = `${a}/state/checkpoint.safetensors`;
    const good = await Deno.readFile(ckpt);
    const model = await Deno.readFile(`${a}/model.safetensors`);
    const resume = async (pattern: RegExp) => {
      const r = await runCli(["train", "--resume", "--out", a, "--steps", "12", "--quiet"]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      assert.deepEqual(await Deno.readFile(`${a}/model.safetensors`), model);
    };
    // The same shape trained with another lr.
    await Deno.copyFile(`${b}/state/checkpoint.safetensors`, ckpt);
    await resume(/was saved by a run with another config/);
    // NaN parameters.
    const f = decodeSafetensors(good, "ckpt");
    const params = f.tensors.get("params")!;
    params.data[3] = NaN;
    await Deno.writeFile(ckpt, encodeSafetensors([...f.tensors.values()], f.metadata));
    await resume(/tensor params has 1 NaN\/Inf value\(s\): not resumable/);
    await Deno.writeFile(ckpt, good);
    // A tokenizer.json that is not the one config.json names.
    const cfg = JSON.parse(await Deno.readTextFile(`${a}/config.json`));
    await Deno.writeTextFile(
      `${a}/config.json`,
      JSON.stringify({ ...cfg, tokenizer: "bpe2048-00000000" }),
    );
    await resume(/tokenizer\.json: is bpe2048-\w+ but the model was trained with bpe2048-00000000/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reads: a FIFO in place of a file, and circuit files that are not the run's", async () => {
  const rc: RunConfig = structuredClone(PRESETS.tiny);
  const run = await makeRandomRun(rc, "thinwire-robust-reads-");
  try {
    // config.json as a FIFO nobody writes to: one line, not a hang.
    const config = await Deno.readFile(`${run}/config.json`);
    await Deno.remove(`${run}/config.json`);
    await mkfifo(`${run}/config.json`);
    const r = await runCli(["eval", "--model", run]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /config\.json: not a regular file \(a device or pipe\)/);
    await Deno.remove(`${run}/config.json`);
    await Deno.writeFile(`${run}/config.json`, config);

    // Circuit files: a malformed id, a node the model lacks, another task's circuit.
    const c = {
      format: "thinwire.circuit",
      version: 1,
      thinwire: "0",
      model: { run: "x", weights_sha256: "0".repeat(64), config: rc.model },
      task: "with_as",
      target: 0.15,
      method: "learned",
      ablation: "zero",
      freeze_norm: false,
      seed: 0,
      hyperparameters: {},
      pairs: { prune_seed: 1, eval_seed: 2, prune_pairs: 8, eval_pairs: 8 },
      nodes: [{
        id: "0.mlp.post_act.3",
        layer: 0,
        location: "mlp.post_act",
        index: 3,
        mean: 0,
        delta: 0,
      }],
      edges: [],
      counts: Object.fromEntries(NODE_LOCATIONS.map((l) => [l, l === "mlp.post_act" ? 1 : 0])),
      losses: {
        full: 0.1,
        circuit: 0.1,
        circuit_calibrated: 0.1,
        ablated: 1,
        random: { mean: 1, sd: 0, draws: 1 },
      },
      calibration: { scale: 1, shift: 0 },
      curve: [],
      ranking: [],
      examples: [],
      time_s: 1,
      timing: {},
    };
    await Deno.mkdir(`${run}/circuits`);
    const path = `${run}/circuits/with_as.json`;
    for (
      const [circuit, pattern] of [
        [{ ...c, nodes: [{ ...c.nodes[0], id: "0.mlp.bogus.3" }] }, /not a node id/],
        [
          { ...c, nodes: [{ ...c.nodes[0], id: "9.mlp.post_act.3", layer: 9 }] },
          /node 9\.mlp\.post_act\.3 is not a node of this model/,
        ],
        [{ ...c, task: "else_elif" }, /holds the circuit of task 'else_elif', not of with_as/],
      ] as const
    ) {
      await Deno.writeTextFile(path, JSON.stringify(circuit));
      const r = await runCli([
        "export",
        "--model",
        run,
        "--task",
        "with_as",
        "--out",
        `${run}/c.html`,
      ]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, pattern);
      await assert.rejects(Deno.stat(`${run}/c.html`));
    }
  } finally {
    await Deno.remove(run, { recursive: true });
  }
});

Deno.test("bench --help prints its usage and starts nothing; a bad flag is one line", async () => {
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../bench/run.ts", import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  assert.match(new TextDecoder().decode(help.stdout), /^usage: deno task bench/);
  const bad = await run(["--bogus"]);
  assert.equal(bad.code, 2);
  assert.equal(
    new TextDecoder().decode(bad.stderr).trim(),
    "thinwire: bench: Unknown option '--bogus' (see --help)",
  );
});
