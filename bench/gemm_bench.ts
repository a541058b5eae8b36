/**
 * GEMM benchmark: thinwire's f32 GEMM (src/backend/ops/gemm.ts) in the three layouts a linear
 * layer uses, on 1 and 2 threads, next to the WASM SIMD peak and to peers (bench/peers.ts), at
 * 512³ and at the default model's shapes (bench/util.ts MODEL: the small preset's d_model, d_mlp,
 * vocab and tokens per step). Prints GFLOP/s and the ratios that matter.
 *
 * The machine may be shared, so every fast measurement (peak, ours, tfjs) is taken once per
 * round over several interleaved rounds and the best is kept: a ratio then compares figures
 * that had the same chances. onnxruntime-web runs first, in workers (bench/ort_worker.ts); the
 * slow peers (plain loop, tfjs transposed) run once at the end.
 *
 * Run: deno task bench (all benches) or deno run -A --config bench/bench.json bench/gemm_bench.ts
 * [--quick] (the config that pins the peers).
 */
import { Backend } from "../src/backend/backend.ts";
import { compileKernels } from "../src/backend/wasm.ts";
import { gemm, GEMM_DEFAULT, GEMM_KERNELS, type GemmKernel } from "../src/backend/ops/gemm.ts";
import { type MatMulPeer, plainPeer, startTfjs, timeOrtMatMul } from "./peers.ts";
import { filled, fmt, gflops, MODEL, QUICK, table, warmUp } from "./util.ts";

/** [M, N, K] and what it is in the model. */
const SHAPES: [number, number, number, string][] = [
  [512, 512, 512, "512³"],
  [MODEL.M, MODEL.N, MODEL.C, "c_fc: d_mlp×N×d_model"],
  [MODEL.C, MODEL.N, MODEL.M, "mlp c_proj: d_model×N×d_mlp"],
  [MODEL.V, MODEL.N, MODEL.C, "lm_head: vocab×N×d_model"],
];

/** The three layouts of a linear layer's GEMMs, at one (M, N, K). */
const LAYOUTS = [
  { label: "W·X", transA: false, transB: false },
  { label: "Wᵀ·dY", transA: true, transB: false },
  { label: "dY·Xᵀ", transA: false, transB: true },
] as const;

/** Something timed `reps` times per round; `best` is the highest GFLOP/s seen. */
interface Job {
  flops: number;
  run: () => void | Promise<void>;
  reps: number;
  best: number;
}

function job(flops: number, run: () => void | Promise<void>, reps = 1): Job {
  return { flops, run, reps, best: 0 };
}

async function timeRound(j: Job): Promise<void> {
  for (let r = 0; r < j.reps; r++) {
    const t0 = performance.now();
    await j.run();
    j.best = Math.max(j.best, gflops(j.flops, performance.now() - t0));
  }
}

/** Our gemm at one shape, one layout per job; inputs allocated once. */
function oursJobs(be: Backend, M: number, N: number, K: number, kernels: GemmKernel[]): Job[][] {
  const a = filled(be, M * K, 1), b = filled(be, K * N, 2), c = be.arena.tensor([M * N]).ptr;
  return kernels.map((kernel) =>
    LAYOUTS.map(({ transA, transB }) =>
      // Twice in a row: the first call also wakes the other thread's worker.
      job(2 * M * N * K, () => gemm(be, { M, N, K, a, transA, b, transB, c, kernel }), 2)
    )
  );
}

/** The peak f32x4 mul-then-add rate (asm/kernels/peak.ts), summed over the threads. */
function peakJob(be: Backend): Job {
  const out = be.arena.allocBytes(16 * be.threads);
  const steps = 1e6;
  // The engine optimises a function once it is hot: many short calls first.
  warmUp(() => be.run("peak_f32x4_mul_add", [1e4, 1, 0, out]), 50);
  return job(
    96 * steps * be.threads,
    () => void be.run("peak_f32x4_mul_add", [steps, 1 - 2 ** -10, 2 ** -10, out]),
    5,
  );
}

/** Prepares a peer at every shape for one layout; a string says why it could not. */
async function peerJobs(
  peer: MatMulPeer | string,
  shapes: typeof SHAPES,
  transA: boolean,
  transB: boolean,
): Promise<{ jobs: (Job | string)[]; dispose: () => void }> {
  if (typeof peer === "string") return { jobs: shapes.map(() => peer), dispose: () => {} };
  const jobs: (Job | string)[] = [], disposers: (() => void)[] = [];
  for (const [M, N, K] of shapes) {
    try {
      const p = await peer.prepare(M, N, K, transA, transB);
      disposers.push(p.dispose);
      jobs.push(job(2 * M * N * K, p.run));
    } catch (e) {
      jobs.push((e instanceof Error ? e.message : String(e)).split("\n")[0]);
    }
  }
  return { jobs, dispose: () => disposers.forEach((d) => d()) };
}

/** Times each job once (the slow peers: seconds per run). */
async function timeAlone(jobs: (Job | string)[]): Promise<void> {
  for (const j of jobs) if (typeof j !== "string") await timeRound(j);
}

