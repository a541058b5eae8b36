/**
 * `--backend webgpu` end to end: train, eval, prune and logits run through the CLI (a process
 * each, as a user runs them) on the WebGPU backend and on the CPU path, and agree: the training
 * losses within 1% at every logged step with most kept positions shared (the sparse-gradient
 * mode's: 1% on average, 2% at most), the paper preset's sparse-gradient flags train, eval's task losses
 * within 0.01, the same circuit from prune, the same top tokens from logits. Without an adapter
 * `--backend webgpu` fails in one line with exit code 2 (checked on every machine, by hiding the
 * adapter). Tiny shapes: lavapipe runs each in well under a minute.
 *
 * THINWIRE_WEBGPU_HEAVY=1 adds the acceptance run: the tiny preset's 200 steps on both
 * (about 15 minutes on lavapipe), loss curves within 1% and the top-k agreement printed.
 */
import assert from "node:assert/strict";
import { loadRun } from "../src/run/run_dir.ts";
import { isSparsified } from "../src/train/sparsify.ts";
import { trainingBytes } from "../src/model/memory.ts";
import { PRESETS } from "../src/train/presets.ts";
import { targetDensity } from "../src/model/params.ts";
import { MICRO_TRAIN, runCli } from "./util.ts";
import { TINY_SOLVES, trainTiny } from "./run_fixture.ts";
import { gpuUnavailableHere, sharedGpu } from "./webgpu_util.ts";

const why = await gpuUnavailableHere();
const gpuTest = (name: string, fn: () => Promise<void>) =>
  Deno.test(why ? { name: `${name}: skipped, ${why}`, ignore: true, fn() {} } : { name, fn });

