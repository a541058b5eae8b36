/**
 * WebGPU kernels against the CPU path's same ops, one row per kernel, at the small preset's
 * shapes (bench/util.ts MODEL): milliseconds per call on each side, the speed ratio (CPU time /
 * GPU time) and GFLOP/s (products) or GB/s (everything else: the bytes a call must read and
 * write). The CPU path runs the WASM kernels on 2 threads; the GPU side records `reps` calls
 * into one command buffer and waits once, so the ~12 ms a wait costs is spread over them (a
 * training step also waits once). Where no adapter exists it prints one line and returns.
 *
 * Run: deno task bench (all benches) or deno run -A bench/webgpu_bench.ts [--quick] [name…].
 * With --profile: only the device time of each kernel in one tiny-preset training step
 * (timestamp queries; one compute pass per kernel, so the total exceeds a normal step's).
 */
import { Backend, type ComputeBackend } from "../src/backend/backend.ts";
import * as ops from "../src/backend/ops/index.ts";
import { SparseMatrix } from "../src/backend/ops/sparse.ts";
import { describeGpu, gpuUnavailable } from "../src/backend/webgpu/device.ts";
import { GpuBackend } from "../src/backend/webgpu/gpu_backend.ts";
import * as gpuOps from "../src/backend/webgpu/ops.ts";
import { PRESETS } from "../src/train/presets.ts";
import type { RunConfig } from "../src/run/config.ts";
import { StepRunner } from "../src/train/step.ts";
import { WebGpuBackend } from "../src/backend/webgpu/webgpu_backend.ts";
import { bestMs, filled, fmt, gflops, MODEL, QUICK, table } from "./util.ts";
import { corpusBatches } from "./webgpu_compare.ts";

const { C, M, V, N } = MODEL;
const B = MODEL.B, T = MODEL.T, H = MODEL.H, DH = MODEL.D;
const PARAMS = MODEL.params;

interface Case {
  name: string;
  shape: string;
  /** Floating-point operations per call (GFLOP/s), or bytes read and written (GB/s). */
  flops?: number;
  bytes?: number;
  /**
   * Allocates and fills inputs on `be` (through the host views) and returns the timed call and
   * what must run once before it, after the inputs reached the device; `gpu` is set on the GPU
   * side.
   */
  setup: (be: Backend, gpu: GpuBackend | null) => Calls | (() => void);
}

interface Calls {
  prep: () => void;
  call: () => void;
}

const f4 = 4;

/** A weight [rows, cols] keeping `density` of its entries (every k-th), for the sparse rows. */
function sparseWeight(be: Backend, rows: number, cols: number, density: number): number {
  const w = filled(be, rows * cols, 3);
  const v = be.arena.f32(w, rows * cols);
  const step = Math.round(1 / density);
  for (let i = 0; i < v.length; i++) if (i % step !== 0) v[i] = 0;
  return w;
}

function matrix(be: Backend, gpu: GpuBackend | null, w: number, rows: number, cols: number) {
  const sm = gpu ? new gpuOps.GpuSparseMatrix(gpu, rows, cols) : new SparseMatrix(be, rows, cols);
  return { sm, refresh: () => sm.update(w) };
}

