/**
 * WebGPU kernels of attention, the losses, Adam, the gradient RMS, the weight top-k, the sparse
 * products, the sparsity counts and circuit pruning's ablation, against their scalar twins at
 * the tolerance each case states, and run twice for the same bits. Where the CPU wrapper needs
 * a result on the host, the case runs the GPU form from src/backend/webgpu/ops.ts on the GPU
 * (its result lands in an `out` buffer) and the CPU wrapper on the CPU. WEBGPU_REPORT=1 prints
 * each case's distances.
 */
import assert from "node:assert/strict";
import type { Backend } from "../src/backend/backend.ts";
import * as ops from "../src/backend/ops/index.ts";
import { SparseMatrix } from "../src/backend/ops/sparse.ts";
import { GpuBackend } from "../src/backend/webgpu/gpu_backend.ts";
import * as gpuOps from "../src/backend/webgpu/ops.ts";
import * as refAblate from "../src/reference/ablate.ts";
import * as refAdam from "../src/reference/adamw.ts";
import * as refAtt from "../src/reference/attention.ts";
import * as refPrune from "../src/reference/prune.ts";
import * as refReduce from "../src/reference/reduce.ts";
import * as refSparse from "../src/reference/sparse.ts";
import * as refTopk from "../src/reference/topk.ts";
import * as refXent from "../src/reference/xent.ts";
import { randArray, randomGraph, rng } from "./util.ts";
import {
  type CaseReport,
  checkCase,
  gpuTest,
  type Host,
  type KernelCase,
  report,
} from "./webgpu_util.ts";

/** The GpuBackend behind a Backend-typed argument, or null on the CPU path. */
function gpuOf(be: Backend): GpuBackend | null {
  const x = be as unknown;
  return x instanceof GpuBackend ? x : null;
}

const twin = (fn: (a: never) => unknown) => (h: Host) => void fn(h as never);

// ---- attention ----

const S = { B: 2, T: 7, H: 2, dh: 5 };
const act = S.H * S.dh * S.B * S.T, attN = S.H * S.B * S.T * S.T;

/** The CPU kernel's own test bound against the f64 twin; exp differs by a few ulp here too. */
const ATT_TOL = { rel: 3e-6 };

function attentionCases(): KernelCase[] {
  const fwd: KernelCase = {
    name: "attentionForward (attention_forward)",
    data: {
      out: new Float32Array(act),
      att: new Float32Array(attN),
      q: randArray(act, 1, 2),
      k: randArray(act, 2, 2),
      v: randArray(act, 3),
      sink: randArray(S.H, 4, 2),
    },
    outputs: ["out", "att"],
    scalars: S,
    op: (be, a) =>
      ops.attentionForward(be, {
        out: a.out,
        att: a.att,
        q: a.q,
        k: a.k,
        v: a.v,
        sink: a.sink,
        ...S,
      }),
    twin: twin(refAtt.attentionForward),
    tol: ATT_TOL,
  };
  const back = (write: boolean, sink: boolean): KernelCase => {
    const seed = write ? 20 : 10;
    return {
      name: `attentionBackward${write ? "Write" : ""}${sink ? " sink" : ""} ` +
        `(attention_backward${write ? "_write" : ""}${sink ? ", …_sink_sum" : ""})`,
      data: {
        out: new Float32Array(act),
        att: new Float32Array(attN),
        q: randArray(act, seed, 2),
        k: randArray(act, seed + 1, 2),
        v: randArray(act, seed + 2),
        sink: randArray(S.H, seed + 3, 2),
        dq: randArray(act, seed + 4),
        dk: randArray(act, seed + 5),
        dv: randArray(act, seed + 6),
        dsink: randArray(S.H, seed + 7),
        datt: new Float32Array(attN),
        dout: randArray(act, seed + 8),
      },
      outputs: ["dq", "dk", "dv", "dsink"],
      scalars: S,
      op: (be, a) => {
        const sk = sink ? a.sink : 0;
        ops.attentionForward(be, {
          out: a.out,
          att: a.att,
          q: a.q,
          k: a.k,
          v: a.v,
          sink: sk,
          ...S,
        });
        (write ? ops.attentionBackwardWrite : ops.attentionBackward)(be, {
          dq: a.dq,
          dk: a.dk,
          dv: a.dv,
          dsink: a.dsink,
          datt: a.datt,
          dout: a.dout,
          q: a.q,
          k: a.k,
          v: a.v,
          att: a.att,
          sink: sk,
          ...S,
        });
      },
      twin: (h) => {
        const sk = sink ? h.sink : null;
        refAtt.attentionForward({ ...h, sink: sk });
        (write ? refAtt.attentionBackwardWrite : refAtt.attentionBackward)({
          ...h,
          sink: sk,
          dsink: sink ? h.dsink : null,
        });
      },
      tol: ATT_TOL,
    };
  };
  return [fwd, back(false, true), back(true, true), back(true, false)];
}

