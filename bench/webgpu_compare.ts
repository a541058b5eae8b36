/**
 * The CPU path and `--backend webgpu` (StepRunner on the WebGpuBackend) trained side by side on the same
 * batches of the embedded corpus (the tiny preset, 200 steps by default): the training loss at
 * every logged step on each and their relative difference, then, per sparsified tensor, how
 * many kept positions the two agree on. Opt-in (minutes on lavapipe):
 *
 *   deno run -A bench/webgpu_compare.ts [--steps 200] [--preset tiny] [--control]
 *
 * --control compares the CPU path with itself instead, one weight nudged by one ulp after init:
 * how far training alone amplifies a last-bit difference over the same steps, the yardstick for
 * the GPU's drift.
 */
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
import { describeGpu, gpuUnavailable } from "../src/backend/webgpu/device.ts";
import { WebGpuBackend } from "../src/backend/webgpu/webgpu_backend.ts";
import { TRAIN_SEED } from "../src/data/corpus/index.ts";
import { corpusSource, splitBatch } from "../src/data/dataset.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { PRESETS } from "../src/train/presets.ts";
import type { RunConfig } from "../src/run/config.ts";
import { isSparsified } from "../src/train/sparsify.ts";
import { StepRunner } from "../src/train/step.ts";
import { fmt, table } from "./util.ts";

/** `steps` batches of the preset's shape from the corpus stream the trainer reads. */
export function corpusBatches(rc: RunConfig, steps: number) {
  const B = rc.train.batchSize, T = rc.model.nCtx;
  const tok = loadDefaultTokenizer();
  if (tok.vocabSize !== rc.model.vocabSize) throw new Error("the preset's vocabulary is not 2048");
  const src = corpusSource(tok, (TRAIN_SEED + rc.train.seed) >>> 0);
  return Array.from({ length: steps }, () => {
    const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
    splitBatch(src.nextBatch(B, T), B, T, inputs, targets);
    return { inputs, targets };
  });
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      steps: { type: "string", default: "200" },
      preset: { type: "string", default: "tiny" },
      control: { type: "boolean", default: false },
    },
  });
  const steps = Number(values.steps);
  const base = PRESETS[values.preset!];
  if (!base || !Number.isInteger(steps) || steps < 1) throw new Error("bad --steps or --preset");
  const why = values.control ? null : await gpuUnavailable();
  if (why) {
    console.log(`webgpu compare: skipped, ${why}`);
    return;
  }
  const rc: RunConfig = { model: base.model, train: { ...base.train, steps } };
  const data = corpusBatches(rc, steps);
  const every = rc.train.logEvery;

  const cpu = await Backend.create({ threads: 2 });
  const runner = new StepRunner(cpu, rc);
  runner.model.init(rc.train.seed);
  runner.model.refresh(!rc.train.dense);
  const cpuLoss: number[] = [];
  const t0 = performance.now();
  data.forEach((d, s) => cpuLoss.push(runner.step(d.inputs, d.targets, s).loss));
  const cpuMs = (performance.now() - t0) / steps;

  const other = values.control ? await nudgedCpuRun(rc, data) : await gpuRun(rc, data, every);
  const gpuLoss = other.losses, gpuMs = other.ms;
  const otherName = values.control ? "nudged CPU" : "GPU";

  const rows: string[][] = [];
  let worst = 0;
  for (let s = every - 1; s < steps; s += every) {
    const rel = Math.abs(gpuLoss[s] - cpuLoss[s]) / cpuLoss[s];
    worst = Math.max(worst, rel);
    rows.push([`${s + 1}`, cpuLoss[s].toFixed(5), gpuLoss[s].toFixed(5), rel.toExponential(2)]);
  }
  console.log(table(["step", "CPU loss", `${otherName} loss`, "relative diff"], rows));
  console.log(`largest relative loss difference: ${worst.toExponential(2)}`);

  const total = runner.model.layout.total;
  const cpuW = cpu.arena.f32(runner.model.params, total);
  const gpuW = other.params;
  const tensors: string[][] = [];
  let kept = 0, agree = 0;
  for (const spec of runner.model.layout.specs) {
    if (!isSparsified(spec, rc)) continue;
    let k = 0, both = 0;
    for (let i = spec.offset; i < spec.offset + spec.size; i++) {
      if (cpuW[i] !== 0) k++;
      if (cpuW[i] !== 0 && gpuW[i] !== 0) both++;
    }
    kept += k;
    agree += both;
    tensors.push([spec.name, `${k}`, `${both}`, fmt((100 * both) / Math.max(1, k), 3) + "%"]);
  }
  console.log(table(["tensor", "kept (CPU)", "kept by both", "agree"], tensors));
  console.log(
    `top-k pattern: ${agree} of ${kept} kept positions agree (${fmt((100 * agree) / kept, 3)}%); ` +
      `${fmt(cpuMs, 0)} ms/step on the CPU (2 threads), ${fmt(gpuMs, 0)} ms/step on the ` +
      otherName,
  );
  cpu.close();
}

type Batches = ReturnType<typeof corpusBatches>;

/** The GPU step on the batches, the loss read at logged steps (as the trainer would). */
async function gpuRun(rc: RunConfig, data: Batches, every: number) {
  const g = await WebGpuBackend.create();
  console.log(`device: ${describeGpu(g.info)}`);
  const gr = new StepRunner(g, rc);
  gr.model.init(rc.train.seed);
  gr.model.refresh(!rc.train.dense);
  const losses: number[] = [];
  const t0 = performance.now();
  for (let s = 0; s < data.length; s++) {
    gr.record(data[s].inputs, data[s].targets, s);
    if ((s + 1) % every === 0 || s + 1 === data.length) losses[s] = gr.lastLoss();
  }
  const ms = (performance.now() - t0) / data.length;
  const params = g.readF32(gr.model.params, gr.model.layout.total);
  g.close();
  return { losses, ms, params };
}

/** The CPU path again, with the last bit of one lm_head weight flipped after init. */
async function nudgedCpuRun(rc: RunConfig, data: Batches) {
  const be = await Backend.create({ threads: 2 });
  const runner = new StepRunner(be, rc);
  runner.model.init(rc.train.seed);
  const bits = new Uint32Array(be.memory.buffer, runner.model.ptr(runner.model.layout.lmHead), 1);
  bits[0] ^= 1;
  runner.model.refresh(!rc.train.dense);
  const t0 = performance.now();
  const losses = data.map((d, s) => runner.step(d.inputs, d.targets, s).loss);
  const ms = (performance.now() - t0) / data.length;
  const params = be.arena.f32(runner.model.params, runner.model.layout.total).slice();
  be.close();
  return { losses, ms, params };
}

if (import.meta.main) await main();
