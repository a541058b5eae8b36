/**
 * GEMM benchmark: thinwire's f32 GEMM (src/backend/ops/gemm.ts) in the three layouts a linear
 * layer uses, on 1 and 2 threads, next to the WASM SIMD peak and to peers (bench/peers.ts), at
 * 512³ and at the default model's shapes (d_model 256, d_mlp 1024, vocab 2048, N = 2048 tokens).
 * Prints GFLOP/s (best of several runs) and the ratios that matter.
 *
 * Run: deno task bench (all benches) or deno run -A bench/gemm_bench.ts [--quick].
 */
import { Backend } from "../src/backend/backend.ts";
import { gemm, GEMM_DEFAULT, GEMM_KERNELS, type GemmKernel } from "../src/backend/ops/gemm.ts";
import { type MatMulPeer, plainPeer, startOrt, startTfjs } from "./peers.ts";
import { bestMs, bestMsAsync, fmt, gflops, QUICK, table } from "./util.ts";

/** [M, N, K] and what it is in the model. */
const SHAPES: [number, number, number, string][] = [
  [512, 512, 512, "512³"],
  [1024, 2048, 256, "c_fc: d_mlp×N×d_model"],
  [256, 2048, 1024, "mlp c_proj: d_model×N×d_mlp"],
  [2048, 2048, 256, "lm_head: vocab×N×d_model"],
];

/** The three layouts of a linear layer's GEMMs, at one (M, N, K). */
const LAYOUTS = [
  { label: "W·X", transA: false, transB: false },
  { label: "Wᵀ·dY", transA: true, transB: false },
  { label: "dY·Xᵀ", transA: false, transB: true },
] as const;

function filled(be: Backend, n: number, seed: number): number {
  const t = be.arena.tensor([n]);
  const x = be.arena.view(t);
  for (let i = 0; i < n; i++) x[i] = Math.sin(seed + i * 0.37);
  return t.ptr;
}

/** GFLOP/s of our gemm at one shape and layout. */
function timeOurs(
  be: Backend,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  kernel: GemmKernel = GEMM_DEFAULT,
): number {
  const mark = be.arena.mark();
  const a = filled(be, M * K, 1), b = filled(be, K * N, 2), c = be.arena.tensor([M * N]).ptr;
  const flops = 2 * M * N * K;
  const ms = bestMs(() => gemm(be, { M, N, K, a, transA, b, transB, c, kernel }), {
    reps: QUICK ? 3 : 8,
    warmup: 2,
  });
  be.arena.reset(mark);
  return gflops(flops, ms);
}

/** Per-core peak of f32x4 mul-then-add (asm/kernels/peak.ts), GFLOP/s summed over threads. */
function timePeak(be: Backend): number {
  const out = be.arena.allocBytes(16 * be.threads);
  const run = (steps: number) => be.run("peak_f32x4_mul_add", [steps, 1 - 2 ** -10, 2 ** -10, out]);
  for (let i = 0; i < 200; i++) run(1e4); // let the engine tier the loop up to optimised code
  const steps = 4e6;
  return gflops(96 * steps * be.threads, bestMs(() => run(steps), { reps: 5, warmup: 0 }));
}

async function timePeer(
  peer: MatMulPeer,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  reps: number,
): Promise<number | string> {
  try {
    const job = await peer.prepare(M, N, K, transA, transB);
    try {
      return gflops(2 * M * N * K, await bestMsAsync(job.run, { reps, warmup: 1, budgetMs: 3000 }));
    } finally {
      job.dispose();
    }
  } catch (e) {
    return (e instanceof Error ? e.message : String(e)).split("\n")[0];
  }
}

