/**
 * Layer-kernel benchmark: time per call of every non-GEMM layer kernel (RMSNorm, AbsTopK, GELU,
 * residual add, embedding, bigram, cross-entropy, Adam, gradient RMS, randn) at the default
 * model's shapes (bench/util.ts MODEL: d_model C, d_mlp M, vocab V, N tokens per step, the
 * parameter buffer's length), on 1 and 2 threads. Prints milliseconds (best of several runs), the 2-thread speedup and the memory
 * throughput implied by the bytes each call must read and write.
 *
 * Run: deno task bench (all benches) or deno run -A bench/layers_bench.ts [--quick] [name…].
 */
import { Backend } from "../src/backend/backend.ts";
import { absTopKBackward, absTopKForward } from "../src/backend/ops/abstopk.ts";
import { adamStep } from "../src/backend/ops/adamw.ts";
import {
  bigramBackward,
  bigramForward,
  embeddingBackward,
  embeddingForward,
} from "../src/backend/ops/embedding.ts";
import { geluBackward, geluForward } from "../src/backend/ops/gelu.ts";
import { randnFill } from "../src/backend/ops/random.ts";
import { gradRmsNormalize } from "../src/backend/ops/reduce.ts";
import { add } from "../src/backend/ops/residual.ts";
import { rmsnormBackward, rmsnormForward } from "../src/backend/ops/rmsnorm.ts";
import { crossEntropyBackward, crossEntropyForward } from "../src/backend/ops/xent.ts";
import { bestMs, filled, fmt, MODEL, QUICK, table } from "./util.ts";

const { C, M, V, N } = MODEL;
const PARAMS = MODEL.params;

interface Case {
  name: string;
  shape: string;
  /** Bytes the call must read and write (for GB/s). */
  bytes: number;
  /** Allocates its buffers and returns the call to time. */
  setup: (be: Backend) => () => void;
}

function tokens(be: Backend, n: number, v: number): number {
  const t = be.arena.tensor([n]);
  be.arena.viewI32(t).set(Int32Array.from({ length: n }, (_, i) => (i * 7919) % v));
  return t.ptr;
}

const u8 = (be: Backend, n: number) => be.arena.allocBytes(n, "mask");