export async function main(): Promise<void> {
  const shapes = QUICK ? SHAPES.slice(0, 1) : SHAPES;
  const rounds = QUICK ? 2 : 8;
  console.log("\n== gemm: f32 C = op(A)·op(B), GFLOP/s (best over interleaved rounds) ==");

  // onnxruntime-web first, each thread count in its own worker (ended before anything else runs).
  const ortJobs = async (threads: number) => {
    const r = await timeOrtMatMul(threads, shapes.map(([M, N, K]) => [M, N, K] as const), rounds);
    return shapes.map((_, s) => {
      const x = typeof r === "string" ? r : r[s];
      return typeof x === "string" ? x : { ...job(0, () => {}), best: x };
    });
  };
  const ort = [await ortJobs(1), await ortJobs(2)];

  // One compiled module for both backends, so code the engine has optimised serves both.
  const module = await compileKernels();
  const be1 = await Backend.create({ threads: 1, wasm: module });
  const be2 = await Backend.create({ threads: 2, wasm: module });
  const peak1 = peakJob(be1), peak2 = peakJob(be2);
  // Micro-kernel variants at 512³, plain layout, 1 thread: the default should win here.
  const variants = oursJobs(be1, 512, 512, 512, GEMM_KERNELS.map((k) => k.name)).map((l) => l[0]);
  const ours = shapes.map(([M, N, K]) =>
    [be1, be2].map((be) => oursJobs(be, M, N, K, [GEMM_DEFAULT])[0])
  );
  const tfjs = await startTfjs();
  const tfjsPlain = await peerJobs(tfjs, shapes, false, false);

  const fast = [peak1, peak2, ...variants, ...ours.flat(2), ...tfjsPlain.jobs].filter(
    (j): j is Job => typeof j !== "string",
  );
  // Warm-up: the GEMM drivers are called once per multiply, so they take a while to get hot.
  for (const j of [...variants, ...ours.flat(2)]) warmUp(() => void j.run(), 30);
  for (let r = 0; r < rounds; r++) for (const j of fast) await timeRound(j);

  // Slow peers: one run each.
  const plain = await peerJobs(plainPeer(), shapes, false, false);
  await timeAlone(plain.jobs);
  const tfjsT = await Promise.all(
    [LAYOUTS[1], LAYOUTS[2]].map((l) => peerJobs(tfjs, shapes, l.transA, l.transB)),
  );
  for (const t of tfjsT) await timeAlone(t.jobs);
  tfjsPlain.dispose();
  tfjsT.forEach((t) => t.dispose());
  be1.close();
  be2.close();

  const value = (j: Job | string | undefined) => (typeof j === "object" ? j.best : undefined);
  const notes = new Set<string>();
  const cell = (name: string, j: Job | string) => {
    if (typeof j === "string") notes.add(`${name}: ${j}`);
    return fmt(value(j));
  };
  console.log(
    `WASM SIMD peak (12 chains of f32x4 mul then add): 1 thread ${fmt(peak1.best)}, ` +
      `2 threads ${fmt(peak2.best)}`,
  );
  console.log(
    `micro-kernels at 512³, W·X, 1 thread: ${
      GEMM_KERNELS.map((k, i) => `${k.name} ${fmt(variants[i].best)}`).join(", ")
    } (default ${GEMM_DEFAULT})`,
  );
  const peerCols: [string, (Job | string)[]][] = [
    ["TS loop", plain.jobs],
    ["tfjs W·X", tfjsPlain.jobs],
    ["tfjs Wᵀ·dY", tfjsT[0].jobs],
    ["tfjs dY·Xᵀ", tfjsT[1].jobs],
    ["ort 1T", ort[0]],
    ["ort 2T", ort[1]],
  ];
  const header = [
    "M×N×K",
    ...LAYOUTS.map((l) => `1T ${l.label}`),
    ...LAYOUTS.map((l) => `2T ${l.label}`),
    ...peerCols.map(([label]) => label),
  ];
  const rows = shapes.map(([M, N, K], s) => [
    `${M}×${N}×${K}`,
    ...ours[s].flat().map((j) => fmt(j.best)),
    ...peerCols.map(([label, jobs]) => cell(label, jobs[s])),
  ]);
  console.log("\nthinwire (1T, 2T: threads) and peers (ort includes copying inputs and output)");
  console.log(table(header, rows));

  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "–" : `${fmt(a / b, 2)}×`;
  const ratioRows = shapes.map(([M, N, K, what], s) => {
    const [one, two] = ours[s].map((l) => l.map((j) => j.best));
    return [
      `${M}×${N}×${K}`,
      ratio(one[0], peak1.best),
      ratio(Math.min(...one), peak1.best),
      ratio(one[0], value(tfjsPlain.jobs[s])),
      ratio(one[0], value(ort[0][s])),
      ratio(two[0], value(ort[1][s])),
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

if (import.meta.main) {
  await main();
  Deno.exit(0); // onnxruntime-web's worker threads would keep the process alive
}
