/**
 * WebGPU layer kernels (src/backend/webgpu/kernels/) through the unchanged ops wrappers, against
 * their scalar twins (src/reference/) at the tolerance each case states, and run twice for the
 * same bits. Tiny shapes with ragged edges (lavapipe runs on the CPU). Set WEBGPU_REPORT=1 to
 * print each case's distances (the table in docs/webgpu.md).
 */
import type { U8Ptr } from "../src/backend/arena.ts";
import * as ops from "../src/backend/ops/index.ts";
import * as refAbs from "../src/reference/abstopk.ts";
import * as refEmb from "../src/reference/embedding.ts";
import * as refGather from "../src/reference/gather.ts";
import * as refGelu from "../src/reference/gelu.ts";
import * as refGemm from "../src/reference/gemm.ts";
import * as refRes from "../src/reference/residual.ts";
import * as refRms from "../src/reference/rmsnorm.ts";
import { randArray, rng } from "./util.ts";
import {
  type CaseReport,
  checkCase,
  gpuTest,
  type Host,
  type HostData,
  type KernelCase,
  report,
} from "./webgpu_util.ts";

const twin = (fn: (a: never) => unknown) => (h: Host) => void fn(h as never);

function ints(n: number, seed: number, lo: number, hi: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo)));
}

function bytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => (r() < 0.5 ? 1 : 0));
}

/** Values with ties: many entries share a few magnitudes, some negated, some zero. */
function tied(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => {
    const v = [0, 0.5, 1, 2, 0.25][Math.floor(r() * 5)];
    return r() < 0.5 ? -v : v;
  });
}

const n = 1003;

/**
 * Kernels written in the CPU's operation order can still differ from it in the last bits where
 * the shader compiler reassociates adds (Vulkan allows it; Mesa turns base + (p − q) into
 * (base + p) − q).
 */
const REASSOC = { ulp: 4, rel: 1e-6 };
const C = 24, N = 21, V = 37;

const elementwiseCases: KernelCase[] = [
  {
    name: "add (add_f32)",
    data: { out: new Float32Array(n), a: randArray(n, 1), b: randArray(n, 2) },
    outputs: ["out"],
    scalars: { n },
    op: (be, a) => ops.add(be, { out: a.out, a: a.a, b: a.b, n }),
    twin: twin(refRes.add),
    tol: {},
  },
  {
    name: "addInPlace (add_inplace_f32)",
    data: { x: randArray(n, 3), y: randArray(n, 4) },
    outputs: ["x"],
    scalars: { n },
    op: (be, a) => ops.addInPlace(be, { x: a.x, y: a.y, n }),
    twin: twin(refRes.addInPlace),
    tol: {},
  },
  {
    name: "scale / decay (scale_f32)",
    data: { x: randArray(n, 5) },
    outputs: ["x"],
    scalars: { n, factor: 0.996 },
    op: (be, a) => ops.scale(be, { x: a.x, n, factor: a.factor }),
    twin: twin(refRes.scale),
    tol: {},
  },
  {
    name: "copy (copy_f32)",
    data: { dst: new Float32Array(n), src: randArray(n, 6) },
    outputs: ["dst"],
    scalars: { n },
    op: (be, a) => ops.copy(be, { dst: a.dst, src: a.src, n }),
    twin: twin(refRes.copy),
    tol: {},
  },
  {
    name: "fill (fill_f32)",
    data: { x: randArray(n, 7) },
    outputs: ["x"],
    scalars: { n, value: -1.5 },
    op: (be, a) => ops.fill(be, { x: a.x, n, value: a.value }),
    twin: twin(refRes.fill),
    tol: {},
  },
  {
    // The GPU uses the Cephes scheme the CPU's softmaxes use, not musl's expf (f64 inside).
    name: "exp (exp_f32)",
    data: { out: new Float32Array(n), inp: randArray(n, 8, 80) },
    outputs: ["out"],
    scalars: { n },
    op: (be, a) => ops.exp(be, { out: a.out, inp: a.inp, n }),
    twin: twin(refRes.exp),
    tol: { ulp: 2 },
  },
];