const CASES: Case[] = [
  {
    name: "gemm c_fc forward",
    shape: `${M}×${N}×${C}`,
    flops: 2 * M * N * C,
    setup: (be) => {
      const a = filled(be, M * C, 1), b = filled(be, C * N, 2), c = filled(be, M * N, 3);
      return () => ops.gemm(be, { M, N, K: C, a, b, c });
    },
  },
  {
    name: "gemm c_fc dW (transB)",
    shape: `${M}×${C}×${N}`,
    flops: 2 * M * N * C,
    setup: (be) => {
      const dy = filled(be, M * N, 1), x = filled(be, C * N, 2), dw = filled(be, M * C, 3);
      return () =>
        ops.gemm(be, { M, N: C, K: N, a: dy, b: x, transB: true, c: dw, accumulate: true });
    },
  },
  {
    name: "gemm lm_head forward",
    shape: `${V}×${N}×${C}`,
    flops: 2 * V * N * C,
    setup: (be) => {
      const a = filled(be, V * C, 1), b = filled(be, C * N, 2), c = filled(be, V * N, 3);
      return () => ops.gemm(be, { M: V, N, K: C, a, b, c });
    },
  },
  {
    name: "spmm forward (density 1/4)",
    shape: `${M}×${C} × [${C}, ${N}]`,
    flops: 2 * (M * C / 4) * N,
    setup: (be, gpu) => {
      const w = sparseWeight(be, M, C, 1 / 4), x = filled(be, C * N, 2), y = filled(be, M * N, 3);
      const { sm, refresh } = matrix(be, gpu, w, M, C);
      return { prep: refresh, call: () => ops.spmmForward(be, { w: sm, x, y, N }) };
    },
  },
  {
    name: "spmm input gradient (1/4)",
    shape: `${M}×${C}ᵀ × [${M}, ${N}]`,
    flops: 2 * (M * C / 4) * N,
    setup: (be, gpu) => {
      const w = sparseWeight(be, M, C, 1 / 4), dy = filled(be, M * N, 2), dx = filled(be, C * N, 3);
      const { sm, refresh } = matrix(be, gpu, w, M, C);
      return { prep: refresh, call: () => ops.spmmBackwardInput(be, { w: sm, dy, dx, N }) };
    },
  },
  {
    name: "sddmm kept dW (1/4)",
    shape: `${M}×${C} @ ${N}`,
    flops: 2 * (M * C / 4) * N,
    setup: (be, gpu) => {
      const w = sparseWeight(be, M, C, 1 / 4), dy = filled(be, M * N, 2), x = filled(be, C * N, 3);
      const out = filled(be, M * C, 4);
      const { sm, refresh } = matrix(be, gpu, w, M, C);
      return { prep: refresh, call: () => ops.sddmm(be, { w: sm, dy, x, N, out }) };
    },
  },
  {
    name: "CSR/CSC rebuild (1/4)",
    shape: `${M}×${C}`,
    bytes: 2 * M * C * f4 + 4 * (M * C / 4) * f4,
    setup: (be, gpu) => matrix(be, gpu, sparseWeight(be, M, C, 1 / 4), M, C).refresh,
  },
  {
    name: "attention forward",
    shape: `B${B} T${T} H${H} d${DH}`,
    flops: 2 * ops.attentionFlops({ B, T, H, dh: DH }),
    setup: (be) => {
      const act = H * DH * N;
      const q = filled(be, act, 1), k = filled(be, act, 2), v = filled(be, act, 3);
      const out = filled(be, act, 4), att = filled(be, H * B * T * T, 5), sink = filled(be, H, 6);
      return () => ops.attentionForward(be, { out, att, q, k, v, sink, B, T, H, dh: DH });
    },
  },
  {
    name: "attention backward (write)",
    shape: `B${B} T${T} H${H} d${DH}`,
    flops: 4 * ops.attentionFlops({ B, T, H, dh: DH }),
    setup: (be) => {
      const act = H * DH * N, an = H * B * T * T;
      const [q, k, v, out, dq, dk, dv, dout] = [1, 2, 3, 4, 5, 6, 7, 8].map((s) =>
        filled(be, act, s)
      );
      const att = filled(be, an, 9), datt = filled(be, an, 10);
      const sink = filled(be, H, 11), dsink = filled(be, H, 12);
      const a = { dq, dk, dv, dsink, datt, dout, q, k, v, att, sink, B, T, H, dh: DH };
      return {
        prep: () => ops.attentionForward(be, { out, att, q, k, v, sink, B, T, H, dh: DH }),
        call: () => ops.attentionBackwardWrite(be, a),
      };
    },
  },
  {
    name: "rmsnorm forward",
    shape: `[${C}, ${N}]`,
    bytes: 2 * C * N * f4,
    setup: (be) => {
      const out = filled(be, C * N, 1), rstd = filled(be, N, 2), inp = filled(be, C * N, 3);
      const weight = filled(be, C, 4);
      return () => ops.rmsnormForward(be, { out, rstd, inp, weight, C, N });
    },
  },
  {
    name: "rmsnorm backward (masked)",
    shape: `[${C}, ${N}]`,
    bytes: 4 * C * N * f4,
    setup: (be) => {
      const [dinp, dout, inp] = [1, 2, 3].map((s) => filled(be, C * N, s));
      const weight = filled(be, C, 4), dweight = filled(be, C, 5), rstd = filled(be, N, 6);
      const doutMask = be.arena.u8Buffer(C * N, "mask");
      be.arena.u8(doutMask, C * N).fill(1);
      return () =>
        ops.rmsnormBackward(be, { dinp, dweight, dout, inp, weight, rstd, C, N, doutMask });
    },
  },
  {
    name: "abstopk forward (k = M/4)",
    shape: `[${M}, ${N}]`,
    bytes: 2 * M * N * f4 + M * N,
    setup: (be) => {
      const out = filled(be, M * N, 1), inp = filled(be, M * N, 2);
      const mask = be.arena.u8Buffer(M * N, "mask");
      return () => ops.absTopKForward(be, { out, mask, inp, C: M, N, k: M / 4 });
    },
  },
  {
    name: "gelu forward (phi)",
    shape: `${M * N}`,
    bytes: 3 * M * N * f4,
    setup: (be) => {
      const out = filled(be, M * N, 1), inp = filled(be, M * N, 2, 4), phi = filled(be, M * N, 3);
      return () => ops.geluForward(be, { out, inp, phi, n: M * N });
    },
  },
  {
    name: "gelu backward (mask, phi)",
    shape: `${M * N}`,
    bytes: 4 * M * N * f4 + M * N,
    setup: (be) => {
      const [dinp, dout, inp, phi] = [1, 2, 3, 4].map((s) => filled(be, M * N, s, 4));
      const mask = be.arena.u8Buffer(M * N, "mask");
      be.arena.u8(mask, M * N).fill(1);
      return () => ops.geluBackwardWrite(be, { dinp, dout, inp, mask, phi, n: M * N });
    },
  },
  {
    name: "cross-entropy fwd + bwd",
    shape: `[${V}, ${N}]`,
    bytes: 3 * V * N * f4,
    setup: (be) => {
      const logits = filled(be, V * N, 1, 5), dlogits = filled(be, V * N, 2);
      const losses = filled(be, N, 3), stats = filled(be, 2 * N, 4);
      const targets = be.arena.tensor([N]).ptr;
      be.arena.i32(targets, N).forEach((_, i, t) => (t[i] = (i * 7) % V));
      return () => {
        ops.crossEntropyForward(be, { losses, logits, targets, V, N, stats });
        ops.crossEntropyBackward(be, { dlogits, logits, targets, V, N, scale: 1 / N, stats });
      };
    },
  },
  {
    name: "embedding backward",
    shape: `[${C}, ${N}] → [${V}, ${C}]`,
    bytes: 3 * C * N * f4,
    setup: (be) => {
      const dwte = filled(be, V * C, 1), dout = filled(be, C * N, 2);
      const tokens = be.arena.tensor([N]).ptr;
      be.arena.i32(tokens, N).forEach((_, i, t) => (t[i] = (i * 13) % V));
      return () => ops.embeddingBackward(be, { dwte, dout, tokens, C, N, V });
    },
  },
  {
    name: "bigram forward",
    shape: `[${V}, ${N}]`,
    bytes: 3 * V * N * f4,
    setup: (be) => {
      const logits = filled(be, V * N, 1), table = filled(be, V * V, 2);
      const tokens = be.arena.tensor([N]).ptr;
      be.arena.i32(tokens, N).forEach((_, i, t) => (t[i] = (i * 13) % V));
      return () => ops.bigramForward(be, { logits, tokens, table, V, N });
    },
  },
  {
    name: "bigram backward",
    shape: `[${V}, ${N}] → [${V}, ${V}]`,
    bytes: 3 * V * N * f4,
    setup: (be) => {
      const dtable = filled(be, V * V, 1), dlogits = filled(be, V * N, 2);
      const tokens = be.arena.tensor([N]).ptr;
      be.arena.i32(tokens, N).forEach((_, i, t) => (t[i] = (i * 13) % V));
      return () => ops.bigramBackward(be, { dtable, dlogits, tokens, V, N });
    },
  },
  {
    name: "adam step (all params)",
    shape: `${PARAMS}`,
    bytes: 7 * PARAMS * f4,
    setup: (be) => {
      const [param, grad, m, v] = [1, 2, 3, 4].map((s) => filled(be, PARAMS, s, 0.1));
      be.arena.f32(v, PARAMS).forEach((x, i, a) => (a[i] = Math.abs(x)));
      const h = { lr: 0.02, beta1: 0.9, beta2: 0.95, eps: 0.1, t: 3 };
      return () => ops.adamStep(be, { param, grad, m, v, n: PARAMS, ...h });
    },
  },
  {
    name: "gradient RMS normalise",
    shape: `${PARAMS}`,
    bytes: 3 * PARAMS * f4,
    setup: (be, gpu) => {
      const grad = filled(be, PARAMS, 1, 0.1);
      if (gpu) return () => gpuOps.gradRmsNormalize(gpu, { grad, n: PARAMS });
      return () => void ops.gradRmsNormalize(be, { grad, n: PARAMS });
    },
  },
  {
    name: "magnitude top-k lm_head (1/4, j=0)",
    shape: `${V}×${C}`,
    bytes: 6 * V * C * f4,
    setup: (be, gpu) => {
      const w = filled(be, V * C, 1);
      const src = filled(be, V * C, 1);
      const p = { w, rows: V, cols: C, k: (V * C) / 4 };
      // Restores the dense weights first (a copy), so every call selects from the same values.
      if (gpu) return () => (ops.copy(be, { dst: w, src, n: V * C }), gpuOps.magnitudeTopK(gpu, p));
      return () => (ops.copy(be, { dst: w, src, n: V * C }), ops.magnitudeTopK(be, p));
    },
  },
  {
    name: "magnitude top-k c_fc (1/4, j=4 rows)",
    shape: `${M}×${C}`,
    bytes: 6 * M * C * f4,
    setup: (be, gpu) => {
      const w = filled(be, M * C, 1), src = filled(be, M * C, 1);
      const p = { w, rows: M, cols: C, k: (M * C) / 4, j: 4, axis: "row" as const };
      if (gpu) return () => (ops.copy(be, { dst: w, src, n: M * C }), gpuOps.magnitudeTopK(gpu, p));
      return () => (ops.copy(be, { dst: w, src, n: M * C }), ops.magnitudeTopK(be, p));
    },
  },
  {
    name: "ablate forward + backward",
    shape: `[${C}, ${N}]`,
    bytes: 7 * C * N * f4,
    setup: (be) => {
      const [x, raw, dout, dinp] = [1, 2, 3, 4].map((s) => filled(be, C * N, s));
      const m = filled(be, C, 5), mean = filled(be, C, 6), dm = filled(be, C, 7);
      return () => {
        ops.ablateForward(be, { x, raw, m, mean, C, N });
        ops.ablateBackward(be, { dinp, dm, dout, raw, m, mean, C, N });
      };
    },
  },
];

