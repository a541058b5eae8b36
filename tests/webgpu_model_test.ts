/**
 * The whole model on WebGPU: the unchanged Model through the ops wrappers and the GPU step
 * (src/train/webgpu_step.ts) against the CPU path's StepRunner on a 2-layer, width-32 model,
 * step by step: the losses agree within 1e-4 (relative), the weights keep nearly the same
 * top-k pattern, and two GPU runs give the same bits.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { GpuBackend } from "../src/backend/webgpu/gpu_backend.ts";
import { PRESETS, type RunConfig } from "../src/train/config.ts";
import { StepRunner } from "../src/train/step.ts";
import { GpuStepRunner } from "../src/train/webgpu_step.ts";
import { rng, tinyModelConfig } from "./util.ts";
import { gpuTest } from "./webgpu_util.ts";

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

async function gpuRun(rc: RunConfig, data: ReturnType<typeof batches>) {
  const g = await GpuBackend.create();
  try {
    const runner = new GpuStepRunner(g, rc);
    runner.init(rc.train.seed);
    const losses: number[] = [];
    for (let s = 0; s < data.length; s++) {
      runner.step(data[s].inputs, data[s].targets, s);
      losses.push(await runner.loss());
    }
    const params = await g.readF32(runner.model.params, runner.model.layout.total);
    return { losses, params, stats: g.stats };
  } finally {
    g.close();
  }
}

async function cpuRun(rc: RunConfig, data: ReturnType<typeof batches>) {
  const be = await Backend.create({ threads: 1 });
  try {
    const runner = new StepRunner(be, rc);
    runner.model.init(rc.train.seed);
    runner.model.refresh(!rc.train.dense);
    const losses = data.map((d, s) => runner.step(d.inputs, d.targets, s).loss);
    return { losses, params: be.arena.f32(runner.model.params, runner.model.layout.total).slice() };
  } finally {
    be.close();
  }
}

await gpuTest("webgpu: the model's training steps against the CPU path", async (t) => {
  const rc = runConfig();
  const data = batches(rc);
  const cpu = await cpuRun(rc, data);
  const gpu = await gpuRun(rc, data);

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

  await t.step("one submission per step, and two GPU runs give the same bits", async () => {
    // Per step: the token upload submits the previous step; the loss read submits its own.
    assert.ok(gpu.stats.submits <= 3 * STEPS + 4, `${gpu.stats.submits} submissions`);
    const again = await gpuRun(rc, data);
    assert.deepEqual(again.losses, gpu.losses);
    assert.ok(again.params.every((v, i) => Object.is(v, gpu.params[i])), "weights differ");
  });

  await t.step("with learned positions (read-only channels), 4 steps", async () => {
    const rp = runConfig(4);
    const dp = batches(rp, 4);
    const [c, g] = [await cpuRun(rp, dp), await gpuRun(rp, dp)];
    for (let s = 0; s < 4; s++) {
      const rel = Math.abs(g.losses[s] - c.losses[s]) / c.losses[s];
      assert.ok(rel < 1e-4, `step ${s + 1}: GPU ${g.losses[s]}, CPU ${c.losses[s]}`);
    }
  });
});
