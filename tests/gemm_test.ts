/**
 * GEMM and bias-gradient kernels against the scalar reference (src/reference/gemm.ts): bit-exact
 * on random and edge shapes for every micro-kernel variant, layout and flag, on 1 and 2 threads;
 * bad input must throw KernelError.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { biasBackward, gemm, GEMM_KERNELS, type GemmKernel } from "../src/backend/ops/gemm.ts";
import * as ref from "../src/reference/gemm.ts";
import { KernelError } from "../src/errors.ts";
import { randArray, rng, sameBits, upload, withBackends } from "./util.ts";

interface Case {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  bias: boolean;
  accumulate: boolean;
}

/** Runs one case on the backend and on the reference; returns the first mismatch or "". */
function check(be: Backend, kernel: GemmKernel, t: Case, seed: number): string {
  const { M, N, K } = t;
  const a = randArray(M * K, seed);
  const b = randArray(K * N, seed + 1);
  const c0 = randArray(M * N, seed + 2);
  const bias = t.bias ? randArray(M, seed + 3) : undefined;
  const mark = be.arena.mark();
  try {
    const ta = upload(be, a), tb = upload(be, b), tc = upload(be, c0);
    const tbias = bias ? upload(be, bias) : undefined;
    gemm(be, {
      M,
      N,
      K,
      a: ta.ptr,
      transA: t.transA,
      b: tb.ptr,
      transB: t.transB,
      c: tc.ptr,
      bias: tbias?.ptr,
      accumulate: t.accumulate,
      kernel,
    });
    const want = c0.slice();
    ref.gemm({
      M,
      N,
      K,
      a,
      transA: t.transA,
      b,
      transB: t.transB,
      c: want,
      bias,
      accumulate: t.accumulate,
    });
    const got = be.arena.view(tc);
    if (sameBits(got, want)) return "";
    const i = got.findIndex((x, i) => x !== want[i]);
    return `${kernel} ${JSON.stringify(t)} threads=${be.threads}: C[${i}] = ${got[i]}, want ${
      want[i]
    }`;
  } finally {
    be.arena.reset(mark);
  }
}

const DIMS = [1, 2, 3, 5, 8, 17, 33];

Deno.test("gemm", async (t) => {
  await t.step(
    "every variant bit-exact vs reference: small shapes, all flags, 1 and 2 threads",
    async () => {
      await withBackends([1, 2], (be) => {
        const r = rng(7);
        let seed = 100;
        for (const { name } of GEMM_KERNELS) {
          for (let n = 0; n < 40; n++) {
            const pick = () => DIMS[Math.floor(r() * DIMS.length)];
            const c: Case = {
              M: pick(),
              N: pick(),
              K: pick(),
              transA: r() < 0.5,
              transB: r() < 0.5,
              bias: r() < 0.5,
              accumulate: r() < 0.5,
            };
            assert.equal(check(be, name, c, seed += 4), "");
          }
        }
      });
    },
  );

  await t.step(
    "all flag combinations, shapes crossing the KC/MC/NC blocks and tile edges",
    async () => {
      const shapes = [
        [37, 45, 300], // K past one KC block
        [130, 19, 7], // M past one MC block
        [3, 1030, 9], // N past one NC block
        [64, 64, 64],
      ];
      await withBackends([1, 2], (be) => {
        let seed = 5000;
        for (const [M, N, K] of shapes) {
          for (let flags = 0; flags < 16; flags++) {
            const c: Case = {
              M,
              N,
              K,
              transA: (flags & 1) > 0,
              transB: (flags & 2) > 0,
              bias: (flags & 4) > 0,
              accumulate: (flags & 8) > 0,
            };
            for (const { name } of GEMM_KERNELS) assert.equal(check(be, name, c, seed += 4), "");
          }
        }
      });
    },
  );

  await t.step("K = 0 gives bias, zero, C or C + bias", async () => {
    await withBackends([1, 2], (be) => {
      for (const bias of [false, true]) {
        for (const accumulate of [false, true]) {
          const c: Case = { M: 5, N: 11, K: 0, transA: false, transB: true, bias, accumulate };
          for (const { name } of GEMM_KERNELS) assert.equal(check(be, name, c, 9), "");
        }
      }
    });
  });

  await t.step("1 and 2 threads give identical bits", async () => {
    const run = async (threads: number) => {
      let out = new Float32Array();
      await withBackends([threads], (be) => {
        const [M, N, K] = [29, 203, 71];
        const ta = upload(be, randArray(M * K, 1)), tb = upload(be, randArray(K * N, 2));
        const tc = upload(be, randArray(M * N, 3)), tbias = upload(be, randArray(M, 4));
        gemm(be, {
          M,
          N,
          K,
          a: ta.ptr,
          b: tb.ptr,
          transB: true,
          c: tc.ptr,
          bias: tbias.ptr,
          accumulate: true,
        });
        out = be.arena.view(tc).slice();
      });
      return out;
    };
    const [one, two] = [await run(1), await run(2)];
    assert.ok(sameBits(one, two));
  });

  await t.step("bad input throws KernelError naming the kernel and shapes", async () => {
    const be = await Backend.create();
    try {
      const t = be.arena.tensor([64]);
      const ok = { M: 2, N: 3, K: 4, a: t.ptr, b: t.ptr, c: t.ptr };
      const bad = [
        { ...ok, M: 2.5 },
        { ...ok, N: -1 },
        { ...ok, K: NaN },
        { ...ok, a: 0 },
        { ...ok, b: 0 },
        { ...ok, c: 0 },
        { ...ok, c: t.ptr + 2 },
        { ...ok, bias: -8 },
        { ...ok, M: 1 << 20, K: 1 << 10 }, // A would run past the end of memory
      ];
      for (const p of bad) {
        assert.throws(
          () => gemm(be, p),
          (e) => e instanceof KernelError && /gemm_f32_\w+: .*M=/.test(e.message),
        );
      }
      assert.throws(() => gemm(be, { ...ok, kernel: "gemm_f32_1x1" as GemmKernel }), KernelError);
      assert.throws(() => biasBackward(be, { dbias: 0, dout: t.ptr, C: 2, N: 2 }), KernelError);
      assert.throws(
        () => biasBackward(be, { dbias: t.ptr, dout: t.ptr, C: 1.5, N: 2 }),
        KernelError,
      );
    } finally {
      be.close();
    }
  });

  await t.step("biasBackward bit-exact vs reference", async () => {
    await withBackends([1, 2], (be) => {
      for (const [C, N] of [[1, 1], [3, 5], [17, 33], [64, 2051], [7, 4]]) {
        const dout = randArray(C * N, C * 31 + N);
        const db0 = randArray(C, C + N);
        const mark = be.arena.mark();
        const tdb = upload(be, db0), tdout = upload(be, dout);
        biasBackward(be, { dbias: tdb.ptr, dout: tdout.ptr, C, N });
        const want = db0.slice();
        ref.biasBackward({ dbias: want, dout, C, N });
        assert.ok(sameBits(be.arena.view(tdb), want), `C=${C} N=${N}`);
        be.arena.reset(mark);
      }
    });
  });
});