export async function main(): Promise<void> {
  const shapes = QUICK ? SHAPES.slice(0, 1) : SHAPES;
  console.log("\n== gemm: f32 C = op(A)·op(B), GFLOP/s (best of several runs) ==");
  const be1 = await Backend.create({ threads: 1 });
  const be2 = await Backend.create({ threads: 2 });
  const peak1 = timePeak(be1), peak2 = timePeak(be2);
  console.log(
    `WASM SIMD peak (12 chains of f32x4 mul then add): 1 thread ${fmt(peak1)}, 2 threads ${
      fmt(peak2)
    }`,
  );

  // Micro-kernel variants, plain layout, one thread: the default is the fastest here.
  const [vm, vn, vk] = [512, 512, 512];
  const variants = GEMM_KERNELS.map((k) =>
    `${k.name} ${fmt(timeOurs(be1, vm, vn, vk, false, false, k.name))}`
  );
  console.log(
    `micro-kernels at ${vm}×${vn}×${vk}, 1 thread: ${
      variants.join(", ")
    } (default ${GEMM_DEFAULT})`,
  );

  const ours = shapes.map(([M, N, K]) =>
    [be1, be2].map((be) => LAYOUTS.map((l) => timeOurs(be, M, N, K, l.transA, l.transB)))
  );
  be1.close();
  be2.close();

  // Peers, one at a time, after ours (the ORT pool's threads may keep spinning once started).
  const notes: string[] = [];
  const peerCols: { label: string; values: (number | undefined)[] }[] = [];
  const addPeer = async (
    label: string,
    peer: MatMulPeer | string,
    layouts: readonly { transA: boolean; transB: boolean; label: string }[],
    reps: (M: number, N: number, K: number, transposed: boolean) => number,
  ) => {
    if (typeof peer === "string") {
      notes.push(`${label}: cannot start (${peer})`);
      for (const l of layouts) peerCols.push({ label: `${label} ${l.label}`, values: [] });
      return;
    }
    for (const l of layouts) {
      const values: (number | undefined)[] = [];
      for (const [M, N, K] of shapes) {
        const transposed = l.transA || l.transB;
        const r = await timePeer(peer, M, N, K, l.transA, l.transB, reps(M, N, K, transposed));
        if (typeof r === "string") {
          notes.push(`${label} ${l.label} ${M}×${N}×${K}: ${r}`);
          values.push(undefined);
        } else values.push(r);
      }
      peerCols.push({ label: layouts.length > 1 ? `${label} ${l.label}` : label, values });
    }
    await peer.close();
  };
  const small = (M: number, N: number, K: number) => M * N * K <= 512 ** 3;
  await addPeer("TS loop", plainPeer(), [LAYOUTS[0]], (M, N, K) => (small(M, N, K) ? 3 : 1));
  await addPeer("tfjs", await startTfjs(), LAYOUTS, (M, N, K, t) => (t && !small(M, N, K) ? 1 : 5));
  // One ORT pool of two threads serves both sessions; intraOpNumThreads picks 1 or 2.
  await addPeer("ort 1T", await startOrt(1, 2), [LAYOUTS[0]], () => 5);
  await addPeer("ort 2T", await startOrt(2, 2), [LAYOUTS[0]], () => 5);

  const header = [
    "M×N×K",
    ...LAYOUTS.map((l) => `1T ${l.label}`),
    ...LAYOUTS.map((l) => `2T ${l.label}`),
    ...peerCols.map((p) => p.label),
  ];
  const rows = shapes.map(([M, N, K], s) => [
    `${M}×${N}×${K}`,
    ...ours[s][0].map((x) => fmt(x)),
    ...ours[s][1].map((x) => fmt(x)),
    ...peerCols.map((p) => fmt(p.values[s])),
  ]);
  console.log("\nthinwire (1T, 2T: threads) and peers");
  console.log(table(header, rows));

  const col = (label: string, s: number) => peerCols.find((p) => p.label === label)?.values[s];
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "–" : `${fmt(a / b, 2)}×`;
  const ratioRows = shapes.map(([M, N, K, what], s) => {
    const [one, two] = ours[s];
    return [
      `${M}×${N}×${K}`,
      ratio(one[0], peak1),
      ratio(Math.min(...one), peak1),
      ratio(one[0], col("tfjs W·X", s)),
      ratio(one[0], col("ort 1T", s)),
      ratio(two[0], col("ort 2T", s)),
      ratio(one[1], one[0]),
      ratio(one[2], one[0]),
      ratio(two[0], one[0]),
      ratio(Math.min(...two), Math.max(...one)),
      what,
    ];
  });
  console.log("\nratios (ours = W·X on 1 thread unless noted)");
  console.log(table([
    "M×N×K",
    "vs peak",
    "worst layout vs peak",
    "vs tfjs",
    "vs ort 1T",
    "2T vs ort 2T",
    "Wᵀ·dY / W·X",
    "dY·Xᵀ / W·X",
    "2T / 1T",
    "2T worst / 1T best",
    "shape",
  ], ratioRows));
  for (const n of notes) console.log(`note: ${n}`);
}

if (import.meta.main) await main();