function calls(x: Calls | (() => void)): Calls {
  return typeof x === "function" ? { prep: () => {}, call: x } : x;
}

/** Milliseconds per call of `call` on the GPU: batches of reps calls, one wait per batch. */
async function gpuMs(g: GpuBackend, call: () => void): Promise<number> {
  call();
  await g.sync();
  const batch = async (reps: number) => {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) call();
    await g.sync();
    return performance.now() - t0;
  };
  let reps = 1;
  const target = QUICK ? 60 : 250;
  for (let ms = await batch(reps); ms < target && reps < 4096; ms = await batch(reps)) reps *= 4;
  let best = Infinity;
  for (let r = 0; r < (QUICK ? 1 : 3); r++) best = Math.min(best, (await batch(reps)) / reps);
  return best;
}

export async function main(): Promise<void> {
  const only = Deno.args.filter((a) => !a.startsWith("--"));
  const why = await gpuUnavailable();
  if (why) {
    console.log(`\nWebGPU kernels: skipped, ${why}`);
    return;
  }
  if (Deno.args.includes("--profile")) return await profileStep();
  const g = await GpuBackend.create();
  const cpu = await Backend.create({ threads: 2 });
  await g.compile();
  console.log(`\nWebGPU kernels against the CPU path (2 threads), small preset shapes`);
  console.log(`device: ${describeGpu(g.info)}`);
  const rows: string[][] = [];
  const cases = CASES.filter((c) => !only.length || only.some((o) => c.name.includes(o)));
  for (const c of cases) {
    const cm = cpu.arena.mark(), gm = g.arena.mark();
    try {
      const onCpu = calls(c.setup(cpu, null));
      onCpu.prep();
      const cpuMs = bestMs(onCpu.call, { reps: QUICK ? 2 : 5, budgetMs: QUICK ? 300 : 1500 });
      const onGpu = calls(c.setup(g as unknown as Backend, g));
      // The inputs were written into the host copy: one upload of everything allocated.
      const end = (g.arena.used + 3) & ~3;
      g.upload(gm, end - gm);
      onGpu.prep();
      const gms = await gpuMs(g, onGpu.call);
      const rate = (ms: number) => c.flops ? gflops(c.flops, ms) : (c.bytes ?? 0) / ms / 1e6;
      rows.push([
        c.name,
        c.shape,
        fmt(cpuMs, 2),
        fmt(gms, 2),
        fmt(cpuMs / gms, 2),
        `${fmt(rate(cpuMs))} ${c.flops ? "GFLOP/s" : "GB/s"}`,
        `${fmt(rate(gms))} ${c.flops ? "GFLOP/s" : "GB/s"}`,
      ]);
    } finally {
      cpu.arena.reset(cm);
      g.arena.reset(gm);
    }
  }
  if (rows.length) {
    console.log(
      table(["op", "shape", "CPU ms", "GPU ms", "GPU speed ×", "CPU rate", "GPU rate"], rows),
    );
  }
  g.close();
  cpu.close();
  if (!only.length || only.some((o) => "training".includes(o))) await trainingRow();
}