// ---- losses ----

const V = 29, N = 18;

function xentData(seed: number) {
  const logits = randArray(V * N, seed, 5);
  const r = rng(seed + 1);
  for (let i = 0; i < logits.length; i += 7) logits[i] = r() < 0.5 ? 80 : -80;
  const targets = Int32Array.from({ length: N }, () => (r() < 0.2 ? -1 : Math.floor(r() * V)));
  return { logits, targets };
}

/** The CPU's own test bound (log and exp differ from the f64 twin by a few ulp). */
const XENT_TOL = { rel: 1e-6 };

function lossCases(): KernelCase[] {
  const d1 = xentData(30), d2 = xentData(31), d3 = xentData(32);
  const r = rng(33);
  const count = 9;
  const pos = Int32Array.from({ length: count }, () => Math.floor(r() * N));
  const ia = Int32Array.from({ length: count }, () => Math.floor(r() * V));
  const ib = Int32Array.from({ length: count }, () => Math.floor(r() * V));
  pos[1] = pos[0], ia[1] = ia[0]; // two items on one logit: their gradients add in order
  return [
    {
      name: "crossEntropyForward (crossentropy_forward)",
      data: { losses: new Float32Array(N), ...d1, stats: new Float32Array(2 * N) },
      outputs: ["losses"],
      scalars: { V, N },
      op: (be, a) =>
        ops.crossEntropyForward(be, {
          losses: a.losses,
          logits: a.logits,
          targets: a.targets,
          V,
          N,
          stats: a.stats,
        }),
      twin: twin(refXent.crossEntropyForward),
      tol: XENT_TOL,
    },
    {
      name: "crossEntropyBackward (crossentropy_backward)",
      data: { dlogits: new Float32Array(V * N), ...d2 },
      outputs: ["dlogits"],
      scalars: { V, N, scale: 1 / 13 },
      op: (be, a) =>
        ops.crossEntropyBackward(be, {
          dlogits: a.dlogits,
          logits: a.logits,
          targets: a.targets,
          V,
          N,
          scale: a.scale,
        }),
      twin: twin(refXent.crossEntropyBackward),
      tol: XENT_TOL,
    },
    {
      name: "crossEntropyBackward stats (…_forward, …_backward_stats)",
      data: {
        losses: new Float32Array(N),
        dlogits: new Float32Array(V * N),
        ...d3,
        stats: new Float32Array(2 * N),
      },
      outputs: ["losses", "dlogits"],
      scalars: { V, N, scale: 1 / 13 },
      op: (be, a) => {
        const common = { logits: a.logits, targets: a.targets, V, N, stats: a.stats };
        ops.crossEntropyForward(be, { losses: a.losses, ...common });
        ops.crossEntropyBackward(be, { dlogits: a.dlogits, scale: a.scale, ...common });
      },
      twin: (h) => {
        refXent.crossEntropyForward(h);
        refXent.crossEntropyBackward(h);
      },
      tol: XENT_TOL,
    },
    {
      name: "meanLoss (GPU form: mean_loss_to)",
      data: { losses: randArray(N, 34, 3), targets: d1.targets, out: new Float32Array(1) },
      outputs: ["out"],
      scalars: { N },
      op: (be, a) => {
        const g = gpuOf(be);
        if (g) gpuOps.meanLoss(g, { losses: a.losses, targets: a.targets, N, out: a.out });
        else {be.arena.f32(a.out, 1)[0] = ops.meanLoss(be, {
            losses: a.losses,
            targets: a.targets,
            N,
          });}
      },
      twin: (h) => (h.out[0] = refXent.meanLoss(h)),
      tol: { rel: 1e-6 },
    },
    {
      name: "pairLossForward (pair_loss_forward)",
      data: { losses: new Float32Array(count), logits: randArray(V * N, 35, 6), pos, a: ia, b: ib },
      outputs: ["losses"],
      scalars: { V, N, count },
      op: (be, a) =>
        ops.pairLossForward(be, {
          losses: a.losses,
          logits: a.logits,
          pos: a.pos,
          a: a.a,
          b: a.b,
          count,
          V,
          N,
        }),
      twin: twin(refXent.pairLossForward),
      tol: { ulp: 8, rel: 1e-6 },
    },
    ...[1, 0.3].map((logitScale): KernelCase => ({
      name: `pairLossBackward (pair_loss_backward), logits × ${logitScale}`,
      data: { dlogits: randArray(V * N, 36), logits: randArray(V * N, 37, 6), pos, a: ia, b: ib },
      outputs: ["dlogits"],
      scalars: { V, N, count, scale: 0.25, logitScale },
      op: (be, a) =>
        ops.pairLossBackward(be, {
          dlogits: a.dlogits,
          logits: a.logits,
          pos: a.pos,
          a: a.a,
          b: a.b,
          count,
          V,
          N,
          scale: a.scale,
          logitScale: a.logitScale,
        }),
      twin: twin(refXent.pairLossBackward),
      tol: { ulp: 4, rel: 1e-6 },
    })),
  ];
}

