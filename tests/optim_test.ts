import assert from "node:assert/strict";
import type { Backend } from "../src/backend/backend.ts";
import { adamStep, adamStepCsr, decayWeights, lrSchedule } from "../src/backend/ops/adamw.ts";
import { SparseMatrix } from "../src/backend/ops/sparse.ts";
import { randnFill } from "../src/backend/ops/random.ts";
import { gradRmsNormalize, gradRmsNormalizeSpans, sumSquares } from "../src/backend/ops/reduce.ts";
import * as refAdam from "../src/reference/adamw.ts";
import * as refReduce from "../src/reference/reduce.ts";
import * as refRandom from "../src/reference/random.ts";
import { KernelError } from "../src/errors.ts";
import { randArray, upload } from "./util.ts";
import { assertBits, assertClose, scoped, withBoth } from "./layers_util.ts";

Deno.test("adam, weight decay and the lr schedule", async (t) => {
  await withBoth(async (one, two) => {
    await t.step("adamStep bit-exact vs reference over several steps; 1 = 2 threads", () => {
      for (const n of [1, 3, 17, 1001]) {
        const p0 = randArray(n, n, 0.1), m0 = randArray(n, n + 1, 0.01);
        const v0 = randArray(n, n + 2, 0.01).map(Math.abs);
        const grads = [1, 2, 3].map((s) => randArray(n, n + 10 * s));
        const hyper = { lr: 0.05, beta1: 0.9, beta2: 0.95, eps: 0.1 };
        const want = { param: p0.slice(), m: m0.slice(), v: v0.slice() };
        grads.forEach((grad, s) => refAdam.adamStep({ ...want, grad, n, ...hyper, t: s + 1 }));
        for (const be of [one, two]) {
          scoped(be, () => {
            const p = upload(be, p0),
              m = upload(be, m0),
              v = upload(be, v0),
              g = be.arena.tensor([n]);
            grads.forEach((grad, s) => {
              be.arena.view(g).set(grad);
              adamStep(be, {
                param: p.ptr,
                grad: g.ptr,
                m: m.ptr,
                v: v.ptr,
                n,
                ...hyper,
                t: s + 1,
              });
            });
            const what = `n=${n} threads=${be.threads}`;
            assertBits(be.arena.view(p), want.param, `param ${what}`);
            assertBits(be.arena.view(m), want.m, `m ${what}`);
            assertBits(be.arena.view(v), want.v, `v ${what}`);
          });
        }
      }
    });

    await t.step("the first step moves each weight by about lr·sign(g) / (1 + eps/|g|)", () => {
      scoped(one, () => {
        const p = upload(one, new Float32Array(4)),
          m = one.arena.tensor([4]),
          v = one.arena.tensor([4]);
        const g = upload(one, Float32Array.from([1, -1, 0.1, 0]));
        adamStep(one, {
          param: p.ptr,
          grad: g.ptr,
          m: m.ptr,
          v: v.ptr,
          n: 4,
          lr: 0.1,
          beta1: 0.9,
          beta2: 0.95,
          eps: 0.1,
          t: 1,
        });
        assertClose(
          one.arena.view(p),
          [-0.1 / 1.1, 0.1 / 1.1, -0.01 / 0.2, 0],
          1e-5,
          "step 1",
          1e-3,
        );
      });
    });

    await t.step("decayWeights keeps zeros zero", () => {
      scoped(one, () => {
        const w = upload(one, Float32Array.from([0, 2, -4, 0]));
        decayWeights(one, { param: w.ptr, n: 4, factor: 0.5 });
        assert.deepEqual([...one.arena.view(w)], [0, 1, -2, 0]);
      });
    });

    await t.step("lrSchedule: warmup, decay, sharkfin; equal to the reference", () => {
      const base = { total: 1000, warmupFrac: 0.01, base: 0.1, pfracTarget: 0.25, pfracNow: 1 };
      for (const step of [0, 4, 9, 10, 500, 999]) {
        for (const pfracNow of [1, 0.5, 0.25]) {
          const a = { ...base, step, pfracNow };
          assert.equal(lrSchedule(one, a), refAdam.lrSchedule(a), JSON.stringify(a));
        }
      }
      const at = (step: number, pfracNow = 0.25) => lrSchedule(one, { ...base, step, pfracNow });
      assertClose([at(0), at(9), at(10), at(999)], [0.01, 0.1, 0.1, 0.1 / 990], 1e-12, "shape", 0);
      assertClose([at(500, 1)], [0.5 * 0.1 * (500 / 990)], 1e-12, "sharkfin", 0);
      assert.throws(() => lrSchedule(one, { ...base, step: 1000 }), KernelError);
      assert.throws(() => lrSchedule(one, { ...base, step: 0, pfracNow: 0 }), KernelError);
    });

    await t.step("adamStepCsr: kept entries as adamStep, the rest untouched; 1 = 2 threads", () => {
      const [rows, cols] = [13, 29];
      const n = rows * cols;
      const p0 = randArray(n, 51, 0.1).map((x, i) => (i % 3 === 0 || i % 7 === 1 ? 0 : x));
      const m0 = randArray(n, 52, 0.01), v0 = randArray(n, 53, 0.01).map(Math.abs);
      const nnz = p0.reduce((a, x) => a + (x !== 0 ? 1 : 0), 0);
      const grads = [1, 2, 3].map((s) => randArray(nnz, 60 + s));
      const hyper = { lr: 0.05, beta1: 0.9, beta2: 0.95, eps: 0.1 };
      const factors = [0.996, 1, 0.5];
      const want = { param: p0.slice(), m: m0.slice(), v: v0.slice() };
      grads.forEach((grad, s) =>
        refAdam.adamStepCsr({ ...want, grad, ...hyper, t: s + 1, factor: factors[s] })
      );
      for (let i = 0; i < n; i++) {
        if (p0[i] !== 0) continue;
        assert.ok(want.param[i] === 0 && want.m[i] === m0[i] && want.v[i] === v0[i], `${i}`);
      }
      // Kept entries: the dense adamStep on the gathered entries, then × factor.
      const kept = [...p0.keys()].filter((i) => p0[i] !== 0);
      const dense = {
        param: Float32Array.from(kept, (i) => p0[i]),
        m: Float32Array.from(kept, (i) => m0[i]),
        v: Float32Array.from(kept, (i) => v0[i]),
      };
      grads.forEach((grad, s) => {
        refAdam.adamStep({ ...dense, grad, n: nnz, ...hyper, t: s + 1 });
        refAdam.decayWeights({ param: dense.param, n: nnz, factor: factors[s] });
      });
      assertBits(Float32Array.from(kept, (i) => want.param[i]), dense.param, "kept = dense");
      for (const be of [one, two]) {
        scoped(be, () => {
          const p = upload(be, p0), m = upload(be, m0), v = upload(be, v0);
          const g = be.arena.tensor([nnz]);
          const w = new SparseMatrix(be, rows, cols);
          w.update(p.ptr);
          grads.forEach((grad, s) => {
            be.arena.view(g).set(grad);
            adamStepCsr(be, {
              w,
              param: p.ptr,
              grad: g.ptr,
              m: m.ptr,
              v: v.ptr,
              ...hyper,
              t: s + 1,
              factor: factors[s],
            });
          });
          const what = `threads=${be.threads}`;
          assertBits(be.arena.view(p), want.param, `param ${what}`);
          assertBits(be.arena.view(m), want.m, `m ${what}`);
          assertBits(be.arena.view(v), want.v, `v ${what}`);
          assert.throws(
            () =>
              adamStepCsr(be, {
                w,
                param: p.ptr,
                grad: g.ptr,
                m: m.ptr,
                v: v.ptr,
                ...hyper,
                t: 0,
                factor: 1,
              }),
            /adam_step_csr: t must be a positive integer/,
          );
        });
      }
    });

    await t.step("bad optimizer arguments are KernelErrors", () => {
      scoped(one, () => {
        const b = one.arena.tensor([8]);
        const base = {
          param: b.ptr,
          grad: b.ptr,
          m: b.ptr,
          v: b.ptr,
          n: 8,
          lr: 0.1,
          beta1: 0.9,
          beta2: 0.95,
          eps: 0.1,
          t: 1,
        };
        assert.throws(
          () => adamStep(one, { ...base, t: 0 }),
          (e) =>
            e instanceof KernelError && /adam_step: t must be a positive integer/.test(e.message),
        );
        assert.throws(() => adamStep(one, { ...base, beta2: 1 }), KernelError);
        assert.throws(() => adamStep(one, { ...base, n: -8 }), KernelError);
        assert.throws(() => adamStep(one, { ...base, lr: NaN }), KernelError);
      });
    });
  });
});