/** The metrics.jsonl rows of a run folder. */
async function metrics(dir: string): Promise<Record<string, number>[]> {
  const text = await Deno.readTextFile(`${dir}/metrics.jsonl`);
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

/** Of the positions run a keeps in its sparsified tensors, the share run b keeps too. */
async function keptAgreement(a: string, b: string): Promise<number> {
  const [ra, rb] = [await loadRun(a), await loadRun(b)];
  try {
    let kept = 0, both = 0;
    for (const spec of ra.model.layout.specs) {
      if (!isSparsified(spec, ra.rc)) continue;
      const va = ra.model.weights(spec), vb = rb.model.weights(spec);
      for (let i = 0; i < va.length; i++) {
        if (va[i] !== 0) kept++;
        if (va[i] !== 0 && vb[i] !== 0) both++;
      }
    }
    return both / kept;
  } finally {
    ra.close();
    rb.close();
  }
}

/** Trains with these flags on both backends into two folders under `root`. */
async function trainBoth(root: string, flags: string[]): Promise<{ cpu: string; gpu: string }> {
  const cpu = `${root}/cpu`, gpu = `${root}/gpu`;
  for (const [out, backend] of [[cpu, "cpu"], [gpu, "webgpu"]]) {
    const r = await runCli(["train", ...flags, "--out", out, "--backend", backend]);
    assert.equal(r.code, 0, r.stderr);
  }
  return { cpu, gpu };
}

/**
 * The relative differences of train/xent and val/xent between two runs' logged steps: the
 * largest, and the mean over the training curve's points.
 */
async function lossAgreement(cpu: string, gpu: string) {
  const [mc, mg] = [await metrics(cpu), await metrics(gpu)];
  assert.deepEqual(mg.map((r) => r.step), mc.map((r) => r.step));
  let worst = 0, sum = 0;
  mc.forEach((c, i) => {
    for (const k of ["train/xent", "val/xent"]) {
      if (!(k in c)) continue;
      const rel = Math.abs(mg[i][k] - c[k]) / c[k];
      worst = Math.max(worst, rel);
      if (k === "train/xent") sum += rel;
    }
  });
  return { worst, mean: sum / mc.length, rows: mc.length, cpu: mc, gpu: mg };
}

gpuTest("train --backend webgpu: 8 micro steps agree with the CPU's within 1%", async () => {
  const root = await Deno.makeTempDir({ prefix: "thinwire-webgpu-train-" });
  try {
    const { cpu, gpu } = await trainBoth(root, [...MICRO_TRAIN, "--steps", "8"]);
    const { worst, rows, gpu: mg } = await lossAgreement(cpu, gpu);
    assert.equal(rows, 4);
    assert.ok(worst < 0.01, `losses differ by ${(100 * worst).toFixed(3)}%`);
    // The GPU logs what the CPU logs: sparsity counts and throughput included.
    assert.ok(
      mg.every((r) =>
        r.L0 > 0 && r.tokens_per_s > 0 && "alive_neurons/transformer.h.0.mlp.c_fc.weight" in r
      ),
    );
    const share = await keptAgreement(cpu, gpu);
    assert.ok(share >= 0.99, `kept positions agree ${(100 * share).toFixed(2)}%`);
    // A checkpoint written on the GPU resumes on the CPU (and the run folder is the same kind).
    const r = await runCli(["train", "--out", gpu, "--resume", "--steps", "10", "--quiet"]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

gpuTest(
  "train --backend webgpu --dense-grad-every 4 --anneal-from 0.5: 12 micro steps as the CPU's",
  async () => {
    const root = await Deno.makeTempDir({ prefix: "thinwire-webgpu-kept-" });
    try {
      // Steps 4, 8 and 12 dense; the sparse anneal's counts fall on them.
      const flags = ["--steps", "12", "--dense-grad-every", "4", "--anneal-from", "0.5"];
      const { cpu, gpu } = await trainBoth(root, [...MICRO_TRAIN, ...flags]);
      const { worst, mean, rows } = await lossAgreement(cpu, gpu);
      assert.equal(rows, 6);
      assert.ok(mean < 0.01, `losses differ by ${(100 * mean).toFixed(3)}% on average`);
      assert.ok(worst < 0.02, `losses differ by up to ${(100 * worst).toFixed(3)}%`);
      const share = await keptAgreement(cpu, gpu);
      assert.ok(share >= 0.99, `kept positions agree ${(100 * share).toFixed(2)}%`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);

gpuTest("train --backend webgpu takes the paper preset's sparse-gradient flags", async () => {
  const root = await Deno.makeTempDir({ prefix: "thinwire-webgpu-paper-" });
  try {
    // The paper preset's R and its sparse start at the block target, on the tiny shape (the
    // paper's ef 4 would take minutes a step on lavapipe).
    const paper = PRESETS.paper.train, tiny = PRESETS.tiny;
    const start = targetDensity("block", tiny.train.pfrac, tiny.model.ef);
    assert.equal(paper.annealFrom, targetDensity("block", paper.pfrac, PRESETS.paper.model.ef));
    const out = `${root}/run`;
    const r = await runCli([
      "train",
      ...MICRO_TRAIN,
      ...["--steps", "2", "--dense-grad-every", String(paper.denseGradEvery)],
      ...["--anneal-from", String(start), "--out", out, "--backend", "webgpu"],
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rows = await metrics(out);
    assert.deepEqual(rows.map((m) => m.step), [2]);
    assert.ok(Number.isFinite(rows[0]["train/xent"]));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

gpuTest("eval --backend webgpu: task losses within 0.01 of the CPU's", async () => {
  const root = await Deno.makeTempDir({ prefix: "thinwire-webgpu-eval-" });
  try {
    const run = `${root}/run`;
    const t = await runCli(["train", ...MICRO_TRAIN, "--steps", "6", "--out", run]);
    assert.equal(t.code, 0, t.stderr);
    const report = async (backend: string) => {
      const r = await runCli([
        "eval",
        "--model",
        run,
        "--pairs",
        "6",
        "--json",
        "-",
        "--backend",
        backend,
      ]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const [c, g] = [await report("cpu"), await report("webgpu")];
    assert.equal(g.tasks.length, 20);
    let worst = 0;
    for (let i = 0; i < c.tasks.length; i++) {
      assert.equal(g.tasks[i].task, c.tasks[i].task);
      if (c.tasks[i].loss === null) continue;
      worst = Math.max(worst, Math.abs(g.tasks[i].loss - c.tasks[i].loss));
    }
    assert.ok(worst <= 0.01, `task losses differ by up to ${worst}`);
    assert.ok(Math.abs(g.val.loss - c.val.loss) <= 0.01 * c.val.loss, "validation loss");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

gpuTest("prune --backend webgpu finds the CPU's circuit on the tiny model", async () => {
  const root = await Deno.makeTempDir({ prefix: "thinwire-webgpu-prune-" });
  try {
    await trainTiny(`${root}/run`);
    // Two copies, so that each backend computes its own node means.
    const copies = { cpu: `${root}/cpu`, webgpu: `${root}/gpu` };
    const circuits: Record<string, { nodes: { id: string }[]; losses: Record<string, number> }> =
      {};
    for (const [backend, dir] of Object.entries(copies)) {
      await Deno.mkdir(dir);
      for (const f of ["config.json", "tokenizer.json", "model.safetensors"]) {
        await Deno.copyFile(`${root}/run/${f}`, `${dir}/${f}`);
      }
      const r = await runCli([
        "prune",
        ...["--model", dir, "--task", TINY_SOLVES, "--target", "0.5", "--backend", backend],
        ...["--steps", "4", "--batch-pairs", "4", "--prune-pairs", "8", "--pairs", "8"],
        ...["--random-draws", "2", "--delta-pairs", "2", "--bisect-pairs", "4"],
        ...["--means-tokens", "1024"],
      ]);
      assert.equal(r.code, 0, r.stderr);
      circuits[backend] = JSON.parse(
        await Deno.readTextFile(`${dir}/circuits/${TINY_SOLVES}.json`),
      );
    }
    const ids = (c: { nodes: { id: string }[] }) => c.nodes.map((n) => n.id).sort();
    assert.deepEqual(ids(circuits.webgpu), ids(circuits.cpu));
    for (const k of ["full", "circuit", "ablated"]) {
      const [c, g] = [circuits.cpu.losses[k], circuits.webgpu.losses[k]];
      assert.ok(Math.abs(g - c) <= 1e-4 * Math.max(1, c), `${k} loss: GPU ${g}, CPU ${c}`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

gpuTest("logits --backend webgpu: the CPU's top tokens and logits", async () => {
  const root = await Deno.makeTempDir({ prefix: "thinwire-webgpu-logits-" });
  try {
    const run = `${root}/run`;
    const t = await runCli(["train", ...MICRO_TRAIN, "--steps", "2", "--out", run]);
    assert.equal(t.code, 0, t.stderr);
    const top = async (backend: string) => {
      const r = await runCli(
        ["logits", "--model", run, "--prompt", "def f(x):\n    return", "--backend", backend],
      );
      assert.equal(r.code, 0, r.stderr);
      // rank, prob, logit, id, token per line after the header.
      return r.stdout.trim().split("\n").slice(2).map((l) => l.trim().split(/\s+/));
    };
    const [c, g] = [await top("cpu"), await top("webgpu")];
    assert.deepEqual(g.map((l) => l[3]), c.map((l) => l[3]));
    g.forEach((l, i) => assert.ok(Math.abs(Number(l[2]) - Number(c[i][2])) <= 2e-3, l[2]));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("--backend webgpu without an adapter: one line, exit 2, nothing written", async () => {
  const root = await Deno.makeTempDir({ prefix: "thinwire-webgpu-none-" });
  try {
    // Deno's WebGPU limited to a backend Linux lacks: no adapter, on any machine.
    const hide = { DENO_WEBGPU_BACKEND: "dx12" };
    const out = `${root}/run`;
    const r = await runCli(
      ["train", ...MICRO_TRAIN, "--out", out, "--backend", "webgpu"],
      root,
      hide,
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^thinwire: webgpu: no WebGPU adapter .*\n$/);
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
    const bad = await runCli(["eval", "--model", out, "--backend", "gpu"], root);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--backend must be cpu or webgpu, got 'gpu'/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

const small = PRESETS.small;
const smallNeeds = trainingBytes(small.model, small.train.batchSize, small.model.nCtx);
const binds = why ? 0 : (await sharedGpu()).info.maxStorageBufferBindingSize;
const overLimit = "train --backend webgpu refuses a model over the device's binding limit";
if (!why && smallNeeds <= binds) {
  Deno.test({
    name: `${overLimit}: skipped, this device binds the small preset`,
    ignore: true,
    fn() {},
  });
} else {
  gpuTest(overLimit, async () => {
    const root = await Deno.makeTempDir({ prefix: "thinwire-webgpu-limit-" });
    try {
      const out = `${root}/run`;
      const args = ["train", "--out", out, "--steps", "2", "--backend", "webgpu"];
      // Mesa's lavapipe crashes now and then while the process exits (status 139 or 134, about 1
      // run in 20, after the refusal below was printed); a refused run writes nothing, so such a
      // run is repeated once.
      let r = await runCli(args, root);
      if (r.code === 139 || r.code === 134) r = await runCli(args, root);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /binds \d+ MiB at once \(maxStorageBufferBindingSize\)/);
      assert.equal(r.stderr.trim().split("\n").length, 1);
      await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}

if (Deno.env.get("THINWIRE_WEBGPU_HEAVY")) {
  // The curve agrees within 1% on average; single logged steps drift up to ~1% apart from step
  // 45 on (docs/webgpu.md: as far as the CPU path drifts from itself after a one-ulp nudge, 1.49%),
  // so the largest difference is held to 2%.
  gpuTest("heavy: 200 tiny-preset steps on both, loss curves within 1%", async () => {
    const root = await Deno.makeTempDir({ prefix: "thinwire-webgpu-200-" });
    try {
      const flags = ["--preset", "tiny", "--steps", "200", "--threads", "2", "--quiet"];
      const { cpu, gpu } = await trainBoth(root, flags);
      const { worst, mean, cpu: mc, gpu: mg } = await lossAgreement(cpu, gpu);
      const share = await keptAgreement(cpu, gpu);
      const tps = (m: Record<string, number>[]) =>
        m.reduce((t, r) => t + r.tokens_per_s, 0) / m.length;
      console.log(
        `200 tiny steps: loss difference ${(100 * mean).toFixed(3)}% on average, largest ` +
          `${(100 * worst).toFixed(3)}%, kept positions ` +
          `agreeing ${(100 * share).toFixed(1)}%, tokens/s CPU ${tps(mc).toFixed(0)}, GPU ` +
          `${tps(mg).toFixed(0)}`,
      );
      assert.ok(mean < 0.01, `losses differ by ${(100 * mean).toFixed(3)}% on average`);
      assert.ok(worst < 0.02, `losses differ by up to ${(100 * worst).toFixed(3)}%`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
}
