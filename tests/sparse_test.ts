import assert from "node:assert/strict";
import type { Backend } from "../src/backend/backend.ts";
import {
  csrGather,
  sddmm,
  SparseMatrix,
  spmmBackwardInput,
  spmmForward,
} from "../src/backend/ops/sparse.ts";
import { gemm } from "../src/backend/ops/gemm.ts";
import * as ref from "../src/reference/sparse.ts";
import { KernelError } from "../src/errors.ts";
import { randArray, rng, sameBits, upload, withBackends } from "./util.ts";

interface Shape {
  rows: number;
  cols: number;
  N: number;
  density: number;
}

/** A random rows×cols weight with about density·rows·cols nonzeros, some rows and cols empty. */
function sparseWeight(rows: number, cols: number, density: number, seed: number): Float32Array {
  const r = rng(seed);
  const w = randArray(rows * cols, seed + 1);
  const deadRow = Math.floor(r() * rows), deadCol = Math.floor(r() * cols);
  for (let i = 0; i < w.length; i++) {
    const [o, c] = [Math.floor(i / cols), i % cols];
    if (r() >= density || (rows > 2 && o === deadRow) || (cols > 2 && c === deadCol)) {
      w[i] = r() < 0.5 ? 0 : -0;
    }
  }
  return w;
}

function nonzeros(w: Float32Array): number {
  return w.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0);
}

interface Outputs {
  y: Float32Array;
  dx: Float32Array;
  nnz: number;
}

/** Forward (with bias if asked) and backward-input (accumulating if asked) on the backend. */
function runSparse(
  be: Backend,
  s: Shape,
  w: Float32Array,
  seed: number,
  opts: { bias: boolean; accumulate: boolean },
): Outputs {
  const { rows, cols, N } = s;
  const mark = be.arena.mark();
  try {
    const m = new SparseMatrix(be, rows, cols);
    const tw = upload(be, w);
    const nnz = m.update(tw.ptr);
    const x = upload(be, randArray(cols * N, seed + 2));
    const y = upload(be, randArray(rows * N, seed + 3, 9)); // garbage: forward overwrites
    const dy = upload(be, randArray(rows * N, seed + 4));
    const dx = upload(be, randArray(cols * N, seed + 5));
    const bias = opts.bias ? upload(be, randArray(rows, seed + 6)).ptr : undefined;
    spmmForward(be, { w: m, x: x.ptr, y: y.ptr, N, bias });
    spmmBackwardInput(be, { w: m, dy: dy.ptr, dx: dx.ptr, N, accumulate: opts.accumulate });
    return { y: be.arena.view(y).slice(), dx: be.arena.view(dx).slice(), nnz };
  } finally {
    be.arena.reset(mark);
  }
}

function runReference(
  s: Shape,
  w: Float32Array,
  seed: number,
  opts: { bias: boolean; accumulate: boolean },
): Outputs {
  const { rows, cols, N } = s;
  const x = randArray(cols * N, seed + 2);
  const y = randArray(rows * N, seed + 3, 9);
  const dy = randArray(rows * N, seed + 4);
  const dx = randArray(cols * N, seed + 5);
  const bias = opts.bias ? randArray(rows, seed + 6) : undefined;
  ref.spmmForward({ w, rows, cols, x, y, N, bias });
  ref.spmmBackwardInput({ w, rows, cols, dy, dx, N, accumulate: opts.accumulate });
  return { y, dx, nnz: nonzeros(w) };
}

const SHAPES: Shape[] = [
  { rows: 1, cols: 1, N: 1, density: 1 },
  { rows: 3, cols: 5, N: 17, density: 1 },
  { rows: 5, cols: 3, N: 3, density: 0.5 },
  { rows: 17, cols: 33, N: 7, density: 0.25 },
  { rows: 33, cols: 17, N: 64, density: 0.1 },
  { rows: 64, cols: 96, N: 130, density: 0.25 }, // x in 64-column tiles, N % 4 != 0
  { rows: 40, cols: 30, N: 301, density: 0.25 }, // sources packed in 64-column tiles
  { rows: 200, cols: 120, N: 37, density: 0.01 },
  { rows: 300, cols: 500, N: 9, density: 0.001 },
  { rows: 40, cols: 40, N: 32, density: 0 },
  { rows: 2100, cols: 5, N: 70, density: 0.05 }, // dX reads dy in 32-column tiles
  { rows: 20, cols: 30, N: 1030, density: 0.3 }, // sddmm sums over three token tiles
];