/**
 * A training step of the tiny preset (the method, R = 1) on each side, on the same corpus
 * batches, as `train` runs it: StepRunner on the CPU path (2 threads) and on the WebGpuBackend
 * of `--backend webgpu`, which records each step as one submission and is read once at the end.
 */
async function trainingRow(): Promise<void> {
  const base = PRESETS.tiny;
  const warm = 1, timed = QUICK ? 2 : 5;
  const rc: RunConfig = { model: base.model, train: { ...base.train } };
  const data = corpusBatches(rc, warm + timed);
  const cpu = await Backend.create({ threads: 2 });
  const runner = new StepRunner(cpu, rc);
  runner.model.init(rc.train.seed);
  runner.model.refresh(true);
  data.slice(0, warm).forEach((d, s) => runner.step(d.inputs, d.targets, s));
  let t0 = performance.now();
  for (let s = warm; s < warm + timed; s++) runner.step(data[s].inputs, data[s].targets, s);
  const cpuMs = (performance.now() - t0) / timed;
  cpu.close();

  const g = await WebGpuBackend.create();
  const gr = new StepRunner(g, rc);
  gr.model.init(rc.train.seed);
  gr.model.refresh(true);
  for (let s = 0; s < warm; s++) gr.record(data[s].inputs, data[s].targets, s);
  gr.lastLoss();
  const before = g.stats();
  t0 = performance.now();
  for (let s = warm; s < warm + timed; s++) gr.record(data[s].inputs, data[s].targets, s);
  gr.lastLoss();
  const gpuMs = (performance.now() - t0) / timed;
  const after = g.stats();
  g.close();
  const N = rc.train.batchSize * rc.model.nCtx;
  console.log(`\nTraining step, tiny preset (${N} tokens/step), same batches on both`);
  console.log(
    table(
      ["step", "CPU ms", "GPU ms", "GPU speed ×", "CPU tok/s", "GPU tok/s", "dispatches/step"],
      [[
        "tiny, method (R = 1)",
        fmt(cpuMs, 0),
        fmt(gpuMs, 0),
        fmt(cpuMs / gpuMs, 3),
        fmt((N * 1000) / cpuMs, 0),
        fmt((N * 1000) / gpuMs, 0),
        fmt((after.dispatches - before.dispatches) / timed, 0),
      ]],
    ),
  );
}