const embeddingCases: KernelCase[] = [
  {
    name: "embeddingForward (embedding_forward)",
    data: { out: new Float32Array(C * N), tokens: ints(N, 9, 0, V), wte: randArray(V * C, 10) },
    outputs: ["out"],
    scalars: { C, N, V },
    op: (be, a) => ops.embeddingForward(be, { out: a.out, tokens: a.tokens, wte: a.wte, C, N, V }),
    twin: twin(refEmb.embeddingForward),
    tol: {},
  },
  {
    // Repeated tokens: their gradients add in token order on both sides.
    name: "embeddingBackward (embedding_backward)",
    data: { dwte: randArray(V * C, 11), dout: randArray(C * N, 12), tokens: ints(N, 13, 0, 5) },
    outputs: ["dwte"],
    scalars: { C, N, V },
    op: (be, a) =>
      ops.embeddingBackward(be, { dwte: a.dwte, dout: a.dout, tokens: a.tokens, C, N, V }),
    twin: twin(refEmb.embeddingBackward),
    tol: {},
  },
  {
    name: "bigramForward (bigram_forward)",
    data: { logits: randArray(V * N, 14), tokens: ints(N, 15, 0, V), table: randArray(V * V, 16) },
    outputs: ["logits"],
    scalars: { V, N },
    op: (be, a) =>
      ops.bigramForward(be, { logits: a.logits, tokens: a.tokens, table: a.table, V, N }),
    twin: twin(refEmb.bigramForward),
    tol: {},
  },
  {
    name: "bigramBackward (bigram_backward)",
    data: {
      dtable: randArray(V * V, 17),
      dlogits: randArray(V * N, 18),
      tokens: ints(N, 19, 0, 4),
    },
    outputs: ["dtable"],
    scalars: { V, N },
    op: (be, a) =>
      ops.bigramBackward(be, { dtable: a.dtable, dlogits: a.dlogits, tokens: a.tokens, V, N }),
    twin: twin(refEmb.bigramBackward),
    tol: {},
  },
  {
    name: "gatherCols (gather_cols_f32)",
    data: { out: new Float32Array(C * 5), inp: randArray(C * N, 20), idx: ints(5, 21, 0, N) },
    outputs: ["out"],
    scalars: { C, N, R: 5 },
    op: (be, a) => ops.gatherCols(be, { out: a.out, inp: a.inp, idx: a.idx, C, N, R: 5 }),
    twin: twin(refGather.gatherCols),
    tol: {},
  },
  {
    name: "scatterAddCols (scatter_add_cols_f32)",
    data: { out: randArray(C * N, 22), inp: randArray(C * 6, 23), idx: ints(6, 24, 0, 3) },
    outputs: ["out"],
    scalars: { C, N, R: 6 },
    op: (be, a) => ops.scatterAddCols(be, { out: a.out, inp: a.inp, idx: a.idx, C, N, R: 6 }),
    twin: twin(refGather.scatterAddCols),
    tol: {},
  },
];

function rmsBackCase(name: string, mask: boolean, write: boolean, frozen: boolean): KernelCase {
  const data: Record<string, HostData> = {
    dinp: randArray(C * N, 30),
    dweight: randArray(C, 31),
    dout: randArray(C * N, 32),
    inp: randArray(C * N, 33, 2),
    weight: randArray(C, 34),
    rstd: Float32Array.from(randArray(N, 35), (x) => 1 + Math.abs(x)),
  };
  if (mask) data.doutMask = bytes(C * N, 36);
  return {
    name,
    data,
    outputs: ["dinp", "dweight"],
    scalars: { C, N },
    op: (be, a) =>
      (write ? ops.rmsnormBackwardWrite : ops.rmsnormBackward)(be, {
        dinp: a.dinp,
        dweight: a.dweight,
        dout: a.dout,
        inp: a.inp,
        weight: a.weight,
        rstd: a.rstd,
        C,
        N,
        doutMask: mask ? a.doutMask as U8Ptr : undefined,
        frozen,
      }),
    twin: (h) => refRms.rmsnormBackward({ ...h, write, frozen }),
    tol: REASSOC,
  };
}

