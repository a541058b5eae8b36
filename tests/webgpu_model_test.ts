/**
 * The whole model on WebGPU: the unchanged Model and StepRunner on the WebGpuBackend the
 * commands use, against the CPU path on a 2-layer, width-32 model, step by step: the losses
 * agree within 1e-4 (relative), the weights keep nearly the same top-k pattern, a step is one
 * submission, and two GPU runs give the same bits; so do the sparse-gradient mode's steps
 * (--dense-grad-every 4, with the method's anneal and with a sparse one). Then circuit pruning's masked pass: the
 * ablated model's two-candidate loss at a few positions and its mask gradient.
 */
import assert from "node:assert/strict";
import { Backend, type ComputeBackend } from "../src/backend/backend.ts";
import * as ops from "../src/backend/ops/index.ts";
import type { WebGpuBackend } from "../src/backend/webgpu/webgpu_backend.ts";
import { PRESETS } from "../src/train/presets.ts";
import type { RunConfig } from "../src/run/config.ts";
import { StepRunner } from "../src/train/step.ts";
import { pruneAtInit } from "../src/train/sparse_anneal.ts";
import { Model } from "../src/model/model.ts";
import { randArray, rng, tinyModelConfig } from "./util.ts";
import { webgpuTest } from "./webgpu_util.ts";

const STEPS = 12;

function runConfig(dPosEmb = 0): RunConfig {
  const base = PRESETS.tiny;
  // The anneal reaches its target at step 6: top-k prunes on most steps.
  return {
    model: { ...tinyModelConfig(), dPosEmb },
    train: { ...base.train, steps: STEPS, batchSize: 4 },
  };
}

function batches(rc: RunConfig, steps = STEPS): { inputs: Int32Array; targets: Int32Array }[] {
  const r = rng(7);
  const n = rc.train.batchSize * rc.model.nCtx, V = rc.model.vocabSize;
  return Array.from({ length: steps }, () => ({
    inputs: Int32Array.from({ length: n }, () => Math.floor(r() * V)),
    targets: Int32Array.from({ length: n }, () => (r() < 0.1 ? -1 : Math.floor(r() * V))),
  }));
}

/** The steps on the shared WebGpuBackend, its arena restored afterwards. */
function gpuRun(g: WebGpuBackend, rc: RunConfig, data: ReturnType<typeof batches>) {
  const mark = g.arena.mark();
  try {
    const runner = new StepRunner(g, rc);
    runner.model.init(rc.train.seed);
    pruneAtInit(g, runner.model, rc);
    runner.model.refresh(!rc.train.dense);
    const before = g.stats();
    const losses: number[] = [];
    // Recorded without a wait, the loss read after each step (as a log step does).
    for (let s = 0; s < data.length; s++) {
      runner.record(data[s].inputs, data[s].targets, s);
      losses.push(runner.lastLoss());
    }
    const after = g.stats();
    const params = g.readF32(runner.model.params, runner.model.layout.total);
    return { losses, params, submits: after.submits - before.submits };
  } finally {
    g.arena.restore(mark);
  }
}

async function cpuRun(rc: RunConfig, data: ReturnType<typeof batches>) {
  const be = await Backend.create({ threads: 1 });
  try {
    const runner = new StepRunner(be, rc);
    runner.model.init(rc.train.seed);
    pruneAtInit(be, runner.model, rc);
    runner.model.refresh(!rc.train.dense);
    const losses = data.map((d, s) => runner.step(d.inputs, d.targets, s).loss);
    return { losses, params: be.arena.f32(runner.model.params, runner.model.layout.total).slice() };
  } finally {
    be.close();
  }
}

