/**
 * Attention forward and backward (asm/kernels/attention.ts) at the default model's shapes
 * (bench/util.ts MODEL), and at twice its context with half the sequences, on 1 and 2
 * threads: best wall time, GFLOP/s (attentionFlops: the forward's two products over the causal
 * triangle, the backward's four; exp and softmax not counted) and the 2-thread speed-up.
 *
 * Run: deno task bench (all benches) or deno run -A bench/attention_bench.ts [--quick].
 */
import { Backend } from "../src/backend/backend.ts";
import {
  attentionBackward,
  attentionFlops,
  attentionForward,
  type AttentionShape,
} from "../src/backend/ops/attention.ts";
import { bestMs, fmt, gflops, MODEL, QUICK, table } from "./util.ts";

const { B, T, H, D } = MODEL;
const CASES: { shape: AttentionShape; withSink: boolean }[] = [
  { shape: { B, T, H, dh: D }, withSink: false },
  { shape: { B, T, H, dh: D }, withSink: true },
  { shape: { B: Math.max(1, B >> 1), T: 2 * T, H, dh: D }, withSink: true },
];

/** Forward and backward milliseconds of one case on this backend. */
function timeCase(be: Backend, s: AttentionShape, withSink: boolean): [number, number] {
  const mark = be.arena.mark();
  const act = s.H * s.dh * s.B * s.T;
  const attN = s.H * s.B * s.T * s.T;
  const t = (n: number, scale: number) => {
    const x = be.arena.tensor([n]);
    be.arena.view(x).forEach((_, i, a) => a[i] = scale * Math.sin(i * 0.7 + n));
    return x.ptr;
  };
  const [q, k, v, dout] = [t(act, 2), t(act, 2), t(act, 1), t(act, 1)];
  const [dq, dk, dv] = [t(act, 0), t(act, 0), t(act, 0)];
  const sink = withSink ? t(s.H, 1) : 0, dsink = t(s.H, 0);
  const out = t(act, 0), att = t(attN, 0), datt = t(attN, 0);
  const opts = { reps: QUICK ? 2 : 7 };
  const fwd = bestMs(() => attentionForward(be, { out, att, q, k, v, sink, ...s }), opts);
  const bwd = bestMs(
    () => attentionBackward(be, { dq, dk, dv, dsink, datt, dout, q, k, v, att, sink, ...s }),
    opts,
  );
  be.arena.reset(mark);
  return [fwd, bwd];
}

export async function main(): Promise<void> {
  const cases = QUICK ? CASES.slice(0, 1) : CASES;
  const ms: [number, number][][] = [];
  for (const threads of [1, 2]) {
    const be = await Backend.create({ threads });
    try {
      ms.push(cases.map(({ shape, withSink }) => timeCase(be, shape, withSink)));
    } finally {
      be.close();
    }
  }
  const rows: string[][] = [];
  cases.forEach(({ shape: s, withSink }, c) => {
    const flops = attentionFlops(s);
    const label = `B=${s.B} T=${s.T} H=${s.H} dh=${s.dh}${withSink ? " sink" : ""}`;
    for (const th of [0, 1]) {
      const [f, b] = ms[th][c];
      const [f1, b1] = ms[0][c];
      rows.push([
        label,
        String(th + 1),
        fmt(f, 2),
        fmt(gflops(flops, f)),
        fmt(b, 2),
        fmt(gflops(2 * flops, b)),
        th === 0 ? "" : `${fmt(f1 / f, 2)} / ${fmt(b1 / b, 2)}`,
      ]);
    }
  });
  console.log("\nattention: causal multi-head, feature-major, best of 7");
  console.log(table(
    ["shape", "threads", "fwd ms", "GFLOP/s", "bwd ms", "GFLOP/s", "speed-up fwd / bwd"],
    rows,
  ));
}

if (import.meta.main) await main();