function reduceRun(be: Backend, x: Float32Array) {
  return scoped(be, () => {
    const t = upload(be, x);
    const ss = sumSquares(be, { x: t.ptr, n: x.length });
    const rms = gradRmsNormalize(be, { grad: t.ptr, n: x.length });
    return { ss, rms, g: be.arena.view(t).slice() };
  });
}

Deno.test("deterministic reductions", async (t) => {
  await withBoth(async (one, two) => {
    await t.step("sumSquares and gradRmsNormalize bit-exact vs reference; 1 = 2 threads", () => {
      for (const n of [1, 3, 17, 8192, 8195, 3 * 8192 + 5, 100003]) {
        const x = randArray(n, n, 3);
        const got = reduceRun(one, x), got2 = reduceRun(two, x);
        const g = x.slice();
        const ss = refReduce.sumSquares({ x, n });
        const rms = refReduce.gradRmsNormalize({ grad: g, n });
        assert.equal(got.ss, ss, `sumSquares n=${n}`);
        assert.equal(got.rms, rms, `rms n=${n}`);
        assertBits(got.g, g, `normalised n=${n}`);
        assert.equal(got2.ss, got.ss);
        assert.equal(got2.rms, got.rms);
        assertBits(got2.g, got.g, `normalised 2 threads n=${n}`);
      }
    });

    await t.step("gradRmsNormalizeSpans: the spans as one buffer, bit-exact; 1 = 2 threads", () => {
      const lens = [17, 0, 8195, 3, 20000];
      const xs = lens.map((n, i) => randArray(n, 70 + i, 2));
      const want = xs.map((x) => x.slice());
      const rms = refReduce.gradRmsNormalizeSpans(want);
      for (const be of [one, two]) {
        scoped(be, () => {
          const ts = xs.map((x) => upload(be, x.length ? x : new Float32Array(1)));
          const got = gradRmsNormalizeSpans(be, ts.map((t, i) => [t.ptr, lens[i]]));
          assert.equal(got, rms, `rms threads=${be.threads}`);
          ts.forEach((t, i) =>
            assertBits(
              be.arena.view(t).slice(0, lens[i]),
              want[i],
              `span ${i} threads=${be.threads}`,
            )
          );
        });
      }
      const one1 = xs[4].slice();
      assert.equal(
        refReduce.gradRmsNormalizeSpans([one1]),
        refReduce.gradRmsNormalize({ grad: xs[4].slice(), n: lens[4] }),
      );
      assert.throws(() => gradRmsNormalizeSpans(one, [[64, 0]]), KernelError);
    });

    await t.step("normalised gradient has RMS ≈ 1", () => {
      const x = randArray(50000, 4, 1e-3);
      const got = reduceRun(one, x);
      const again = scoped(one, () => {
        const t = upload(one, got.g);
        return Math.sqrt(sumSquares(one, { x: t.ptr, n: x.length }) / x.length);
      });
      assertClose([again], [got.rms / (got.rms + 1e-5)], 1e-6, "rms after");
    });

    await t.step("bad n is a KernelError", () => {
      assert.throws(() => sumSquares(one, { x: 64, n: 0 }), KernelError);
      assert.throws(() => gradRmsNormalize(one, { grad: 64, n: -5 }), KernelError);
    });
  });
});