await webgpuTest("webgpu: the model's training steps against the CPU path", async (t, g) => {
  const rc = runConfig();
  const data = batches(rc);
  const cpu = await cpuRun(rc, data);
  const gpu = gpuRun(g, rc, data);

  await t.step("losses agree step by step within 1e-4", () => {
    for (let s = 0; s < STEPS; s++) {
      const rel = Math.abs(gpu.losses[s] - cpu.losses[s]) / cpu.losses[s];
      assert.ok(rel < 1e-4, `step ${s + 1}: GPU ${gpu.losses[s]}, CPU ${cpu.losses[s]}`);
    }
  });

  await t.step("the weights keep the same nonzeros (≥ 99.9%) and values (≤ 1e-3)", () => {
    let differ = 0, maxRel = 0;
    for (let i = 0; i < cpu.params.length; i++) {
      const a = gpu.params[i], b = cpu.params[i];
      if ((a === 0) !== (b === 0)) differ++;
      else maxRel = Math.max(maxRel, Math.abs(a - b) / Math.max(1e-2, Math.abs(b)));
    }
    assert.ok(
      differ <= cpu.params.length * 1e-3,
      `${differ} of ${cpu.params.length} differ in zeroness`,
    );
    assert.ok(maxRel < 1e-3, `weights differ by ${maxRel} relative`);
  });

  await t.step("one submission per step, and two GPU runs give the same bits", () => {
    // Per step: the step's own, and the loss read's (a copy and the map), nothing else.
    assert.ok(gpu.submits <= 2 * STEPS + 2, `${gpu.submits} submissions for ${STEPS} steps`);
    const again = gpuRun(g, rc, data);
    assert.deepEqual(again.losses, gpu.losses);
    assert.ok(again.params.every((v, i) => Object.is(v, gpu.params[i])), "weights differ");
  });

  await t.step("a non-finite loss is thrown at the next read, as the loss's", () => {
    const mark = g.arena.mark();
    try {
      const runner = new StepRunner(g, rc);
      runner.model.init(rc.train.seed);
      const wte = runner.model.view(runner.model.layout.wte);
      wte.fill(NaN);
      g.upload(runner.model.ptr(runner.model.layout.wte), 4 * wte.length);
      runner.record(data[0].inputs, data[0].targets, 0);
      assert.throws(() => runner.lastLoss(), /^KernelError: train: the loss has NaN\/Inf/);
      // Reported once: the status words are cleared by the read.
      g.sync();
    } finally {
      g.arena.restore(mark);
    }
  });

  // The sparse-gradient mode (R = 4: steps 4, 8 and 12 dense), with the method's anneal (the
  // sparse steps prune too: top-k guarded by the device's count) and with a sparse anneal (the
  // paper preset's start: pruned at init, no top-k between dense steps).
  for (const annealFrom of [undefined, 0.5]) {
    const what = annealFrom ? `sparse anneal from ${annealFrom}` : "the method's anneal";
    await t.step(
      `sparse-gradient steps (R = 4), ${what}: as the CPU's, one submission each, same bits twice`,
      async () => {
        const rk: RunConfig = {
          ...rc,
          train: { ...rc.train, denseGradEvery: 4, ...(annealFrom ? { annealFrom } : {}) },
        };
        const [c, gk] = [await cpuRun(rk, data), gpuRun(g, rk, data)];
        for (let s = 0; s < STEPS; s++) {
          const rel = Math.abs(gk.losses[s] - c.losses[s]) / c.losses[s];
          assert.ok(rel < 1e-4, `step ${s + 1}: GPU ${gk.losses[s]}, CPU ${c.losses[s]}`);
        }
        let differ = 0;
        for (let i = 0; i < c.params.length; i++) {
          if ((gk.params[i] === 0) !== (c.params[i] === 0)) differ++;
        }
        assert.ok(differ <= c.params.length * 1e-3, `${differ} differ in zeroness`);
        assert.ok(gk.submits <= 2 * STEPS + 2, `${gk.submits} submissions for ${STEPS} steps`);
        const again = gpuRun(g, rk, data);
        assert.ok(again.params.every((v, i) => Object.is(v, gk.params[i])), "weights differ");
        assert.deepEqual(again.losses, gk.losses);
      },
    );
  }

  await t.step("with learned positions (read-only channels), 4 steps", async () => {
    const rp = runConfig(4);
    const dp = batches(rp, 4);
    const [c, gp] = [await cpuRun(rp, dp), gpuRun(g, rp, dp)];
    for (let s = 0; s < 4; s++) {
      const rel = Math.abs(gp.losses[s] - c.losses[s]) / c.losses[s];
      assert.ok(rel < 1e-4, `step ${s + 1}: GPU ${gp.losses[s]}, CPU ${c.losses[s]}`);
    }
  });
});