// ---- optimizer, gradient RMS ----

const n = 20011;
const hyper = { lr: 0.02, beta1: 0.9, beta2: 0.95, eps: 0.1, t: 7 };

function optimizerCases(): KernelCase[] {
  const R = 23, K = 31;
  const w = randArray(R * K, 40);
  for (let i = 0; i < w.length; i += 3) w[i] = 0;
  const nnz = w.filter((x) => x !== 0).length;
  return [
    {
      name: "adamStep (adam_step)",
      data: {
        param: randArray(n, 41),
        grad: randArray(n, 42),
        m: randArray(n, 43, 0.1),
        v: randArray(n, 44, 0.1).map(Math.abs),
      },
      outputs: ["param", "m", "v"],
      scalars: { n, ...hyper },
      op: (be, a) =>
        ops.adamStep(be, { param: a.param, grad: a.grad, m: a.m, v: a.v, n, ...hyper }),
      twin: twin(refAdam.adamStep),
      tol: {},
    },
    {
      name: "adamStepCsr (GPU sparse update, adam_step_csr_f32)",
      data: {
        param: w,
        grad: randArray(R * K, 45),
        m: randArray(R * K, 46, 0.1),
        v: randArray(R * K, 47, 0.1).map(Math.abs),
      },
      outputs: ["param", "m", "v"],
      scalars: { ...hyper, factor: 0.998 },
      op: (be, a) => {
        const g = gpuOf(be);
        const sm = g ? new gpuOps.GpuSparseMatrix(g, R, K) : new SparseMatrix(be, R, K);
        sm.update(a.param);
        ops.adamStepCsr(be, {
          w: sm,
          grad: a.grad,
          param: a.param,
          m: a.m,
          v: a.v,
          ...hyper,
          factor: a.factor,
        });
      },
      twin: (h) => refAdam.adamStepCsr({ ...h, grad: h.grad.subarray(0, nnz) }),
      tol: {},
    },
    {
      name: "gradRmsNormalize (GPU form: sumsq_partials, rms_finish, scale_by_word)",
      data: { grad: randArray(n, 48, 3), out: new Float32Array(2) },
      outputs: ["grad", "out"],
      scalars: { n },
      op: (be, a) => {
        const g = gpuOf(be);
        if (g) gpuOps.gradRmsNormalize(g, { grad: a.grad, n, out: a.out });
        else {
          const rms = ops.gradRmsNormalize(be, { grad: a.grad, n });
          be.arena.f32(a.out, 2).set([rms, 1 / (rms + 1e-5)]);
        }
      },
      twin: (h) => {
        const rms = refReduce.gradRmsNormalize(h);
        h.out.set([rms, 1 / (rms + 1e-5)]);
      },
      // f32 partial sums where the CPU sums in f64: the factor may differ in its last bit.
      tol: { ulp: 1, rel: 1e-6 },
    },
    {
      // Pruning's τ-gradient clipping: the CPU decides on the host, the GPU on the device.
      name: "sumSquares + clip by norm (GPU form: sumsq_partials, norm_finish, scale_by_word)",
      data: { x: randArray(n, 52, 0.5), out: new Float32Array(3) },
      outputs: ["x", "out"],
      scalars: { n },
      op: (be, a) => {
        const g = gpuOf(be);
        if (g) return gpuOps.sumSquares(g, { x: a.x, n, out: a.out, clip: 10 });
        const ss = ops.sumSquares(be, { x: a.x, n });
        const norm = Math.sqrt(ss);
        if (norm > 10) ops.scale(be, { x: a.x, n, factor: 10 / norm });
        be.arena.f32(a.out, 3).set([ss, norm, norm > 10 ? 10 / norm : 1]);
      },
      twin: (h) => {
        const ss = refReduce.sumSquares(h);
        const norm = Math.sqrt(ss);
        const f = Math.fround(norm > 10 ? 10 / norm : 1);
        for (let i = 0; i < n; i++) h.x[i] = Math.fround(h.x[i] * f);
        h.out.set([ss, norm, f]);
      },
      tol: { ulp: 1, rel: 1e-6 },
    },
    {
      name: "gradRmsNormalizeSpans (GPU form)",
      data: {
        x: randArray(9000, 49),
        y: randArray(17, 50),
        z: randArray(8192, 51),
        out: new Float32Array(2),
      },
      outputs: ["x", "y", "z", "out"],
      scalars: {},
      op: (be, a) => {
        const spans: [number, number][] = [[a.x, 9000], [a.y, 17], [a.z, 8192]];
        const g = gpuOf(be);
        if (g) gpuOps.gradRmsNormalizeSpans(g, spans, a.out);
        else {
          const rms = ops.gradRmsNormalizeSpans(be, spans);
          be.arena.f32(a.out, 2).set([rms, 1 / (rms + 1e-5)]);
        }
      },
      twin: (h) => {
        const rms = refReduce.gradRmsNormalizeSpans([h.x, h.y, h.z]);
        h.out.set([rms, 1 / (rms + 1e-5)]);
      },
      tol: { ulp: 1, rel: 1e-6 },
    },
    {
      // The sparse-gradient mode's RMS (src/train/kept_grads.ts): two spans whose lengths live
      // on the device, zero past them; the CPU and the twin get the spans cut to those lengths.
      name: "gradRmsNormalizeSpans, count on the device (GPU form: rms_finish_words)",
      data: {
        x: randArray(9000, 53),
        p: randArray(300, 54).map((v, i) => i < 170 ? v : 0),
        q: randArray(64, 55).map((v, i) => i < 40 ? v : 0),
        counts: Int32Array.of(170, 40),
        words: new Int32Array(2),
        out: new Float32Array(2),
      },
      outputs: ["x", "p", "q", "out"],
      scalars: {},
      op: (be, a) => {
        const g = gpuOf(be);
        if (g) {
          be.arena.i32(a.words, 2).set([a.counts >> 2, (a.counts >> 2) + 1]);
          g.upload(a.words, 8);
          const spans: [number, number][] = [[a.x, 9000], [a.p, 300], [a.q, 64]];
          gpuOps.gradRmsNormalizeSpans(g, spans, a.out, { base: 9000, words: a.words, n: 2 });
        } else {
          const rms = ops.gradRmsNormalizeSpans(be, [[a.x, 9000], [a.p, 170], [a.q, 40]]);
          be.arena.f32(a.out, 2).set([rms, 1 / (rms + 1e-5)]);
        }
      },
      twin: (h) => {
        const rms = refReduce.gradRmsNormalizeSpans([
          h.x,
          h.p.subarray(0, 170),
          h.q.subarray(0, 40),
        ]);
        h.out.set([rms, 1 / (rms + 1e-5)]);
      },
      tol: { ulp: 1, rel: 1e-6 },
    },
  ];
}

