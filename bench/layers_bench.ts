/**
 * Layer-kernel benchmark: time per call of every non-GEMM layer kernel (RMSNorm, AbsTopK, GELU,
 * attention, residual add, embedding, bigram, cross-entropy, Adam, gradient RMS, randn) at the
 * small preset's shapes (bench/util.ts MODEL) times --ef (d_model C·ef, d_mlp M·ef, vocab V, N
 * tokens per step; the parameter buffer's length), on 1 and 2 threads. Prints milliseconds (best of several runs), the 2-thread speedup
 * and the memory throughput implied by the bytes each call must read and write.
 *
 * A second table times the backward's fill-then-accumulate chains against the single calls that
 * replace them (absTopKBackwardWrite, geluBackwardWrite with AbsTopK's mask, rmsnormBackward with
 * doutMask, rmsnormBackwardWrite, attentionBackwardWrite, crossEntropyBackward from the forward's
 * stats), alternately on one thread (CPU time), with how often the model's backward makes each
 * per step.
 *
 * Run: deno task bench (all benches) or
 *      deno run -A bench/layers_bench.ts [--quick] [--ef E] [name…].
 */
import type { U8Ptr } from "../src/backend/arena.ts";
import { Backend } from "../src/backend/backend.ts";
import {
  absTopKBackward,
  absTopKBackwardWrite,
  absTopKForward,
} from "../src/backend/ops/abstopk.ts";
import {
  attentionBackward,
  attentionBackwardWrite,
  attentionForward,
} from "../src/backend/ops/attention.ts";
import { adamStep } from "../src/backend/ops/adamw.ts";
import {
  bigramBackward,
  bigramForward,
  embeddingBackward,
  embeddingForward,
} from "../src/backend/ops/embedding.ts";
import { geluBackward, geluBackwardWrite, geluForward } from "../src/backend/ops/gelu.ts";
import { randnFill } from "../src/backend/ops/random.ts";
import { gradRmsNormalize } from "../src/backend/ops/reduce.ts";
import { add, fill } from "../src/backend/ops/residual.ts";
import {
  rmsnormBackward,
  rmsnormBackwardWrite,
  rmsnormForward,
} from "../src/backend/ops/rmsnorm.ts";
import { crossEntropyBackward, crossEntropyForward } from "../src/backend/ops/xent.ts";
import { parseArgs } from "node:util";
import { benchClock, bestMs, bestOfAlternating, filled, fmt, MODEL, QUICK, table } from "./util.ts";

const EF = Number(
  parseArgs({ args: Deno.args, options: { ef: { type: "string" } }, strict: false }).values.ef ??
    1,
);
const C = MODEL.C * EF, M = MODEL.M * EF, V = MODEL.V, N = MODEL.N;
/** Attention at the model's shape: 16 sequences of 128 tokens, heads of 16 channels. */
const B = 16, T = 128, H = C / 16, DH = 16, L = 4;
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

const u8 = (be: Backend, n: number) => be.arena.u8Buffer(n, "mask");

/** A mask keeping every fourth entry (afrac = 1/4). */
function quarterMask(be: Backend, n: number): U8Ptr {
  const m = u8(be, n);
  be.arena.u8(m, n).forEach((_, i, a) => a[i] = i % 4 === 0 ? 1 : 0);
  return m;
}

/** q, k, v, a sink and the forward's probabilities, for the attention cases. */
function attentionInputs(be: Backend) {
  const q = filled(be, C * N, 1, 1.5), k = filled(be, C * N, 2, 1.5), v = filled(be, C * N, 3);
  const out = filled(be, C * N, 0), att = filled(be, H * B * T * T, 0), sink = filled(be, H, 5);
  attentionForward(be, { out, att, q, k, v, sink, B, T, H, dh: DH });
  return { out, att, q, k, v, sink };
}