Deno.test("sparse matmul", async (t) => {
  await t.step("bit-exact vs reference, 1 and 2 threads identical", async () => {
    const byThreads: Outputs[][] = [];
    await withBackends([1, 2], (be) => {
      const outs: Outputs[] = [];
      SHAPES.forEach((s, i) => {
        const seed = 1000 + 10 * i;
        const w = sparseWeight(s.rows, s.cols, s.density, seed);
        const opts = { bias: i % 2 === 0, accumulate: i % 3 !== 0 };
        const got = runSparse(be, s, w, seed, opts);
        const want = runReference(s, w, seed, opts);
        const what = `${JSON.stringify(s)} threads=${be.threads}`;
        assert.equal(got.nnz, want.nnz, `nnz ${what}`);
        assert.ok(sameBits(got.y, want.y), `forward ${what}`);
        assert.ok(sameBits(got.dx, want.dx), `backward input ${what}`);
        outs.push(got);
      });
      byThreads.push(outs);
    });
    for (let i = 0; i < SHAPES.length; i++) {
      const [a, b] = [byThreads[0][i], byThreads[1][i]];
      const bits = (v: Float32Array) => new Uint32Array(v.buffer, v.byteOffset, v.length);
      assert.deepEqual(bits(a.y), bits(b.y), `forward bits ${JSON.stringify(SHAPES[i])}`);
      assert.deepEqual(bits(a.dx), bits(b.dx), `dx bits ${JSON.stringify(SHAPES[i])}`);
    }
  });

  await t.step("agrees with the dense gemm up to the sign of zero", async () => {
    await withBackends([2], (be) => {
      for (const [i, s] of SHAPES.entries()) {
        const seed = 2000 + 10 * i;
        const { rows, cols, N } = s;
        const w = sparseWeight(rows, cols, s.density, seed);
        const got = runSparse(be, s, w, seed, { bias: true, accumulate: true });
        const mark = be.arena.mark();
        const tw = upload(be, w);
        const x = upload(be, randArray(cols * N, seed + 2));
        const y = upload(be, new Float32Array(rows * N));
        const dy = upload(be, randArray(rows * N, seed + 4));
        const dx = upload(be, randArray(cols * N, seed + 5));
        const bias = upload(be, randArray(rows, seed + 6));
        gemm(be, { M: rows, N, K: cols, a: tw.ptr, b: x.ptr, c: y.ptr, bias: bias.ptr });
        gemm(be, {
          M: cols,
          N,
          K: rows,
          a: tw.ptr,
          transA: true,
          b: dy.ptr,
          c: dx.ptr,
          accumulate: true,
        });
        assert.ok(sameBits(got.y, be.arena.view(y)), `forward ${JSON.stringify(s)}`);
        assert.ok(sameBits(got.dx, be.arena.view(dx)), `dx ${JSON.stringify(s)}`);
        be.arena.reset(mark);
      }
    });
  });

  await t.step(
    "live rows: the zero rows of dy left out, the same bits, fewer entries",
    async () => {
      await withBackends([1, 2], (be) => {
        for (const [i, s] of SHAPES.entries()) {
          const seed = 4000 + 10 * i;
          const { rows, cols, N } = s;
          const w = sparseWeight(rows, cols, s.density, seed);
          // About half the rows dead (an ablated node's gradient rows: ±0), the rest random.
          const r = rng(seed + 1);
          const live = Float32Array.from({ length: rows }, () => r() < 0.5 ? 0 : 1);
          const dyv = randArray(rows * N, seed + 4);
          for (let o = 0; o < rows; o++) {
            if (live[o] === 0) { for (let n = 0; n < N; n++) dyv[o * N + n] = r() < 0.5 ? 0 : -0; }
          }
          const mark = be.arena.mark();
          try {
            const m = new SparseMatrix(be, rows, cols);
            m.update(upload(be, w).ptr);
            const dy = upload(be, dyv), lv = upload(be, live);
            const all = upload(be, randArray(cols * N, seed + 5, 9));
            const some = upload(be, randArray(cols * N, seed + 6, 9));
            spmmBackwardInput(be, { w: m, dy: dy.ptr, dx: all.ptr, N });
            spmmBackwardInput(be, { w: m, dy: dy.ptr, dx: some.ptr, N, live: lv.ptr });
            const what = `${JSON.stringify(s)} threads=${be.threads}`;
            assert.ok(sameBits(be.arena.view(some), be.arena.view(all)), `live = all rows ${what}`);
            const want = new Float32Array(cols * N);
            ref.spmmBackwardInput({ w, rows, cols, dy: dyv, dx: want, N, live });
            assert.ok(sameBits(be.arena.view(some), want), `live vs reference ${what}`);
            // Accumulating, every row counts (dx may hold −0): live is not used.
            const acc = upload(be, randArray(cols * N, seed + 7));
            const accWant = be.arena.view(acc).slice();
            spmmBackwardInput(be, {
              w: m,
              dy: dy.ptr,
              dx: acc.ptr,
              N,
              accumulate: true,
              live: lv.ptr,
            });
            ref.spmmBackwardInput({ w, rows, cols, dy: dyv, dx: accWant, N, accumulate: true });
            assert.ok(sameBits(be.arena.view(acc), accWant), `accumulating ${what}`);
          } finally {
            be.arena.reset(mark);
          }
        }
      });
    },
  );

  await t.step("update rebuilds after the weight changes (denser, sparser, empty)", async () => {
    await withBackends([2], (be) => {
      const [rows, cols, N] = [23, 41, 13];
      const m = new SparseMatrix(be, rows, cols);
      const x = upload(be, randArray(cols * N, 5));
      const y = upload(be, new Float32Array(rows * N));
      const tw = be.arena.tensor([rows * cols]);
      for (const [i, density] of [0.05, 1, 0.3, 0].entries()) {
        const w = sparseWeight(rows, cols, density, 300 + i);
        be.arena.view(tw).set(w);
        assert.equal(m.update(tw.ptr), nonzeros(w));
        assert.equal(m.nnz, nonzeros(w));
        spmmForward(be, { w: m, x: x.ptr, y: y.ptr, N });
        const want = new Float32Array(rows * N);
        ref.spmmForward({ w, rows, cols, x: be.arena.view(x), y: want, N });
        assert.ok(sameBits(be.arena.view(y), want), `density ${density}`);
      }
    });
  });

  await t.step("backward input is the gradient of forward (central differences)", () => {
    const [rows, cols, N] = [6, 5, 3];
    const w = sparseWeight(rows, cols, 0.5, 77);
    const x = randArray(cols * N, 78);
    const g = randArray(rows * N, 79); // dL/dy for L = Σ g·y
    const dx = new Float32Array(cols * N);
    ref.spmmBackwardInput({ w, rows, cols, dy: g, dx, N });
    const loss = (xs: Float32Array) => {
      const y = new Float32Array(rows * N);
      ref.spmmForward({ w, rows, cols, x: xs, y, N });
      return y.reduce((a, v, i) => a + v * g[i], 0);
    };
    const eps = 1e-2;
    for (let i = 0; i < x.length; i++) {
      const [xp, xm] = [x.slice(), x.slice()];
      xp[i] += eps;
      xm[i] -= eps;
      const fd = (loss(xp) - loss(xm)) / (2 * eps);
      assert.ok(
        Math.abs(fd - dx[i]) < 1e-3 * Math.max(1, Math.abs(fd)),
        `dx[${i}] ${dx[i]} vs ${fd}`,
      );
    }
  });

  await t.step("bad arguments throw KernelError naming the kernel and shapes", async () => {
    await withBackends([1], (be) => {
      assert.throws(() => new SparseMatrix(be, 0, 4), KernelError);
      assert.throws(() => new SparseMatrix(be, 3, 1.5), /SparseMatrix: cols must be/);
      const m = new SparseMatrix(be, 4, 3);
      assert.throws(() => m.update(0), /sparse_count_f32: pointer w/);
      assert.throws(() => new SparseMatrix(be, 4, 3, 13), /capacity must be in \[0, rows·cols\]/);
      const small = new SparseMatrix(be, 4, 3, 2), w = upload(be, sparseWeight(4, 3, 1, 5));
      assert.throws(
        () => small.update(w.ptr),
        /sparse_fill_f32: \d+ nonzeros exceed .* capacity of 2/,
      );
      const x = be.arena.tensor([3 * 8]), y = be.arena.tensor([4 * 8]);
      assert.throws(
        () => spmmForward(be, { w: m, x: x.ptr, y: y.ptr, N: 0 }),
        /spmm_forward_f32: N must be a positive integer, got 0 \(W \[4, 3\]/,
      );
      assert.throws(
        () => spmmBackwardInput(be, { w: m, dy: y.ptr, dx: 6, N: 8 }),
        /spmm_backward_input_f32: pointer dx/,
      );
    });
  });
});

/** The kept-entry weight gradient on the backend: sddmm and (from a dense gemm dW) csrGather. */
function runKept(be: Backend, s: Shape, w: Float32Array, seed: number) {
  const { rows, cols, N } = s;
  const mark = be.arena.mark();
  try {
    const m = new SparseMatrix(be, rows, cols);
    const nnz = m.update(upload(be, w).ptr);
    const dy = upload(be, randArray(rows * N, seed + 4));
    const x = upload(be, randArray(cols * N, seed + 2));
    // Garbage first: both kernels overwrite.
    const out = upload(be, randArray(Math.max(1, nnz), seed + 7, 9));
    sddmm(be, { w: m, dy: dy.ptr, x: x.ptr, N, out: out.ptr });
    const kept = be.arena.view(out).slice(0, nnz);
    const dw = upload(be, randArray(rows * cols, seed + 8, 9));
    gemm(be, { M: rows, N: cols, K: N, a: dy.ptr, b: x.ptr, transB: true, c: dw.ptr });
    const gathered = upload(be, randArray(Math.max(1, nnz), seed + 9, 9));
    csrGather(be, { w: m, dense: dw.ptr, out: gathered.ptr });
    return { kept, gathered: be.arena.view(gathered).slice(0, nnz) };
  } finally {
    be.arena.reset(mark);
  }
}

Deno.test("kept-entry weight gradient (sddmm)", async (t) => {
  await t.step("bit-exact vs reference and the dense gemm, 1 and 2 threads identical", async () => {
    const byThreads: Float32Array[][] = [];
    await withBackends([1, 2], (be) => {
      const outs: Float32Array[] = [];
      SHAPES.forEach((s, i) => {
        const seed = 3000 + 10 * i;
        const w = sparseWeight(s.rows, s.cols, s.density, seed);
        const got = runKept(be, s, w, seed);
        const want = ref.sddmm({
          w,
          rows: s.rows,
          cols: s.cols,
          dy: randArray(s.rows * s.N, seed + 4),
          x: randArray(s.cols * s.N, seed + 2),
          N: s.N,
        });
        const what = `${JSON.stringify(s)} threads=${be.threads}`;
        assert.equal(got.kept.length, nonzeros(w), what);
        assert.ok(sameBits(got.kept, want), `sddmm ${what}`);
        // The dense gemm's dW at the kept positions: the same bits (not just up to rounding).
        assert.ok(sameBits(got.gathered, want), `gemm dW gathered ${what}`);
        outs.push(got.kept);
      });
      byThreads.push(outs);
    });
    const bits = (v: Float32Array) => new Uint32Array(v.buffer, v.byteOffset, v.length);
    SHAPES.forEach((s, i) =>
      assert.deepEqual(bits(byThreads[0][i]), bits(byThreads[1][i]), JSON.stringify(s))
    );
  });

  await t.step("is the gradient of Σ g·(W·x) at the kept entries (central differences)", () => {
    const [rows, cols, N] = [5, 6, 3];
    const w = sparseWeight(rows, cols, 0.5, 81);
    const x = randArray(cols * N, 82), g = randArray(rows * N, 83);
    const dw = ref.sddmm({ w, rows, cols, dy: g, x, N });
    const loss = (ws: Float32Array) => {
      const y = new Float32Array(rows * N);
      ref.spmmForward({ w: ws, rows, cols, x, y, N });
      return y.reduce((a, v, i) => a + v * g[i], 0);
    };
    const eps = 1e-2;
    let e = 0;
    for (let i = 0; i < w.length; i++) {
      if (w[i] === 0) continue;
      const [wp, wm] = [w.slice(), w.slice()];
      wp[i] += eps;
      wm[i] -= eps;
      const fd = (loss(wp) - loss(wm)) / (2 * eps);
      assert.ok(
        Math.abs(fd - dw[e]) < 1e-3 * Math.max(1, Math.abs(fd)),
        `dW[${i}] ${dw[e]} vs ${fd}`,
      );
      e++;
    }
  });

  await t.step("refreshValues re-reads values and counts positions that became zero", async () => {
    await withBackends([1, 2], (be) => {
      const [rows, cols, N] = [19, 23, 9];
      const w = sparseWeight(rows, cols, 0.3, 91);
      const m = new SparseMatrix(be, rows, cols);
      const tw = upload(be, w);
      m.update(tw.ptr);
      const w2 = w.map((v) => v === 0 ? 0 : v * 1.5);
      let zeroed = 0;
      for (let i = 0; i < w2.length && zeroed < 3; i++) {
        if (w2[i] !== 0 && i % 7 === 0) [w2[i], zeroed] = [0, zeroed + 1];
      }
      be.arena.view(tw).set(w2);
      assert.equal(m.refreshValues(tw.ptr), zeroed);
      assert.equal(m.nnz, nonzeros(w), "the pattern stays");
      const x = upload(be, randArray(cols * N, 92)), y = upload(be, new Float32Array(rows * N));
      const dy = upload(be, randArray(rows * N, 93)), dx = upload(be, new Float32Array(cols * N));
      spmmForward(be, { w: m, x: x.ptr, y: y.ptr, N });
      spmmBackwardInput(be, { w: m, dy: dy.ptr, dx: dx.ptr, N });
      const [wantY, wantDx] = [new Float32Array(rows * N), new Float32Array(cols * N)];
      ref.spmmForward({ w: w2, rows, cols, x: be.arena.view(x), y: wantY, N });
      ref.spmmBackwardInput({ w: w2, rows, cols, dy: be.arena.view(dy), dx: wantDx, N });
      assert.ok(sameBits(be.arena.view(y), wantY), "forward with the new values");
      assert.ok(sameBits(be.arena.view(dx), wantDx), "dx with the new values");
    });
  });

  await t.step("bad arguments throw KernelError naming the kernel and shapes", async () => {
    await withBackends([1], (be) => {
      const m = new SparseMatrix(be, 4, 3);
      const x = be.arena.tensor([3 * 8]), dy = be.arena.tensor([4 * 8]);
      assert.throws(
        () => sddmm(be, { w: m, dy: dy.ptr, x: x.ptr, N: 0, out: x.ptr }),
        /sddmm_f32: N must be a positive integer, got 0 \(W \[4, 3\]/,
      );
      assert.throws(
        () => sddmm(be, { w: m, dy: dy.ptr, x: 6, N: 8, out: x.ptr }),
        /sddmm_f32: pointer x/,
      );
      assert.throws(() => csrGather(be, { w: m, dense: 0, out: x.ptr }), /csr_gather_f32/);
      assert.throws(() => m.refreshValues(2), /sparse_refresh_values_f32: pointer w/);
    });
  });
});