// ---- top-k and the sparsity counts ----

/** Weights with many equal magnitudes (ties at the threshold) and some zeros. */
function tiedWeights(size: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: size }, () => {
    const v = Math.floor(r() * 40) / 8;
    return r() < 0.5 ? -v : v;
  });
}

function topkCase(
  what: string,
  rows: number,
  cols: number,
  k: number,
  j: number,
  axis: "row" | "col" | "none",
  w: Float32Array,
): KernelCase {
  return {
    name: `magnitudeTopK ${what} (GPU form: topk_*)`,
    data: { w },
    outputs: ["w"],
    scalars: { rows, cols, k, j },
    op: (be, a) => {
      const p = { w: a.w, rows, cols, k, j, axis };
      const g = gpuOf(be);
      assert.equal(
        g ? gpuOps.magnitudeTopK(g, p) : ops.magnitudeTopK(be, p),
        Math.min(k, rows * cols),
      );
    },
    twin: (h) => refTopk.magnitudeTopK({ ...h, axis }),
    tol: {},
  };
}

/**
 * The sparse-gradient mode's guarded top-k (unlessAbove): W is pruned to k only when the count
 * on the device exceeds k; the CPU kernel and the twin run only in that case, as the CPU caller
 * decides on the host.
 */
function guardedTopkCase(count: number, prunes: boolean): KernelCase {
  const rows = 37, cols = 53, k = 400, j = 4;
  return {
    name: `magnitudeTopK unlessAbove, count ${count} vs k ${k} (GPU form: topk_apply guard)`,
    data: { w: randArray(rows * cols, 65), count: Int32Array.of(count) },
    outputs: ["w"],
    scalars: {},
    op: (be, a) => {
      const p = { w: a.w, rows, cols, k, j, axis: "row" as const };
      const g = gpuOf(be);
      if (g) gpuOps.magnitudeTopK(g, { ...p, unlessAbove: a.count });
      else if (prunes) ops.magnitudeTopK(be, p);
    },
    twin: (h) => {
      if (prunes) refTopk.magnitudeTopK({ ...h, rows, cols, k, j, axis: "row" });
    },
    tol: {},
  };
}

