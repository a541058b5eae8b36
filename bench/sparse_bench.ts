/**
 * Sparse weight × dense activation products (src/backend/ops/sparse.ts) against the dense gemm on
 * the same data, at the densities top-k anneals through, with the cost of rebuilding the
 * compressed copy; then magnitude top-k (src/backend/ops/topk.ts) against a full sort. Ratios
 * come from one run on one machine; shortest of repeated runs, 2 threads.
 *
 * Shapes: W [out=4096, in=1024], N = 64 tokens; forward Y[4096,64] = W·X + b, input gradient
 * dX[1024,64] += Wᵀ·dY, weight gradient dW = dY·Xᵀ (dense gemm) against dW at the stored entries
 * only (sddmm, the sparse-gradient mode). Top-k over the same 4,194,304 entries.
 *
 * Usage: deno run -A bench/sparse_bench.ts [--quick]
 */
import { Backend } from "../src/backend/backend.ts";
import { gemm } from "../src/backend/ops/gemm.ts";
import { sddmm, SparseMatrix, spmmBackwardInput, spmmForward } from "../src/backend/ops/sparse.ts";
import { magnitudeTopK, type NeuronAxis } from "../src/backend/ops/topk.ts";
import { fmt, QUICK, table } from "./util.ts";
import { Rng } from "../src/util/rng.ts";

const [OUT, IN, N] = [4096, 1024, 64];
const DENSITIES = [1, 1 / 4, 1 / 10, 1 / 100, 1 / 1000];

/** Uniform floats in [0, 1) from the project's seeded integer PRNG (bench data only). */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.float();
}

/**
 * Shortest time (ms) of one call of each fn, taking turns round by round so that a disturbance
 * of the machine hits them alike; fast calls are timed in batches of `batch`.
 */
function race(fns: (() => void)[], batch: number[]): number[] {
  const best = fns.map(() => Infinity);
  fns.forEach((fn) => fn());
  for (let round = 0; round < (QUICK ? 3 : 15); round++) {
    fns.forEach((fn, i) => {
      const t0 = performance.now();
      for (let b = 0; b < batch[i]; b++) fn();
      best[i] = Math.min(best[i], (performance.now() - t0) / batch[i]);
    });
  }
  return best;
}

/** Shortest time (ms) of fn, with an untimed setup before each run. */
function timeWithSetup(fn: () => void, setup: () => void): number {
  let best = Infinity;
  for (let r = 0; r < (QUICK ? 3 : 9); r++) {
    setup();
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

const label = (d: number) => d === 1 ? "1" : `1/${Math.round(1 / d)}`;
const ms = (x: number) => fmt(x, x < 1 ? 3 : 2);
const gain = (dense: number, sparse: number) => `${fmt(dense / sparse, 1)}×`;

export async function main(): Promise<void> {
  const be = await Backend.create({ threads: 2 });
  try {
    const a = be.arena;
    const tensor = (n: number, seed: number) => {
      const t = a.tensor([n]);
      const r = rng(seed);
      a.view(t).forEach((_, i, v) => v[i] = r() * 2 - 1);
      return t.ptr;
    };
    const x = tensor(IN * N, 1), dy = tensor(OUT * N, 2);
    const y = tensor(OUT * N, 3), dx = tensor(IN * N, 4), bias = tensor(OUT, 5);
    const w = tensor(OUT * IN, 6);
    const dw = tensor(OUT * IN, 7), kept = tensor(OUT * IN, 8);
    const m = new SparseMatrix(be, OUT, IN);

    const denseFwd = () => gemm(be, { M: OUT, N, K: IN, a: w, b: x, c: y, bias });
    const denseBwd = () =>
      gemm(be, { M: IN, N, K: OUT, a: w, transA: true, b: dy, c: dx, accumulate: true });
    const denseDw = () => gemm(be, { M: OUT, N: IN, K: N, a: dy, b: x, transB: true, c: dw });
    const rows: string[][] = [];
    for (const d of DENSITIES) {
      const r = rng(Math.round(1 / d));
      a.f32(w, OUT * IN).forEach((_, i, v) => v[i] = r() < d ? r() * 2 - 1 : 0);
      const batch = d < 0.05 ? 20 : 1;
      m.update(w);
      const [df, fwd, db, bwd, dd, kdw, update] = race([
        denseFwd,
        () => spmmForward(be, { w: m, x, y, N, bias }),
        denseBwd,
        () => spmmBackwardInput(be, { w: m, dy, dx, N, accumulate: true }),
        denseDw,
        () => sddmm(be, { w: m, dy, x, N, out: kept }),
        () => m.update(w),
      ], [1, batch, 1, batch, 1, batch, 1]);
      rows.push([
        label(d),
        String(m.nnz),
        ms(df),
        ms(fwd),
        gain(df, fwd),
        ms(db),
        ms(bwd),
        gain(db, bwd),
        ms(dd),
        ms(kdw),
        gain(dd, kdw),
        ms(update),
      ]);
    }
    console.log(`\nsparse × dense: W [${OUT}, ${IN}], N = ${N}, ${be.threads} threads`);
    console.log(table(
      [
        "density",
        "nnz",
        "dense fwd",
        "sparse fwd",
        "gain",
        "dense dX",
        "sparse dX",
        "gain",
        "dense dW",
        "kept dW",
        "gain",
        "update",
      ],
      rows,
    ));
    console.log("(times in ms; gain = dense / sparse, same run)");

    const n = OUT * IN;
    const src = new Float32Array(n);
    const r = rng(9);
    // Roughly Gaussian weights (sum of uniforms), as after an optimizer step.
    for (let i = 0; i < n; i++) src[i] = 0.02 * (r() + r() + r() - 1.5);
    const reset = () => a.f32(w, n).set(src);
    const topk: string[][] = [];
    const cases: [number, NeuronAxis, number][] = [];
    for (const k of [n / 100, n / 1000]) {
      for (const [axis, j] of [["none", 0], ["row", 4], ["col", 4]] as const) {
        const neurons = axis === "row" ? OUT : axis === "col" ? IN : 0;
        cases.push([Math.max(Math.floor(k), neurons * j), axis, j]);
      }
    }
    for (const [k, axis, j] of cases) {
      const t = timeWithSetup(
        () => magnitudeTopK(be, { w, rows: OUT, cols: IN, k, j, axis }),
        reset,
      );
      topk.push([String(k), axis, String(j), ms(t)]);
    }
    const abs = src.map(Math.abs);
    const t0 = performance.now();
    abs.sort();
    const sortMs = performance.now() - t0;
    console.log(`\nmagnitude top-k over ${n} entries (W [${OUT}, ${IN}]), ${be.threads} threads`);
    console.log(table(["k", "axis", "j", "ms"], topk));
    console.log(`(for scale: sorting |w| in JS takes ${fmt(sortMs, 0)} ms)`);
  } finally {
    be.close();
  }
}

if (import.meta.main) await main();