/**
 * One masked pass of circuit pruning on `be`: every node ablated by m·x + (1 − m)·μ, logits at
 * the last position of each sequence, the pair loss there, and the gradient of its mean into the
 * masks. Returns the per-item losses and the mask gradient.
 */
function maskedPass(be: ComputeBackend) {
  const cfg = tinyModelConfig();
  const B = 4, T = cfg.nCtx, N = B * T, V = cfg.vocabSize;
  const model = new Model(be, cfg);
  model.init(3);
  const n = model.nodes.total;
  const r = rng(11);
  const tensor = (data: Float32Array | Int32Array) => {
    const t = be.arena.tensor([data.length]);
    if (data instanceof Int32Array) be.arena.viewI32(t).set(data);
    else be.arena.view(t).set(data);
    be.upload(t.ptr, 4 * data.length);
    return t.ptr;
  };
  const mask = tensor(Float32Array.from({ length: n }, () => (r() < 0.7 ? 1 : 0)));
  const mean = tensor(randArray(n, 12, 0.5));
  const dmask = tensor(new Float32Array(n));
  const tokens = Int32Array.from({ length: N }, () => Math.floor(r() * V));
  const colIds = Int32Array.from({ length: B }, (_, b) => b * T + T - 1);
  const cols = tensor(colIds);
  const pos = tensor(Int32Array.from({ length: B }, (_, i) => i));
  const ia = tensor(Int32Array.from({ length: B }, () => Math.floor(r() * V)));
  const ib = tensor(Int32Array.from({ length: B }, () => Math.floor(r() * V)));
  const losses = tensor(new Float32Array(B));
  model.under({ ablation: { mask, mean, dmask } }, () => {
    const a = model.prepare(B, T);
    model.forward(tokens, null, B, T, { logitCols: { ptr: cols, count: B } });
    const item = { logits: a.logits, pos, a: ia, b: ib, count: B, V, N: B };
    ops.pairLossForward(be, { losses, ...item });
    ops.fill(be, { x: a.dlogits, n: V * B, value: 0 });
    ops.pairLossBackward(be, { dlogits: a.dlogits, ...item, scale: 1 / B });
    model.backward({ seed: "dlogits", weightGrads: false });
  });
  be.download([losses, 4 * B], [dmask, 4 * n]);
  return {
    losses: be.arena.f32(losses, B).slice(),
    dmask: be.arena.f32(dmask, n).slice(),
  };
}

await webgpuTest("webgpu: circuit pruning's masked pass against the CPU path", async (_t, g) => {
  const cpu = await Backend.create({ threads: 1 });
  let c;
  try {
    c = maskedPass(cpu);
  } finally {
    cpu.close();
  }
  const gp = maskedPass(g);
  for (let i = 0; i < c.losses.length; i++) {
    assert.ok(Math.abs(gp.losses[i] - c.losses[i]) <= 1e-5 * Math.max(1, c.losses[i]), "losses");
  }
  const scale = Math.max(...c.dmask.map(Math.abs));
  assert.ok(scale > 0, "the mask gradient is not all zero");
  let worst = 0;
  for (let i = 0; i < c.dmask.length; i++) {
    const d = Math.abs(gp.dmask[i] - c.dmask[i]) / scale;
    assert.ok(d <= 1e-4, `dmask[${i}]: GPU ${gp.dmask[i]}, CPU ${c.dmask[i]}`);
    worst = Math.max(worst, d);
  }
  if (Deno.env.get("WEBGPU_REPORT")) console.log(`masked pass: dmask within ${worst} of its scale`);
});