const rmsnormCases: KernelCase[] = [
  {
    name: "rmsnormForward (rmsnorm_forward)",
    data: {
      out: new Float32Array(C * N),
      rstd: new Float32Array(N),
      inp: randArray(C * N, 25, 3),
      weight: randArray(C, 26),
    },
    outputs: ["out", "rstd"],
    scalars: { C, N },
    op: (be, a) =>
      ops.rmsnormForward(be, { out: a.out, rstd: a.rstd, inp: a.inp, weight: a.weight, C, N }),
    twin: twin(refRms.rmsnormForward),
    tol: {},
  },
  {
    name: "rmsnormScale (rmsnorm_scale)",
    data: {
      out: new Float32Array(C * N),
      rstd: randArray(N, 27),
      inp: randArray(C * N, 28),
      weight: randArray(C, 29),
    },
    outputs: ["out"],
    scalars: { C, N },
    op: (be, a) =>
      ops.rmsnormScale(be, { out: a.out, rstd: a.rstd, inp: a.inp, weight: a.weight, C, N }),
    twin: twin(refRms.rmsnormScale),
    tol: {},
  },
  rmsBackCase("rmsnormBackward (rmsnorm_backward_token, rmsnorm_backward)", false, false, false),
  rmsBackCase("rmsnormBackward masked (…_token_ex, rmsnorm_backward_ex)", true, false, false),
  rmsBackCase("rmsnormBackwardWrite masked (rmsnorm_backward_ex write)", true, true, false),
  rmsBackCase("rmsnormBackward frozen (fill_f32, rmsnorm_backward)", false, false, true),
];

function absCase(name: string, Cc: number, Nn: number, k: number, inp: Float32Array): KernelCase {
  return {
    name,
    data: { out: new Float32Array(Cc * Nn), mask: new Uint8Array(Cc * Nn), inp },
    outputs: ["out", "mask"],
    scalars: { C: Cc, N: Nn, k },
    op: (be, a) =>
      ops.absTopKForward(be, { out: a.out, mask: a.mask as U8Ptr, inp: a.inp, C: Cc, N: Nn, k }),
    twin: twin(refAbs.absTopKForward),
    tol: {},
  };
}

const abstopkCases: KernelCase[] = [
  absCase("absTopKForward (abstopk_forward)", C, N, 6, randArray(C * N, 40)),
  absCase("absTopKForward ties (abstopk_forward)", 70, 9, 17, tied(70 * 9, 41)),
  absCase("absTopKForward k = 0", 8, 5, 0, randArray(40, 42)),
  absCase("absTopKForward k ≥ C", 8, 5, 9, randArray(40, 43)),
  {
    name: "absTopKBackward (abstopk_backward)",
    data: { dinp: randArray(C * N, 44), dout: randArray(C * N, 45), mask: bytes(C * N, 46) },
    outputs: ["dinp"],
    scalars: { C, N },
    op: (be, a) =>
      ops.absTopKBackward(be, { dinp: a.dinp, dout: a.dout, mask: a.mask as U8Ptr, C, N }),
    twin: twin(refAbs.absTopKBackward),
    tol: {},
  },
  {
    name: "absTopKBackwardWrite (abstopk_backward_write)",
    data: { dinp: randArray(C * N, 47), dout: randArray(C * N, 48), mask: bytes(C * N, 49) },
    outputs: ["dinp"],
    scalars: { C, N },
    op: (be, a) =>
      ops.absTopKBackwardWrite(be, { dinp: a.dinp, dout: a.dout, mask: a.mask as U8Ptr, C, N }),
    twin: twin(refAbs.absTopKBackwardWrite),
    tol: {},
  },
];

/** Inputs spanning GELU's ranges: the rational part, the erfc tail, and the flush beyond |x| = 9. */
function geluInputs(m: number, seed: number): Float32Array {
  const x = randArray(m, seed, 4);
  x[0] = -9.5;
  x[1] = 10;
  x[2] = -1.19;
  x[3] = 0;
  return x;
}

// The twins are exact (f64 erf); the kernels' f32 formulas are 2 ulp off above x = −1.19 and up
// to 6 ulp below, relative to the small result (asm/kernels/gelu.ts): |Δ| ≤ 1e-6 absolute.
const GELU_TOL = { ulp: 8, abs: 1e-6 };