function topkCases(): KernelCase[] {
  return [
    topkCase("rows j=4", 37, 53, 400, 4, "row", randArray(37 * 53, 60)),
    topkCase("columns j=4, ties", 41, 29, 300, 4, "col", tiedWeights(41 * 29, 61)),
    topkCase("no protection, ties, 3 groups", 97, 101, 2500, 0, "none", tiedWeights(97 * 101, 62)),
    topkCase("k = protected count", 20, 30, 60, 3, "row", randArray(600, 63)),
    topkCase("k = n", 5, 7, 35, 2, "col", randArray(35, 64)),
    guardedTopkCase(430, true),
    guardedTopkCase(400, false),
    {
      name: "countNonzero, aliveNeurons (GPU forms)",
      data: {
        w: (() => {
          const w = randArray(30 * 40, 65);
          for (let i = 0; i < w.length; i++) {
            if (i % 40 < 7 || Math.floor(i / 40) % 5 === 0) {
              w[i] = i % 2 ? -0 : 0;
            }
          }
          return w;
        })(),
        out: new Int32Array(3),
      },
      outputs: ["out"],
      scalars: {},
      op: (be, a) => {
        const g = gpuOf(be);
        const p = { w: a.w, rows: 30, cols: 40 };
        if (g) {
          gpuOps.countNonzero(g, { w: a.w, n: 1200, out: a.out });
          gpuOps.aliveNeurons(g, { ...p, axis: "row", out: a.out + 4 });
          gpuOps.aliveNeurons(g, { ...p, axis: "col", out: a.out + 8 });
        } else {
          be.arena.i32(a.out, 3).set([
            ops.countNonzero(be, { w: a.w, n: 1200 }),
            ops.aliveNeurons(be, { ...p, axis: "row" }),
            ops.aliveNeurons(be, { ...p, axis: "col" }),
          ]);
        }
      },
      twin: (h) =>
        h.out.set([
          refTopk.countNonzero({ w: h.w }),
          refTopk.aliveNeurons({ w: h.w, rows: 30, cols: 40, axis: "row" }),
          refTopk.aliveNeurons({ w: h.w, rows: 30, cols: 40, axis: "col" }),
        ]),
      tol: {},
    },
  ];
}

// ---- sparse products ----

