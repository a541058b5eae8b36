import assert from "node:assert/strict";
import type { Backend } from "../src/backend/backend.ts";
import { aliveNeurons, countNonzero, magnitudeTopK } from "../src/backend/ops/topk.ts";
import * as ref from "../src/reference/topk.ts";
import { KernelError } from "../src/errors.ts";
import { randArray, rng, upload, withBackends } from "./util.ts";

type Axis = "row" | "col" | "none";

interface Case {
  rows: number;
  cols: number;
  k: number;
  j?: number;
  axis?: Axis;
}

function bitsOf(v: Float32Array): Uint32Array {
  return new Uint32Array(v.buffer, v.byteOffset, v.length);
}

/** Runs top-k on the backend and on the reference; asserts identical bits and return values. */
function check(be: Backend, c: Case, w: Float32Array): Float32Array {
  const what = `${JSON.stringify(c)} threads=${be.threads}`;
  const mark = be.arena.mark();
  try {
    const t = upload(be, w);
    const kept = magnitudeTopK(be, { w: t.ptr, ...c });
    const want = w.slice();
    const wantKept = ref.magnitudeTopK({ w: want, ...c });
    assert.equal(kept, wantKept, `kept ${what}`);
    const got = be.arena.view(t).slice();
    assert.deepEqual(bitsOf(got), bitsOf(want), `values ${what}`);
    return got;
  } finally {
    be.arena.reset(mark);
  }
}

/** Values spread over many octaves, with random signs and some exact zeros. */
function spread(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    w[i] = (r() < 0.5 ? -1 : 1) * Math.exp(-12 * r()) * (r() < 0.05 ? 0 : 1);
  }
  return w;
}