const geluCases: KernelCase[] = [
  {
    name: "geluForward (gelu_forward_phi)",
    data: { out: new Float32Array(n), phi: new Float32Array(n), inp: geluInputs(n, 50) },
    outputs: ["out", "phi"],
    scalars: { n },
    op: (be, a) => ops.geluForward(be, { out: a.out, inp: a.inp, phi: a.phi, n }),
    twin: (h) => {
      refGelu.geluForward(h);
      const x: Float32Array = h.inp, phi: Float32Array = h.phi;
      for (let i = 0; i < n; i++) phi[i] = refGelu.phi2(x[i]);
    },
    tol: GELU_TOL,
  },
  {
    name: "geluForward (gelu_forward)",
    data: { out: new Float32Array(n), inp: geluInputs(n, 51) },
    outputs: ["out"],
    scalars: { n },
    op: (be, a) => ops.geluForward(be, { out: a.out, inp: a.inp, n }),
    twin: twin(refGelu.geluForward),
    tol: GELU_TOL,
  },
  {
    name: "geluBackward (gelu_backward)",
    data: { dinp: randArray(n, 52), dout: randArray(n, 53), inp: geluInputs(n, 54) },
    outputs: ["dinp"],
    scalars: { n },
    op: (be, a) => ops.geluBackward(be, { dinp: a.dinp, dout: a.dout, inp: a.inp, n }),
    twin: twin(refGelu.geluBackward),
    tol: GELU_TOL,
  },
  {
    name: "geluBackwardWrite masked (gelu_backward_write)",
    data: {
      dinp: randArray(n, 55),
      dout: randArray(n, 56),
      inp: geluInputs(n, 57),
      mask: bytes(n, 58),
    },
    outputs: ["dinp"],
    scalars: { n },
    op: (be, a) =>
      ops.geluBackwardWrite(be, {
        dinp: a.dinp,
        dout: a.dout,
        inp: a.inp,
        mask: a.mask as U8Ptr,
        n,
      }),
    twin: twin(refGelu.geluBackwardWrite),
    tol: GELU_TOL,
  },
  {
    name: "geluBackwardWrite phi (gelu_backward_write_phi)",
    data: {
      dinp: randArray(n, 59),
      dout: randArray(n, 60),
      inp: geluInputs(n, 61),
      mask: bytes(n, 62),
      phi: new Float32Array(n),
    },
    outputs: ["dinp"],
    scalars: { n },
    op: (be, a) => {
      // phi from the forward, as the model does it.
      ops.geluForward(be, { out: a.dinp, inp: a.inp, phi: a.phi, n });
      ops.geluBackwardWrite(be, {
        dinp: a.dinp,
        dout: a.dout,
        inp: a.inp,
        mask: a.mask as U8Ptr,
        phi: a.phi,
        n,
      });
    },
    twin: twin(refGelu.geluBackwardWrite),
    tol: GELU_TOL,
  },
];

function gemmCase(M: number, Nn: number, K: number, o: {
  transA?: boolean;
  transB?: boolean;
  bias?: boolean;
  accumulate?: boolean;
}): KernelCase {
  const data: Record<string, HostData> = {
    a: randArray(M * K, 70 + M),
    b: randArray(K * Nn, 71 + K),
    c: randArray(M * Nn, 72 + Nn),
  };
  if (o.bias) data.bias = randArray(M, 73);
  const flags = Object.entries(o).filter(([, v]) => v).map(([k]) => k).join(" ");
  return {
    name: `gemm ${M}×${Nn}×${K} ${flags}`.trim(),
    data,
    outputs: ["c"],
    scalars: { M, N: Nn, K },
    op: (be, a) =>
      ops.gemm(be, {
        M,
        N: Nn,
        K,
        a: a.a,
        b: a.b,
        c: a.c,
        bias: o.bias ? a.bias : undefined,
        transA: o.transA,
        transB: o.transB,
        accumulate: o.accumulate,
      }),
    twin: (h) => refGemm.gemm({ ...h, ...o, bias: o.bias ? h.bias : undefined }),
    tol: {},
  };
}

const gemmCases: KernelCase[] = [
  gemmCase(70, 67, 35, {}),
  gemmCase(33, 80, 19, { transA: true, accumulate: true }),
  gemmCase(65, 17, 40, { transB: true, bias: true }),
  gemmCase(9, 130, 70, { transA: true, transB: true, bias: true, accumulate: true }),
  {
    name: "biasBackward (bias_backward_f32)",
    data: { dbias: randArray(C, 74), dout: randArray(C * N, 75) },
    outputs: ["dbias"],
    scalars: { C, N },
    op: (be, a) => ops.biasBackward(be, { dbias: a.dbias, dout: a.dout, C, N }),
    twin: twin(refGemm.biasBackward),
    tol: {},
  },
];

await gpuTest("webgpu layer kernels against their twins", async (t, g, cpu) => {
  const rows: CaseReport[] = [];
  const families: [string, KernelCase[]][] = [
    ["elementwise", elementwiseCases],
    ["embedding and gathers", embeddingCases],
    ["rmsnorm", rmsnormCases],
    ["abstopk", abstopkCases],
    ["gelu", geluCases],
    ["gemm", gemmCases],
  ];
  for (const [family, cases] of families) {
    await t.step(family, async () => {
      for (const c of cases) rows.push(await checkCase(g, cpu, c));
    });
  }
  report(rows);
});