function sparseCases(): KernelCase[] {
  const R = 19, K = 27, Nt = 300; // N ≥ 256 with many entries: the wrapper packs the source
  const w = randArray(R * K, 70);
  const r = rng(71);
  for (let i = 0; i < w.length; i++) if (r() < 0.6) w[i] = 0;
  const nnz = w.filter((x) => x !== 0).length;
  const matrix = (be: Backend, wp: number) => {
    const g = gpuOf(be);
    const sm = g ? new gpuOps.GpuSparseMatrix(g, R, K) : new SparseMatrix(be, R, K);
    sm.update(wp);
    return sm;
  };
  return [
    {
      name: "spmmForward packed (GPU sparse update, spmm_pack_f32, spmm_forward_f32)",
      data: { w, x: randArray(K * Nt, 72), y: new Float32Array(R * Nt), bias: randArray(R, 73) },
      outputs: ["y"],
      scalars: { rows: R, cols: K, N: Nt },
      op: (be, a) =>
        ops.spmmForward(be, { w: matrix(be, a.w), x: a.x, y: a.y, N: Nt, bias: a.bias }),
      twin: twin(refSparse.spmmForward),
      tol: {},
    },
    {
      name: "spmmBackwardInput (spmm_backward_input_f32)",
      data: { w, dy: randArray(R * 13, 74), dx: randArray(K * 13, 75) },
      outputs: ["dx"],
      scalars: { rows: R, cols: K, N: 13 },
      op: (be, a) =>
        ops.spmmBackwardInput(be, {
          w: matrix(be, a.w),
          dy: a.dy,
          dx: a.dx,
          N: 13,
          accumulate: true,
        }),
      twin: (h) => refSparse.spmmBackwardInput({ ...h, accumulate: true }),
      tol: {},
    },
    {
      name: "sddmm (sddmm_f32)",
      data: { w, dy: randArray(R * 21, 76), x: randArray(K * 21, 77), out: new Float32Array(nnz) },
      outputs: ["out"],
      scalars: { rows: R, cols: K, N: 21 },
      op: (be, a) => ops.sddmm(be, { w: matrix(be, a.w), dy: a.dy, x: a.x, N: 21, out: a.out }),
      twin: (h) => h.out.set(refSparse.sddmm(h)),
      tol: {},
    },
    {
      name: "csrGather (csr_gather_f32)",
      data: { w, dense: randArray(R * K, 78), out: new Float32Array(nnz) },
      outputs: ["out"],
      scalars: { rows: R, cols: K },
      op: (be, a) => ops.csrGather(be, { w: matrix(be, a.w), dense: a.dense, out: a.out }),
      twin: (h) => h.out.set(refSparse.csrGather(h)),
      tol: {},
    },
  ];
}

// ---- circuit pruning ----