function attentionGrads(be: Backend) {
  return {
    dq: filled(be, C * N, 0),
    dk: filled(be, C * N, 0),
    dv: filled(be, C * N, 0),
    dsink: filled(be, H, 0),
    datt: filled(be, H * B * T * T, 0),
    dout: filled(be, C * N, 7),
  };
}

interface Pair {
  name: string;
  /** Calls per training step (the model's backward, L layers; in units of this shape). */
  perStep: number;
  /** Allocates the buffers; returns [the fill-then-accumulate chain, the single call]. */
  setup: (be: Backend) => [() => void, () => void];
}

const zero = (be: Backend, x: number, n: number) => fill(be, { x, n, value: 0 });

/** Each backward chain of the model against the call that replaces it (same bits). */
const PAIRS: Pair[] = [
  {
    // Per layer: attn.resid_delta and mlp.resid_delta [C], q, k, v together [3C].
    name: "fill + absTopKBackward [C] → absTopKBackwardWrite",
    perStep: 5 * L,
    setup: (be) => {
      const d = filled(be, C * N, 1), di = filled(be, C * N, 0), m = quarterMask(be, C * N);
      const a = { dinp: di, dout: d, mask: m, C, N };
      return [
        () => (zero(be, di, C * N), absTopKBackward(be, a)),
        () => absTopKBackwardWrite(be, a),
      ];
    },
  },
  {
    name: "fill + absTopKBackward + fill + geluBackward [M] → geluBackwardWrite(mask)",
    perStep: L,
    setup: (be) => {
      const x = filled(be, M * N, 1, 2), d = filled(be, M * N, 2), mid = filled(be, M * N, 0);
      const di = filled(be, M * N, 0), m = quarterMask(be, M * N);
      return [() => {
        zero(be, mid, M * N);
        absTopKBackward(be, { dinp: mid, dout: d, mask: m, C: M, N });
        zero(be, di, M * N);
        geluBackward(be, { dinp: di, dout: mid, inp: x, n: M * N });
      }, () => geluBackwardWrite(be, { dinp: di, dout: d, mask: m, inp: x, n: M * N })];
    },
  },
  {
    name: "geluBackwardWrite(mask) → geluBackwardWrite(mask, forward's phi)",
    perStep: L,
    setup: (be) => {
      const x = filled(be, M * N, 1, 2), d = filled(be, M * N, 2), di = filled(be, M * N, 0);
      const m = quarterMask(be, M * N), phi = filled(be, M * N, 0), o = filled(be, M * N, 0);
      geluForward(be, { out: o, inp: x, n: M * N, phi });
      const a = { dinp: di, dout: d, mask: m, inp: x, n: M * N };
      return [() => geluBackwardWrite(be, a), () => geluBackwardWrite(be, { ...a, phi })];
    },
  },
  {
    name: "geluForward → geluForward(phi) (the forward's cost of keeping phi)",
    perStep: L,
    setup: (be) => {
      const x = filled(be, M * N, 1, 2), o = filled(be, M * N, 0), phi = filled(be, M * N, 0);
      return [
        () => geluForward(be, { out: o, inp: x, n: M * N }),
        () => geluForward(be, { out: o, inp: x, n: M * N, phi }),
      ];
    },
  },
  {
    name: "fill + absTopKBackward + rmsnormBackward [C] → rmsnormBackward(doutMask)",
    perStep: 2 * L,
    setup: (be) => {
      const x = filled(be, C * N, 1), w = filled(be, C, 2), d = filled(be, C * N, 3);
      const mid = filled(be, C * N, 0), di = filled(be, C * N, 0), dw = filled(be, C, 0);
      const r = filled(be, N, 4, 0.5), m = quarterMask(be, C * N);
      const base = { dinp: di, dweight: dw, inp: x, weight: w, rstd: r, C, N };
      return [() => {
        zero(be, mid, C * N);
        absTopKBackward(be, { dinp: mid, dout: d, mask: m, C, N });
        rmsnormBackward(be, { ...base, dout: mid });
      }, () => rmsnormBackward(be, { ...base, dout: d, doutMask: m })];
    },
  },
  {
    name: "fill + rmsnormBackward [C] → rmsnormBackwardWrite",
    perStep: 1,
    setup: (be) => {
      const x = filled(be, C * N, 1), w = filled(be, C, 2), d = filled(be, C * N, 3);
      const di = filled(be, C * N, 0), dw = filled(be, C, 0), r = filled(be, N, 4, 0.5);
      const a = { dinp: di, dweight: dw, dout: d, inp: x, weight: w, rstd: r, C, N };
      return [
        () => (zero(be, di, C * N), rmsnormBackward(be, a)),
        () => rmsnormBackwardWrite(be, a),
      ];
    },
  },
  {
    name: "crossEntropyBackward → crossEntropyBackward(forward's stats)",
    perStep: 1,
    setup: (be) => {
      const l = filled(be, V * N, 1, 4), dl = filled(be, V * N, 0), t = tokens(be, N, V);
      const loss = filled(be, N, 0), stats = filled(be, 2 * N, 0);
      crossEntropyForward(be, { losses: loss, logits: l, targets: t, V, N, stats });
      const a = { dlogits: dl, logits: l, targets: t, V, N, scale: 1 / N };
      return [() => crossEntropyBackward(be, a), () => crossEntropyBackward(be, { ...a, stats })];
    },
  },
  {
    name: "fill + attentionBackward → attentionBackwardWrite",
    perStep: L,
    setup: (be) => {
      const a = { ...attentionInputs(be), ...attentionGrads(be), B, T, H, dh: DH };
      return [
        () => (zero(be, a.dq, 3 * C * N), attentionBackward(be, a)),
        () => attentionBackwardWrite(be, a),
      ];
    },
  },
];

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
    name: "attentionForward",
    shape: `B=${B} T=${T} H=${H} dh=${DH}`,
    bytes: 4 * (4 * C * N + H * B * T * T),
    setup: (be) => {
      const a = attentionInputs(be);
      return () => attentionForward(be, { ...a, B, T, H, dh: DH });
    },
  },
  {
    name: "attentionBackward",
    shape: `B=${B} T=${T} H=${H} dh=${DH}`,
    bytes: 4 * (7 * C * N + 2 * H * B * T * T),
    setup: (be) => {
      const a = attentionInputs(be), g = attentionGrads(be);
      return () => attentionBackward(be, { ...a, ...g, B, T, H, dh: DH });
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

/** The chains against their single calls, alternately on one thread (CPU time). */
async function timePairs(pairs: Pair[]): Promise<void> {
  const be = await Backend.create({ threads: 1 });
  const now = benchClock(1);
  try {
    const rows = pairs.map((p) => {
      const mark = be.arena.mark();
      const [chain, single] = bestOfAlternating(p.setup(be), QUICK ? 2 : 9, now);
      be.arena.reset(mark);
      return [
        p.name,
        fmt(chain, 2),
        fmt(single, 2),
        fmt(chain / single, 2) + "×",
        String(p.perStep),
        fmt((chain - single) * p.perStep, 1),
      ];
    });
    console.log(`\n== backward chains → single calls (1 thread, CPU ms per call, ef ${EF}) ==`);
    console.log(
      table(["chain → call", "chain", "call", "ratio", "per step", "ms saved/step"], rows),
    );
  } finally {
    be.close();
  }
}

/** Prints the tables; `only` restricts them to kernels whose name contains one of the strings. */
export async function main(only: string[] = []): Promise<void> {
  console.log(`\n== layer kernels (ms per call, small preset shapes × ef ${EF}) ==`);
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
  const pairs = only.length ? PAIRS.filter((p) => only.some((o) => p.name.includes(o))) : PAIRS;
  if (pairs.length) await timePairs(pairs);
}

if (import.meta.main) {
  const args = Deno.args.filter((a, i) => !a.startsWith("--") && Deno.args[i - 1] !== "--ef");
  await main(args);
}