if (import.meta.main) await main();

/**
 * The in-thread GpuBackend where a ComputeBackend is taken: it records as one does, but its
 * download is asynchronous (awaited here), so only code that records without reading runs on it.
 */
function asComputeBackend(g: GpuBackend): ComputeBackend {
  return g as unknown as ComputeBackend;
}

/** Device time per kernel of one tiny-preset training step (after one untimed step). */
async function profileStep(): Promise<void> {
  const base = PRESETS.tiny;
  const rc: RunConfig = { model: base.model, train: { ...base.train } };
  const data = corpusBatches(rc, 2);
  const g = await GpuBackend.create({ timestamps: true });
  console.log(`device: ${describeGpu(g.info)}`);
  // The in-thread backend (timestamps need it): the step records without reading, so
  // StepRunner runs on it; its waits are the awaited syncs here.
  const gr = new StepRunner(asComputeBackend(g), rc);
  gr.model.init(rc.train.seed);
  gr.record(data[0].inputs, data[0].targets, 0);
  await g.sync();
  g.profile = new Map();
  const t0 = performance.now();
  gr.record(data[1].inputs, data[1].targets, 1);
  await g.sync();
  const wall = performance.now() - t0;
  await g.timings();
  const entries = [...g.profile.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const total = entries.reduce((t, [, e]) => t + e.ms, 0);
  console.log(`Tiny-preset training step: ${fmt(total, 1)} ms of kernels, ${fmt(wall, 1)} ms wall`);
  console.log(table(
    ["kernel", "calls", "ms", "share"],
    entries.map(([k, e]) => [k, `${e.calls}`, fmt(e.ms, 2), fmt((100 * e.ms) / total, 1) + "%"]),
  ));
  g.close();
}