function pruneCases(): KernelCase[] {
  const C = 11, Nn = 23;
  const mask = Float32Array.from(
    { length: C },
    (_, i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? 1 : 0.3),
  );
  return [
    {
      name: "ablateForward (ablate_forward)",
      data: {
        x: randArray(C * Nn, 80),
        raw: new Float32Array(C * Nn),
        m: mask,
        mean: randArray(C, 81),
      },
      outputs: ["x", "raw"],
      scalars: { C, N: Nn },
      op: (be, a) => ops.ablateForward(be, { x: a.x, raw: a.raw, m: a.m, mean: a.mean, C, N: Nn }),
      twin: twin(refAblate.ablateForward),
      tol: {},
    },
    {
      name: "ablateBackward (ablate_backward)",
      data: {
        dinp: new Float32Array(C * Nn),
        dm: randArray(C, 82),
        dout: randArray(C * Nn, 83),
        raw: randArray(C * Nn, 84),
        m: mask,
        mean: randArray(C, 85),
      },
      outputs: ["dinp", "dm"],
      scalars: { C, N: Nn },
      op: (be, a) =>
        ops.ablateBackward(be, {
          dinp: a.dinp,
          dm: a.dm,
          dout: a.dout,
          raw: a.raw,
          m: a.m,
          mean: a.mean,
          C,
          N: Nn,
        }),
      twin: twin(refAblate.ablateBackward),
      tol: REASSOC,
    },
    {
      // Three batches into the (hi, lo) pair, then the means: one f32 each.
      name: "rowSumF64 ×3, f64ToF32Scaled (row_sum_f64, f64_to_f32_scaled)",
      data: {
        x: randArray(C * 3000, 86, 1e3).map((v, i) => v + (i % 7) * 1e4),
        acc: new Float64Array(C),
        out: new Float32Array(C),
      },
      outputs: ["out"],
      scalars: { C, N: 1000 },
      op: (be, a) => {
        for (let b = 0; b < 3; b++) {
          ops.rowSumF64(be, { acc: a.acc, x: a.x + 4 * b * C * 1000, C, N: 1000 });
        }
        ops.f64ToF32Scaled(be, { out: a.out, acc: a.acc, n: C, scale: 1 / 3000 });
      },
      twin: (h) => {
        for (let b = 0; b < 3; b++) {
          refAblate.rowSumF64({ acc: h.acc, x: h.x.subarray(b * C * 1000), C, N: 1000 });
        }
        refPrune.f64ToF32Scaled({ out: h.out, acc: h.acc, n: C, scale: 1 / 3000 });
      },
      tol: { ulp: 2 },
    },
    {
      name: "maskSurrogateGrad (mask_surrogate_grad)",
      data: { g: new Float32Array(C * 5), tau: randArray(C * 5, 87), dm: randArray(C * 5, 88) },
      outputs: ["g"],
      scalars: { n: C * 5, temperature: 0.3, kcoef: 0.01 },
      op: (be, a) =>
        ops.maskSurrogateGrad(be, {
          g: a.g,
          tau: a.tau,
          dm: a.dm,
          n: C * 5,
          temperature: 0.3,
          kcoef: 0.01,
        }),
      twin: twin(refPrune.maskSurrogateGrad),
      tol: { ulp: 8, rel: 1e-6 },
    },
    (() => {
      // A random graph over C·5 nodes, half of the masks on.
      const n = C * 5, { ptr, idx } = randomGraph(n, 90);
      return {
        name: "maskEdgeGrad (mask_edge_grad)",
        data: {
          dm: randArray(n, 91, 0.1),
          m: randArray(n, 92).map((x) => x > 0 ? 1 : 0),
          ptr,
          idx,
        },
        outputs: ["dm"],
        scalars: { n, nnz: idx.length, ecoef: 3e-4 },
        op: (be, a) =>
          ops.maskEdgeGrad(be, {
            dm: a.dm,
            m: a.m,
            ptr: a.ptr,
            idx: a.idx,
            n,
            nnz: idx.length,
            ecoef: 3e-4,
          }),
        twin: twin(refPrune.maskEdgeGrad),
        // Sums of 0/1 are exact in f32; the product and add round once in f32 on the GPU, in f64
        // then f32 on the CPU.
        tol: { ulp: 2 },
      } satisfies KernelCase;
    })(),
    {
      name: "maskClampHeaviside (mask_clamp_heaviside)",
      data: { m: new Float32Array(C * 5), tau: randArray(C * 5, 89, 2) },
      outputs: ["m", "tau"],
      scalars: { n: C * 5 },
      op: (be, a) => ops.maskClampHeaviside(be, { m: a.m, tau: a.tau, n: C * 5 }),
      twin: twin(refPrune.maskClampHeaviside),
      tol: {},
    },
  ];
}

/** See tests/webgpu_layers_test.ts: the compiler may reassociate adds. */
const REASSOC = { ulp: 4, rel: 1e-6 };

await gpuTest(
  "webgpu kernels of attention, losses, optimizer, top-k, sparse, pruning",
  async (t, g, cpu) => {
    const rows: CaseReport[] = [];
    const families: [string, KernelCase[]][] = [
      ["attention", attentionCases()],
      ["losses", lossCases()],
      ["optimizer and gradient RMS", optimizerCases()],
      ["top-k and sparsity counts", topkCases()],
      ["sparse products", sparseCases()],
      ["circuit pruning", pruneCases()],
    ];
    for (const [family, cases] of families) {
      await t.step(family, async () => {
        for (const c of cases) rows.push(await checkCase(g, cpu, c));
      });
    }
    await t.step("NaN in a top-k input fails at the next sync, naming the kernel", async () => {
      const mark = g.arena.mark();
      try {
        const w = g.arena.tensor([64]);
        g.arena.f32(w.ptr, 64).set(randArray(64, 90));
        g.arena.f32(w.ptr, 64)[17] = NaN;
        g.upload(w.ptr, 256);
        gpuOps.magnitudeTopK(g, { w: w.ptr, rows: 8, cols: 8, k: 10 });
        await assert.rejects(() => g.sync(), /magnitude_topk: W has NaN\/Inf/);
        await g.sync(); // reported once
      } finally {
        g.arena.reset(mark);
      }
    });
    report(rows);
  },
);