const CASES: Case[] = [
  {
    name: "rmsnormForward",
    shape: `C=${C} N=${N}`,
    bytes: 4 * (3 * C * N + N),
    setup: (be) => {
      const x = filled(be, C * N, 1), w = filled(be, C, 2), o = filled(be, C * N, 0);
      const r = filled(be, N, 0);
      return () => rmsnormForward(be, { out: o, rstd: r, inp: x, weight: w, C, N });
    },
  },
  {
    name: "rmsnormBackward",
    shape: `C=${C} N=${N}`,
    bytes: 4 * 6 * C * N,
    setup: (be) => {
      const x = filled(be, C * N, 1), w = filled(be, C, 2), d = filled(be, C * N, 3);
      const di = filled(be, C * N, 0), dw = filled(be, C, 0), r = filled(be, N, 4);
      return () =>
        rmsnormBackward(be, {
          dinp: di,
          dweight: dw,
          dout: d,
          inp: x,
          weight: w,
          rstd: r,
          C,
          N,
        });
    },
  },
  ...[C, M].map((c): Case => ({
    name: "absTopKForward",
    shape: `C=${c} N=${N} k=${c / 4}`,
    bytes: 9 * c * N,
    setup: (be) => {
      const x = filled(be, c * N, 1), o = filled(be, c * N, 0), m = u8(be, c * N);
      return () => absTopKForward(be, { out: o, mask: m, inp: x, C: c, N, k: c / 4 });
    },
  })),
  {
    name: "absTopKBackward",
    shape: `C=${M} N=${N}`,
    bytes: 13 * M * N,
    setup: (be) => {
      const d = filled(be, M * N, 1), di = filled(be, M * N, 0), m = u8(be, M * N);
      be.arena.u8(m, M * N).fill(1);
      return () => absTopKBackward(be, { dinp: di, dout: d, mask: m, C: M, N });
    },
  },
  {
    name: "geluForward",
    shape: `n=${M}·${N}`,
    bytes: 8 * M * N,
    setup: (be) => {
      const x = filled(be, M * N, 1, 3), o = filled(be, M * N, 0);
      return () => geluForward(be, { out: o, inp: x, n: M * N });
    },
  },
  {
    name: "geluBackward",
    shape: `n=${M}·${N}`,
    bytes: 16 * M * N,
    setup: (be) => {
      const x = filled(be, M * N, 1, 3), d = filled(be, M * N, 2), di = filled(be, M * N, 0);
      return () => geluBackward(be, { dinp: di, dout: d, inp: x, n: M * N });
    },
  },
  {
    name: "add",
    shape: `n=${C}·${N}`,
    bytes: 12 * C * N,
    setup: (be) => {
      const a = filled(be, C * N, 1), b = filled(be, C * N, 2), o = filled(be, C * N, 0);
      return () => add(be, { out: o, a, b, n: C * N });
    },
  },
  {
    name: "embeddingForward",
    shape: `V=${V} C=${C} N=${N}`,
    bytes: 8 * C * N,
    setup: (be) => {
      const w = filled(be, V * C, 1), o = filled(be, C * N, 0), t = tokens(be, N, V);
      return () => embeddingForward(be, { out: o, tokens: t, wte: w, C, N, V });
    },
  },
  {
    name: "embeddingBackward",
    shape: `V=${V} C=${C} N=${N}`,
    bytes: 12 * C * N,
    setup: (be) => {
      const dw = filled(be, V * C, 0), d = filled(be, C * N, 1), t = tokens(be, N, V);
      return () => embeddingBackward(be, { dwte: dw, dout: d, tokens: t, C, N, V });
    },
  },
  {
    name: "bigramForward",
    shape: `V=${V} N=${N}`,
    bytes: 12 * V * N,
    setup: (be) => {
      const tab = filled(be, V * V, 1), l = filled(be, V * N, 0), t = tokens(be, N, V);
      return () => bigramForward(be, { logits: l, tokens: t, table: tab, V, N });
    },
  },
  {
    name: "bigramBackward",
    shape: `V=${V} N=${N}`,
    bytes: 12 * V * N,
    setup: (be) => {
      const dt = filled(be, V * V, 0), d = filled(be, V * N, 1), t = tokens(be, N, V);
      return () => bigramBackward(be, { dtable: dt, dlogits: d, tokens: t, V, N });
    },
  },
  {
    name: "crossEntropyForward",
    shape: `V=${V} N=${N}`,
    bytes: 8 * V * N,
    setup: (be) => {
      const l = filled(be, V * N, 1, 4), loss = filled(be, N, 0), t = tokens(be, N, V);
      return () => crossEntropyForward(be, { losses: loss, logits: l, targets: t, V, N });
    },
  },
  {
    name: "crossEntropyBackward",
    shape: `V=${V} N=${N}`,
    bytes: 16 * V * N,
    setup: (be) => {
      const l = filled(be, V * N, 1, 4), dl = filled(be, V * N, 0), t = tokens(be, N, V);
      return () =>
        crossEntropyBackward(be, { dlogits: dl, logits: l, targets: t, V, N, scale: 1 / N });
    },
  },
  {
    name: "adamStep",
    shape: `n=${(PARAMS / 1e6).toFixed(1)}M`,
    bytes: 28 * PARAMS,
    setup: (be) => {
      const p = filled(be, PARAMS, 1, 0.02), g = filled(be, PARAMS, 2);
      const m = filled(be, PARAMS, 0), v = filled(be, PARAMS, 0);
      let t = 1;
      return () =>
        adamStep(be, {
          param: p,
          grad: g,
          m,
          v,
          n: PARAMS,
          lr: 0.01,
          beta1: 0.9,
          beta2: 0.95,
          eps: 0.1,
          t: t++,
        });
    },
  },
  {
    name: "gradRmsNormalize",
    shape: `n=${(PARAMS / 1e6).toFixed(1)}M`,
    bytes: 12 * PARAMS,
    setup: (be) => {
      const g = filled(be, PARAMS, 2);
      return () => void gradRmsNormalize(be, { grad: g, n: PARAMS });
    },
  },
  {
    name: "randnFill",
    shape: "n=1M",
    bytes: 4 << 20,
    setup: (be) => {
      const x = filled(be, 1 << 20, 0);
      return () => randnFill(be, { x, n: 1 << 20, seed: 1, stream: 2, std: 0.02 });
    },
  },
];

/** Milliseconds per call of every case (or those named) on a backend with `threads` threads. */
async function timeAll(threads: number, cases = CASES): Promise<number[]> {
  const be = await Backend.create({ threads });
  try {
    return cases.map((c) => {
      const mark = be.arena.mark();
      const call = c.setup(be);
      const ms = bestMs(call, { reps: QUICK ? 2 : 6, warmup: 1, budgetMs: QUICK ? 200 : 1000 });
      be.arena.reset(mark);
      return ms;
    });
  } finally {
    be.close();
  }
}

/** Prints the table; `only` restricts it to kernels whose name contains one of the strings. */
export async function main(only: string[] = []): Promise<void> {
  console.log("\n== layer kernels (ms per call, default model shapes) ==");
  const cases = only.length ? CASES.filter((c) => only.some((o) => c.name.includes(o))) : CASES;
  const one = await timeAll(1, cases), two = await timeAll(2, cases);
  const rows = cases.map((c, i) => [
    c.name,
    c.shape,
    fmt(one[i], 2),
    fmt(two[i], 2),
    fmt(one[i] / two[i], 2) + "×",
    fmt(c.bytes / two[i] / 1e6, 1),
  ]);
  console.log(table(["kernel", "shape", "1 thread", "2 threads", "speedup", "GB/s (2t)"], rows));
}

if (import.meta.main) await main(Deno.args.filter((a) => !a.startsWith("--")));
