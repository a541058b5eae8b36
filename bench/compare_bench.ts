/**
 * This checkout's kernels against another checkout's, in one run: every activation-side kernel
 * (RMSNorm, AbsTopK, GELU, attention, residual add, fill, embedding, bigram, cross-entropy) at the
 * small preset's shapes times --ef, called through the same wrapper API on both trees' builds,
 * the two timed alternately so that a load change on the (shared) machine hits both alike. With
 * --step, also the whole training step (StepRunner of each tree at the end of the anneal).
 *
 * With one thread the times are process CPU time (what other processes on the machine take is
 * not counted); with more, wall time. Each figure is the best of --reps calls.
 *
 *   git worktree add /tmp/base <commit> && (cd /tmp/base && deno task build)
 *   deno run -A bench/compare_bench.ts --base /tmp/base [--ef 4] [--threads 1] [--reps 9]
 *     [--step [--steps 3]] [--only REGEX]
 *
 * --only keeps the kernel cases whose name matches REGEX (e.g. --only sddmm).
 */
import { parseArgs } from "node:util";
import type { U8Ptr } from "../src/backend/arena.ts";
import { Backend } from "../src/backend/backend.ts";
import * as ops from "../src/backend/ops/index.ts";
import { type RunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import { StepRunner } from "../src/train/step.ts";
import { benchClock, benchData, bestOfAlternating, fmt, table } from "./util.ts";

type Ops = typeof ops;
interface Tree {
  name: string;
  Backend: typeof Backend;
  ops: Ops;
  StepRunner: typeof StepRunner;
}

interface Shapes {
  C: number;
  M: number;
  N: number;
  B: number;
  T: number;
  H: number;
  V: number;
}

/** Allocates a case's buffers on `be` and returns the call to time (through tree `o`'s wrappers). */
type Setup = (be: Backend, o: Ops, s: Shapes) => () => void;

function data(be: Backend, n: number, seed: number, scale = 1): number {
  const t = be.arena.tensor([n]);
  be.arena.view(t).set(benchData(n, seed, scale));
  return t.ptr;
}

function ids(be: Backend, n: number, v: number): number {
  const t = be.arena.tensor([n]);
  be.arena.viewI32(t).set(Int32Array.from({ length: n }, (_, i) => (i * 7919) % v));
  return t.ptr;
}

function ones(be: Backend, n: number): U8Ptr {
  const m = be.arena.u8Buffer(n, "mask");
  be.arena.u8(m, n).fill(1);
  return m;
}

/** Attention inputs with a saved forward (att), for the backward. */
function attention(be: Backend, o: Ops, s: Shapes) {
  const { C, N, B, T, H } = s;
  const q = data(be, C * N, 1, 1.5), k = data(be, C * N, 2, 1.5), v = data(be, C * N, 3);
  const out = data(be, C * N, 0), att = data(be, H * B * T * T, 0), sink = data(be, H, 5);
  const shape = { B, T, H, dh: C / H };
  o.attentionForward(be, { out, att, q, k, v, sink, ...shape });
  return { q, k, v, out, att, sink, shape };
}

/**
 * The kept-entry weight gradient (sddmm) of a [rows, cols] matrix at `density`, over N tokens;
 * the pattern is a fixed pseudo-random one (the same on both trees).
 */
function sddmmCase(rows: number, cols: number, density: number): Setup {
  return (be, o, { N }) => {
    const w = new Float32Array(rows * cols);
    const step = Math.round(1 / density);
    for (let i = 0; i < w.length; i++) if ((i * 2654435761) % step === 0) w[i] = 1 + (i % 7);
    const wt = be.arena.tensor([rows * cols]);
    be.arena.view(wt).set(w);
    const m = new o.SparseMatrix(be, rows, cols);
    m.update(wt.ptr);
    const dy = data(be, rows * N, 1), x = data(be, cols * N, 2), out = data(be, m.nnz, 0);
    return () => o.sddmm(be, { w: m, dy, x, N, out });
  };
}

const CASES: [string, Setup][] = [
  [
    "sddmm c_fc [M, C] density 1/(4·ef²)",
    (be, o, s) => sddmmCase(s.M, s.C, 1 / (4 * (s.C / 128) ** 2))(be, o, s),
  ],
  [
    "sddmm mlp.c_proj [C, M] density 1/(4·ef²)",
    (be, o, s) => sddmmCase(s.C, s.M, 1 / (4 * (s.C / 128) ** 2))(be, o, s),
  ],
  ["rmsnormForward [C]", (be, o, { C, N }) => {
    const x = data(be, C * N, 1), w = data(be, C, 2), out = data(be, C * N, 0);
    const rstd = data(be, N, 0);
    return () => o.rmsnormForward(be, { out, rstd, inp: x, weight: w, C, N });
  }],
  ["rmsnormBackward [C]", (be, o, { C, N }) => {
    const x = data(be, C * N, 1), w = data(be, C, 2), d = data(be, C * N, 3);
    const dinp = data(be, C * N, 0), dw = data(be, C, 0), rstd = data(be, N, 4, 0.5);
    return () =>
      o.rmsnormBackward(be, { dinp, dweight: dw, dout: d, inp: x, weight: w, rstd, C, N });
  }],
  ["absTopKForward [C] k=C/4", (be, o, { C, N }) => {
    const x = data(be, C * N, 1), out = data(be, C * N, 0), m = ones(be, C * N);
    return () => o.absTopKForward(be, { out, mask: m, inp: x, C, N, k: C / 4 });
  }],
  ["absTopKForward [M] k=M/4", (be, o, { M, N }) => {
    const x = data(be, M * N, 1), out = data(be, M * N, 0), m = ones(be, M * N);
    return () => o.absTopKForward(be, { out, mask: m, inp: x, C: M, N, k: M / 4 });
  }],
  ["absTopKForward [M] k=M", (be, o, { M, N }) => {
    const x = data(be, M * N, 1), out = data(be, M * N, 0), m = ones(be, M * N);
    return () => o.absTopKForward(be, { out, mask: m, inp: x, C: M, N, k: M });
  }],
  ["absTopKBackward [M]", (be, o, { M, N }) => {
    const d = data(be, M * N, 1), dinp = data(be, M * N, 0), m = ones(be, M * N);
    return () => o.absTopKBackward(be, { dinp, dout: d, mask: m, C: M, N });
  }],
  ["geluForward [M]", (be, o, { M, N }) => {
    const x = data(be, M * N, 1, 2), out = data(be, M * N, 0);
    return () => o.geluForward(be, { out, inp: x, n: M * N });
  }],
  ["geluBackward [M]", (be, o, { M, N }) => {
    const x = data(be, M * N, 1, 2), d = data(be, M * N, 2), dinp = data(be, M * N, 0);
    return () => o.geluBackward(be, { dinp, dout: d, inp: x, n: M * N });
  }],
  ["attentionForward", (be, o, s) => {
    const a = attention(be, o, s);
    return () => o.attentionForward(be, { ...a, ...a.shape });
  }],
  ["attentionBackward", (be, o, s) => {
    const a = attention(be, o, s);
    const n = s.C * s.N, dq = data(be, n, 0), dk = data(be, n, 0), dv = data(be, n, 0);
    const dsink = data(be, s.H, 0), datt = data(be, s.H * s.B * s.T * s.T, 0);
    const dout = data(be, n, 7);
    return () => o.attentionBackward(be, { ...a, ...a.shape, dq, dk, dv, dsink, datt, dout });
  }],
  ["add [C]", (be, o, { C, N }) => {
    const a = data(be, C * N, 1), b = data(be, C * N, 2), out = data(be, C * N, 0);
    return () => o.add(be, { out, a, b, n: C * N });
  }],
  ["fill [M]", (be, o, { M, N }) => {
    const x = data(be, M * N, 0);
    return () => o.fill(be, { x, n: M * N, value: 0 });
  }],
  ["embeddingForward", (be, o, { C, N, V }) => {
    const w = data(be, V * C, 1), out = data(be, C * N, 0), t = ids(be, N, V);
    return () => o.embeddingForward(be, { out, tokens: t, wte: w, C, N, V });
  }],
  ["embeddingBackward", (be, o, { C, N, V }) => {
    const dw = data(be, V * C, 0), d = data(be, C * N, 1), t = ids(be, N, V);
    return () => o.embeddingBackward(be, { dwte: dw, dout: d, tokens: t, C, N, V });
  }],
  ["bigramForward", (be, o, { N, V }) => {
    const tab = data(be, V * V, 1), l = data(be, V * N, 0), t = ids(be, N, V);
    return () => o.bigramForward(be, { logits: l, tokens: t, table: tab, V, N });
  }],
  ["crossEntropyForward", (be, o, { N, V }) => {
    const l = data(be, V * N, 1, 4), loss = data(be, N, 0), t = ids(be, N, V);
    return () => o.crossEntropyForward(be, { losses: loss, logits: l, targets: t, V, N });
  }],
  ["crossEntropyBackward", (be, o, { N, V }) => {
    const l = data(be, V * N, 1, 4), dl = data(be, V * N, 0), t = ids(be, N, V);
    return () =>
      o.crossEntropyBackward(be, { dlogits: dl, logits: l, targets: t, V, N, scale: 1 / N });
  }],
];

async function loadTree(dir: string): Promise<Tree> {
  const root = new URL(`file://${dir.replace(/\/$/, "")}/`);
  const imp = (p: string) => import(new URL(p, root).href);
  return {
    name: dir,
    Backend: (await imp("src/backend/backend.ts")).Backend,
    ops: await imp("src/backend/ops/index.ts"),
    StepRunner: (await imp("src/train/step.ts")).StepRunner,
  };
}

function stepConfig(ef: number): RunConfig {
  const rc = structuredClone(PRESETS.small);
  rc.model.ef = ef;
  return rc;
}

export async function main(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      base: { type: "string" },
      ef: { type: "string" },
      threads: { type: "string" },
      reps: { type: "string" },
      step: { type: "boolean" },
      steps: { type: "string" },
      only: { type: "string" },
    },
    strict: true,
  });
  if (!values.base) throw new Error("--base DIR (a built checkout to compare against) is required");
  const ef = Number(values.ef ?? 1), threads = Number(values.threads ?? 1);
  const reps = Number(values.reps ?? 9);
  const here: Tree = { name: "this tree", Backend, ops, StepRunner };
  const base = await loadTree(values.base);
  const now = benchClock(threads);
  const C = 128 * ef, M = 512 * ef;
  const s: Shapes = { C, M, N: 2048, B: 16, T: 128, H: C / 16, V: 2048 };
  console.log(
    `\n## Kernels: ${values.base} (base) vs this tree, C=${C} M=${M} N=${s.N} H=${s.H}, ` +
      `${threads} thread(s), best of ${reps} (${threads > 1 ? "wall" : "CPU"} time), ` +
      `load average ${Deno.loadavg().map((x) => x.toFixed(1)).join(" ")}\n`,
  );
  const bes = [
    await base.Backend.create({ threads }) as unknown as Backend,
    await here.Backend.create({ threads }),
  ];
  const rows: string[][] = [];
  const only = values.only === undefined ? null : new RegExp(values.only);
  for (const [name, setup] of CASES) {
    if (only && !only.test(name)) continue;
    const marks = bes.map((be) => be.arena.mark());
    const fns = [setup(bes[0], base.ops, s), setup(bes[1], here.ops, s)];
    const [b, h] = bestOfAlternating(fns, reps, now);
    rows.push([name, fmt(b, 2), fmt(h, 2), fmt(b / h, 2) + "×"]);
    bes.forEach((be, i) => be.arena.reset(marks[i]));
  }
  bes.forEach((be) => be.close());
  console.log(table(["kernel", "base ms", "this ms", "base / this"], rows));
  if (!values.step) return;

  const rc = stepConfig(ef);
  const N = rc.train.batchSize * rc.model.nCtx;
  const inputs = new Int32Array(N).map((_, i) => (i * 7919) % rc.model.vocabSize);
  const targets = new Int32Array(N).map((_, i) => (i * 104729) % rc.model.vocabSize);
  const at = rc.train.steps - 10;
  const runners = await Promise.all([base, here].map(async (t) => {
    const be = await t.Backend.create({ threads });
    const r = new t.StepRunner(be as unknown as Backend, rc);
    r.model.init(rc.train.seed);
    return { be, r };
  }));
  // Per kernel, the least time over the steps of its calls in one step, on the bench's clock
  // (CPU time with one thread): each backend's run() is wrapped, the base tree's too.
  const mins = runners.map(() => new Map<string, number>());
  const fns = runners.map(({ be, r }, i) => {
    const acc = new Map<string, number>();
    const run = be.run.bind(be);
    be.run = (kernel: string, args: readonly number[], work?: number) => {
      const t0 = now();
      const out = run(kernel, args, work);
      acc.set(kernel, (acc.get(kernel) ?? 0) + now() - t0);
      return out;
    };
    let step = at;
    return () => {
      acc.clear();
      r.step(inputs, targets, step++);
      for (const [k, ms] of acc) mins[i].set(k, Math.min(mins[i].get(k) ?? Infinity, ms));
    };
  });
  const [b, h] = bestOfAlternating(fns, Number(values.steps ?? 3), now);
  runners.forEach(({ be }) => be.close());
  console.log(
    `
## Training step (small preset, ef ${ef}, end of the anneal, ${threads} thread(s)): ` +
      `base ${fmt(b, 0)} ms, this ${fmt(h, 0)} ms, base / this ${fmt(b / h, 2)}×\n`,
  );
  const kernels = [...new Set([...mins[0].keys(), ...mins[1].keys()])];
  const ms = (i: number, k: string) => mins[i].get(k) ?? 0;
  const side = (i: number) => kernels.filter(isActivationSide).reduce((a, k) => a + ms(i, k), 0);
  kernels.sort((x, y) => Math.max(ms(0, y), ms(1, y)) - Math.max(ms(0, x), ms(1, x)));
  const krows = kernels.filter(isActivationSide).filter((k) => Math.max(ms(0, k), ms(1, k)) >= 1)
    .map((k) => [k, fmt(ms(0, k), 1), fmt(ms(1, k), 1)]);
  krows.push([
    "activation side",
    fmt(side(0), 0),
    fmt(side(1), 0),
    fmt(side(0) / side(1), 2) + "×",
  ]);
  console.log(`per kernel, least ms per step over the steps (${threads > 1 ? "wall" : "CPU"}):`);
  console.log(table(["kernel", "base", "this", "base / this"], krows));
}

/** The kernels that grow with width whatever the weight density (see bench/train_bench.ts). */
function isActivationSide(kernel: string): boolean {
  return /^(rmsnorm|abstopk|gelu|attention|add_f32|fill_f32|copy_f32|embedding|bigram|crossentropy|mean_loss)/
    .test(kernel);
}

if (import.meta.main) await main(Deno.args);