Deno.test("magnitude top-k", async (t) => {
  await t.step(
    "random shapes, k, j and axes: bit-exact vs reference on 1 and 2 threads",
    async () => {
      const results: Float32Array[][] = [];
      await withBackends([1, 2], (be) => {
        const r = rng(11);
        const out: Float32Array[] = [];
        const shapes = [[1, 1], [3, 5], [5, 3], [17, 33], [64, 48], [7, 301], [129, 9]];
        for (let n = 0; n < 60; n++) {
          const [rows, cols] = shapes[n % shapes.length];
          const axis = (["row", "col", "none"] as const)[n % 3];
          const size = rows * cols;
          const length = axis === "row" ? cols : rows;
          const neurons = axis === "row" ? rows : axis === "col" ? cols : 0;
          const j = Math.min(length, [0, 1, 4][Math.floor(r() * 3)]);
          const lo = neurons * j;
          const k = [lo, size - 1, size, size + 5, lo + Math.floor(r() * (size - lo))][n % 5];
          if (k < lo) continue;
          const w = n % 2 ? spread(size, n) : randArray(size, n);
          out.push(check(be, { rows, cols, k, j, axis }, w));
        }
        results.push(out);
      });
      results[1].forEach((w, i) => assert.deepEqual(bitsOf(w), bitsOf(results[0][i])));
    },
  );

  await t.step("k = 0 and k = n; protected entries survive and the count is exact", async () => {
    await withBackends([2], (be) => {
      const [rows, cols] = [40, 70];
      const w = randArray(rows * cols, 5);
      const zeroed = check(be, { rows, cols, k: 0 }, w);
      assert.ok(zeroed.every((v) => v === 0 && !Object.is(v, -0)));
      assert.deepEqual(bitsOf(check(be, { rows, cols, k: rows * cols }, w)), bitsOf(w));
      for (const axis of ["row", "col"] as const) {
        const k = (axis === "row" ? rows : cols) * 4 + 100;
        const got = check(be, { rows, cols, k, j: 4, axis }, w);
        assert.equal(got.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0), k, axis);
        // Every neuron keeps (at least) its own 4 largest entries.
        const neurons = axis === "row" ? rows : cols;
        for (let u = 0; u < neurons; u++) {
          const idx = axis === "row"
            ? Array.from({ length: cols }, (_, c) => u * cols + c)
            : Array.from({ length: rows }, (_, r) => r * cols + u);
          idx.sort((a, b) => Math.abs(w[b]) - Math.abs(w[a]) || a - b);
          for (const i of idx.slice(0, 4)) assert.equal(got[i], w[i], `${axis} neuron ${u}`);
        }
      }
      // k exactly the protected entries: only those stay.
      const got = check(be, { rows, cols, k: rows * 4, j: 4, axis: "row" }, w);
      for (let r = 0; r < rows; r++) {
        assert.equal(got.subarray(r * cols, (r + 1) * cols).filter((v) => v !== 0).length, 4);
      }
    });
  });

  await t.step("ties: all-equal magnitudes, equal keys inside one bucket, many zeros", async () => {
    await withBackends([1, 2], (be) => {
      const [rows, cols] = [33, 65];
      const n = rows * cols;
      const r = rng(3);
      const equal = Float32Array.from({ length: n }, () => (r() < 0.5 ? -0.75 : 0.75));
      for (const k of [1, 17, n >> 1, n - 1]) {
        const got = check(be, { rows, cols, k }, equal);
        // Lower flat index wins: exactly the first k survive.
        assert.ok(got.every((v, i) => (i < k) === (v !== 0)), `k=${k}`);
      }
      check(be, { rows, cols, k: 700, j: 4, axis: "col" }, equal);
      check(be, { rows, cols, k: 700, j: 3, axis: "row" }, equal);
      // Neighbouring floats share the top 16 key bits: the refine pass decides.
      const near = Float32Array.from({ length: n }, (_, i) => 1 + ((i * 7919) % 50) * 2 ** -23);
      for (const k of [1, 100, 1000, n - 3]) check(be, { rows, cols, k }, near);
      check(be, { rows, cols, k: 500, j: 4, axis: "row" }, near);
      // Mostly zeros (signed): the threshold falls among zeros.
      const sparse = Float32Array.from(randArray(n, 9), (v, i) => (i % 13 ? (i % 2 ? 0 : -0) : v));
      for (const k of [10, n / 13, n - 10]) check(be, { rows, cols, k: Math.floor(k) }, sparse);
      check(be, { rows, cols, k: 400, j: 4, axis: "col" }, sparse);
      // Denormals and values across the whole exponent range.
      const wide = Float32Array.from(
        { length: n },
        (_, i) => ((i % 3) - 1) * 2 ** (-149 + (i % 277)),
      );
      for (const k of [5, 1000]) check(be, { rows, cols, k }, wide);
    });
  });

  await t.step("larger matrix at density 1/1000 with j = 4 on both axes", async () => {
    await withBackends([2], (be) => {
      const [rows, cols] = [384, 256];
      const w = spread(rows * cols, 21);
      for (const axis of ["row", "col"] as const) {
        const k = Math.max(Math.floor(rows * cols / 1000), (axis === "row" ? rows : cols) * 4);
        check(be, { rows, cols, k, j: 4, axis }, w);
      }
      check(be, { rows, cols, k: 98 }, w);
    });
  });

  await t.step(
    "NaN/Inf, k below j·neurons, j beyond the neuron: KernelError, W untouched",
    async () => {
      await withBackends([2], (be) => {
        const [rows, cols] = [8, 16];
        for (const bad of [NaN, Infinity, -Infinity]) {
          const w = randArray(rows * cols, 2);
          w[37] = bad;
          for (const k of [32, 100, rows * cols]) {
            const t = upload(be, w);
            assert.throws(
              () => magnitudeTopK(be, { w: t.ptr, rows, cols, k, j: 4, axis: "row" }),
              /magnitude_topk: W has 1 NaN\/Inf value\(s\) of 128/,
            );
            assert.deepEqual(bitsOf(be.arena.view(t)), bitsOf(w));
          }
        }
        const t = upload(be, randArray(rows * cols, 3));
        assert.throws(
          () => magnitudeTopK(be, { w: t.ptr, rows, cols, k: 31, j: 4, axis: "row" }),
          /k is below the 32 protected entries/,
        );
        assert.throws(
          () => magnitudeTopK(be, { w: t.ptr, rows, cols, k: 100, j: 9, axis: "col" }),
          /j exceeds the neuron length 8/,
        );
        assert.throws(() => magnitudeTopK(be, { w: t.ptr, rows, cols, k: -1 }), KernelError);
        assert.throws(() => magnitudeTopK(be, { w: 0, rows, cols, k: 1 }), /pointer w/);
        // The device-count guard is a GPU's: a CPU caller decides on the count it can read.
        assert.throws(
          () => magnitudeTopK(be, { w: t.ptr, rows, cols, k: 10, unlessAbove: t.ptr }),
          /unlessAbove is for a GPU/,
        );
      });
    },
  );

  await t.step("countNonzero and aliveNeurons vs reference", async () => {
    await withBackends([1, 2], (be) => {
      for (const [rows, cols, density] of [[1, 1, 1], [13, 7, 0.3], [50, 91, 0.01], [4, 4, 0]]) {
        const r = rng(rows * cols);
        const w = Float32Array.from(randArray(rows * cols, 4), (v) => (r() < density ? v : -0));
        const t = upload(be, w);
        assert.equal(countNonzero(be, { w: t.ptr, n: w.length }), ref.countNonzero({ w }));
        for (const axis of ["row", "col"] as const) {
          assert.equal(
            aliveNeurons(be, { w: t.ptr, rows, cols, axis }),
            ref.aliveNeurons({ w, rows, cols, axis }),
            `${rows}x${cols} ${axis}`,
          );
        }
      }
    });
  });
});