function randnRun(be: Backend, n: number, seed: number, stream: number, std = 1) {
  return scoped(be, () => {
    const t = be.arena.tensor([n]);
    randnFill(be, { x: t.ptr, n, seed, stream, std });
    return be.arena.view(t).slice();
  });
}

Deno.test("randnFill", async (t) => {
  await withBoth(async (one, two) => {
    await t.step(
      "deterministic: same bits on 1 and 2 threads and across calls; matches reference",
      () => {
        for (const n of [1, 3, 17, 1001]) {
          const a = randnRun(one, n, 42, 7, 0.02);
          assertBits(randnRun(two, n, 42, 7, 0.02), a, `2 threads n=${n}`);
          assertBits(randnRun(one, n, 42, 7, 0.02), a, `again n=${n}`);
          const want = new Float32Array(n);
          refRandom.randnFill({ x: want, n, seed: 42, stream: 7, std: 0.02 });
          assertClose(a, want, 1e-6, `reference n=${n}`, 0);
        }
        // A prefix of a longer fill is the shorter fill: values depend on the index only.
        assertBits(
          randnRun(one, 1001, 42, 7, 0.02).subarray(0, 17),
          randnRun(one, 17, 42, 7, 0.02),
          "prefix",
        );
      },
    );

    await t.step("1e5 draws: mean ≈ 0, std ≈ 1; other seeds and streams differ", () => {
      const n = 100000;
      const x = randnRun(two, n, 0xdeadbeef, 3);
      let s = 0, s2 = 0, big = 0;
      for (const v of x) {
        s += v;
        s2 += v * v;
        if (Math.abs(v) > 3) big++;
      }
      const mean = s / n, std = Math.sqrt(s2 / n - mean * mean);
      assert.ok(Math.abs(mean) < 0.015, `mean ${mean}`);
      assert.ok(Math.abs(std - 1) < 0.015, `std ${std}`);
      // P(|z| > 3) = 0.0027.
      assert.ok(big > 200 && big < 340, `${big} draws beyond 3σ`);
      const y = randnRun(one, 64, 0xdeadbeef, 4), z = randnRun(one, 64, 0xdeadbeee, 3);
      assert.ok(y.every((v, i) => v !== x[i]) && z.every((v, i) => v !== x[i]));
    });

    await t.step("bad arguments are KernelErrors", () => {
      assert.throws(() => randnRun(one, 4, -1, 0), KernelError);
      assert.throws(() => randnRun(one, 4, 2 ** 32, 0), KernelError);
      assert.throws(() => randnRun(one, 4, 1, 0, NaN), KernelError);
      assert.throws(
        () => randnFill(one, { x: 64, n: -1, seed: 1, stream: 0, std: 1 }),
        KernelError,
      );
    });
  });
});
