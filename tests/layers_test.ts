import assert from "node:assert/strict";
import type { Backend } from "../src/backend/backend.ts";
import type { Tensor } from "../src/backend/arena.ts";
import {
  absTopKBackward,
  absTopKBackwardWrite,
  absTopKForward,
} from "../src/backend/ops/abstopk.ts";
import {
  bigramBackward,
  bigramForward,
  embeddingBackward,
  embeddingForward,
} from "../src/backend/ops/embedding.ts";
import { geluBackward, geluBackwardWrite, geluForward } from "../src/backend/ops/gelu.ts";
import { add, addInPlace, copy, exp, fill, scale } from "../src/backend/ops/residual.ts";
import {
  rmsnormBackward,
  rmsnormBackwardWrite,
  rmsnormForward,
} from "../src/backend/ops/rmsnorm.ts";
import * as refNorm from "../src/reference/rmsnorm.ts";
import * as refTopk from "../src/reference/abstopk.ts";
import * as refGelu from "../src/reference/gelu.ts";
import * as refRes from "../src/reference/residual.ts";
import * as refEmb from "../src/reference/embedding.ts";
import { KernelError } from "../src/errors.ts";
import { randArray, rng, upload } from "./util.ts";
import {
  allocU8,
  assertBits,
  assertClose,
  assertFiniteDiff,
  CHANNELS,
  dot,
  sampleIndices,
  scoped,
  TOKENS,
  withBoth,
} from "./layers_util.ts";

// ---------------------------------------------------------------- RMSNorm

/** randArray with every 7th entry −0 and every 11th +0 (write variants must match signed zeros). */
function withZeros(n: number, seed: number, scale = 1): Float32Array {
  const x = randArray(n, seed, scale);
  for (let i = 0; i < n; i += 7) x[i] = -0;
  for (let i = 3; i < n; i += 11) x[i] = 0;
  return x;
}

/** A mask keeping about a third of n entries. */
const someMask = (n: number, seed: number) =>
  new Uint8Array(n).map((_, i) => ((i + seed) * 7919) % 3 === 0 ? 1 : 0);

function rmsnormRun(
  be: Backend,
  C: number,
  N: number,
  x: Float32Array,
  w: Float32Array,
  dout: Float32Array,
  dinp0: Float32Array,
  dw0: Float32Array,
) {
  return scoped(be, () => {
    const tx = upload(be, x), tw = upload(be, w), tdo = upload(be, dout);
    const out = be.arena.tensor([C * N]), rstd = be.arena.tensor([N]);
    const dinp = upload(be, dinp0), dw = upload(be, dw0);
    rmsnormForward(be, { out: out.ptr, rstd: rstd.ptr, inp: tx.ptr, weight: tw.ptr, C, N });
    rmsnormBackward(be, {
      dinp: dinp.ptr,
      dweight: dw.ptr,
      dout: tdo.ptr,
      inp: tx.ptr,
      weight: tw.ptr,
      rstd: rstd.ptr,
      C,
      N,
    });
    const v = (t: Tensor) => be.arena.view(t).slice();
    return { out: v(out), rstd: v(rstd), dinp: v(dinp), dw: v(dw) };
  });
}

Deno.test("rmsnorm", async (t) => {
  await withBoth(async (one, two) => {
    await t.step("forward and backward bit-exact vs reference; 1 and 2 threads identical", () => {
      let seed = 1;
      for (const C of CHANNELS) {
        for (const N of TOKENS) {
          const x = randArray(C * N, seed++, 2), w = randArray(C, seed++, 1.5);
          const dout = randArray(C * N, seed++), dinp0 = randArray(C * N, seed++);
          const dw0 = randArray(C, seed++);
          const got = rmsnormRun(one, C, N, x, w, dout, dinp0, dw0);
          const got2 = rmsnormRun(two, C, N, x, w, dout, dinp0, dw0);
          const out = new Float32Array(C * N), rstd = new Float32Array(N);
          const dinp = dinp0.slice(), dw = dw0.slice();
          refNorm.rmsnormForward({ out, rstd, inp: x, weight: w, C, N });
          refNorm.rmsnormBackward({ dinp, dweight: dw, dout, inp: x, weight: w, rstd, C, N });
          const what = `C=${C} N=${N}`;
          assertBits(got.out, out, `out ${what}`);
          assertBits(got.rstd, rstd, `rstd ${what}`);
          assertBits(got.dinp, dinp, `dinp ${what}`);
          assertBits(got.dw, dw, `dweight ${what}`);
          for (const k of ["out", "rstd", "dinp", "dw"] as const) {
            assertBits(got2[k], got[k], `${k} 2 threads ${what}`);
          }
        }
      }
    });

    await t.step("doutMask and write = the zero-filled absTopKBackward chain, bit for bit", () => {
      let seed = 500;
      for (const [C, N] of [[1, 1], [5, 3], [33, 17], [256, 64]]) {
        const x = randArray(C * N, seed++, 2), w = randArray(C, seed++, 1.5);
        const dout = withZeros(C * N, seed++), dinp0 = randArray(C * N, seed++);
        const dw0 = randArray(C, seed++), mask = someMask(C * N, seed++);
        for (const be of [one, two]) {
          scoped(be, () => {
            const tx = upload(be, x), tw = upload(be, w), tdo = upload(be, dout);
            const out = be.arena.tensor([C * N]), rstd = be.arena.tensor([N]);
            rmsnormForward(be, { out: out.ptr, rstd: rstd.ptr, inp: tx.ptr, weight: tw.ptr, C, N });
            const m = allocU8(be, C * N);
            be.arena.u8(m, C * N).set(mask);
            const base = { dout: tdo.ptr, inp: tx.ptr, weight: tw.ptr, rstd: rstd.ptr, C, N };
            const what = `C=${C} N=${N} threads=${be.threads}`;
            for (const [masked, write] of [[true, false], [false, true], [true, true]]) {
              // The chain the variants replace: AbsTopK's backward into zeros, then the norm's.
              const chainD = upload(be, dinp0), chainW = upload(be, dw0);
              const masks = be.arena.tensor([C * N]);
              fill(be, { x: masks.ptr, n: C * N, value: 0 });
              absTopKBackward(be, { dinp: masks.ptr, dout: tdo.ptr, mask: m, C, N });
              if (write) fill(be, { x: chainD.ptr, n: C * N, value: 0 });
              rmsnormBackward(be, {
                ...base,
                dout: masked ? masks.ptr : tdo.ptr,
                dinp: chainD.ptr,
                dweight: chainW.ptr,
              });
              const d = upload(be, dinp0), dw = upload(be, dw0);
              const args = {
                ...base,
                dinp: d.ptr,
                dweight: dw.ptr,
                ...(masked ? { doutMask: m } : {}),
              };
              (write ? rmsnormBackwardWrite : rmsnormBackward)(be, args);
              const how = `masked=${masked} write=${write} ${what}`;
              assertBits(be.arena.view(d), be.arena.view(chainD), `dinp ${how}`);
              assertBits(be.arena.view(dw), be.arena.view(chainW), `dweight ${how}`);
              const want = { dinp: dinp0.slice(), dw: dw0.slice() };
              refNorm.rmsnormBackward({
                dinp: want.dinp,
                dweight: want.dw,
                dout,
                inp: x,
                weight: w,
                rstd: be.arena.view(rstd).slice(),
                C,
                N,
                doutMask: masked ? mask : undefined,
                write,
              });
              assertBits(be.arena.view(d), want.dinp, `dinp vs reference ${how}`);
              assertBits(be.arena.view(dw), want.dw, `dweight vs reference ${how}`);
            }
          });
        }
      }
    });

    await t.step("gradients match finite differences", () => {
      for (const [C, N] of [[5, 3], [16, 5]]) {
        const x = randArray(C * N, 40 + C, 2), w = randArray(C, 50 + C, 1.5);
        const wt = randArray(C * N, 60 + C);
        const zeros = (n: number) => new Float32Array(n);
        const g = rmsnormRun(one, C, N, x, w, wt, zeros(C * N), zeros(C));
        const lossX = (xx: Float32Array) =>
          dot(wt, rmsnormRun(one, C, N, xx, w, wt, zeros(C * N), zeros(C)).out);
        const lossW = (ww: Float32Array) =>
          dot(wt, rmsnormRun(one, C, N, x, ww, wt, zeros(C * N), zeros(C)).out);
        const at = sampleIndices(C * N, 12);
        assertFiniteDiff(x, g.dinp, lossX, at, 1e-2, 2e-2, 2e-3, `rmsnorm dinp C=${C} N=${N}`);
        assertFiniteDiff(w, g.dw, lossW, sampleIndices(C, 6), 1e-2, 2e-2, 2e-3, `rmsnorm dw`);
      }
    });

    await t.step("bad shapes and pointers are KernelErrors", () => {
      scoped(one, () => {
        const a = one.arena.tensor([64]);
        const p = a.ptr;
        assert.throws(
          () => rmsnormForward(one, { out: p, rstd: p, inp: p, weight: p, C: -1, N: 4 }),
          (e) =>
            e instanceof KernelError &&
            /rmsnorm_forward: C must be a positive integer/.test(e.message),
        );
        assert.throws(
          () => rmsnormForward(one, { out: 0, rstd: p, inp: p, weight: p, C: 4, N: 4 }),
          (e) => e instanceof KernelError && /pointer out/.test(e.message),
        );
        assert.throws(
          () => rmsnormForward(one, { out: p, rstd: p, inp: p, weight: p, C: 4, N: 2.5 }),
          KernelError,
        );
        assert.throws(
          () =>
            rmsnormBackward(one, {
              dinp: p,
              dweight: p,
              dout: p,
              inp: p,
              weight: p,
              rstd: p,
              C: 1 << 20,
              N: 1 << 10,
            }),
          (e) => e instanceof KernelError && /past the end of memory/.test(e.message),
        );
      });
    });
  });
});

// ---------------------------------------------------------------- AbsTopK

/** Values with many exact ties in magnitude (both signs) and zeros. */
function tiedValues(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = r();
    out[i] = u < 0.1 ? 0 : (Math.floor(r() * 9) - 4) * 0.25 * (u < 0.5 ? 1 : 1 + 2 ** -20);
  }
  return out;
}

function topkRun(be: Backend, C: number, N: number, x: Float32Array, k: number, inPlace: boolean) {
  return scoped(be, () => {
    const tx = upload(be, x);
    const out = inPlace ? tx : be.arena.tensor([C * N]);
    const mask = allocU8(be, C * N);
    absTopKForward(be, { out: out.ptr, mask, inp: tx.ptr, C, N, k });
    return { out: be.arena.view(out).slice(), mask: be.arena.u8(mask, C * N).slice() };
  });
}

Deno.test("abstopk", async (t) => {
  await withBoth(async (one, two) => {
    await t.step("forward exact vs reference (ties, zeros, every k regime); 1 = 2 threads", () => {
      let seed = 3;
      for (const C of CHANNELS) {
        for (const N of TOKENS) {
          const ks = [...new Set([0, 1, Math.floor(C / 4), C >> 1, C - 1, C, C + 3])];
          for (const k of ks) {
            for (const tied of [false, true]) {
              const x = tied ? tiedValues(C * N, seed++) : randArray(C * N, seed++, 3);
              const out = new Float32Array(C * N), mask = new Uint8Array(C * N);
              refTopk.absTopKForward({ out, mask, inp: x, C, N, k });
              const what = `C=${C} N=${N} k=${k} tied=${tied}`;
              const got = topkRun(one, C, N, x, k, false);
              assertBits(got.out, out, `out ${what}`);
              assert.deepEqual(got.mask, mask, `mask ${what}`);
              const got2 = topkRun(two, C, N, x, k, tied);
              assertBits(got2.out, got.out, `out 2 threads (in place: ${tied}) ${what}`);
              assert.deepEqual(got2.mask, got.mask, `mask 2 threads ${what}`);
            }
          }
        }
      }
    });

    await t.step("backward exact vs reference; 1 = 2 threads", () => {
      for (const [C, N] of [[5, 3], [33, 17], [256, 64]]) {
        const mask = new Uint8Array(C * N).map((_, i) => (i * 7919) % 3 === 0 ? 1 : 0);
        const dout = randArray(C * N, C + N), dinp0 = randArray(C * N, C * N);
        const want = dinp0.slice();
        refTopk.absTopKBackward({ dinp: want, dout, mask, C, N });
        for (const be of [one, two]) {
          scoped(be, () => {
            const d = upload(be, dinp0), o = upload(be, dout), m = allocU8(be, C * N);
            be.arena.u8(m, C * N).set(mask);
            absTopKBackward(be, { dinp: d.ptr, dout: o.ptr, mask: m, C, N });
            assertBits(be.arena.view(d), want, `dinp C=${C} N=${N} threads=${be.threads}`);
          });
        }
      }
    });

    await t.step("backwardWrite = backward into zeros, bit for bit (−0 too); in place", () => {
      for (const [C, N] of [[1, 1], [5, 3], [33, 17], [256, 64]]) {
        const mask = someMask(C * N, C), dout = withZeros(C * N, C + N);
        const want = new Float32Array(C * N).fill(1);
        refTopk.absTopKBackwardWrite({ dinp: want, dout, mask, C, N });
        for (const be of [one, two]) {
          scoped(be, () => {
            const o = upload(be, dout), m = allocU8(be, C * N);
            be.arena.u8(m, C * N).set(mask);
            const chain = be.arena.tensor([C * N]);
            fill(be, { x: chain.ptr, n: C * N, value: 0 });
            absTopKBackward(be, { dinp: chain.ptr, dout: o.ptr, mask: m, C, N });
            const d = upload(be, randArray(C * N, 9));
            absTopKBackwardWrite(be, { dinp: d.ptr, dout: o.ptr, mask: m, C, N });
            const what = `C=${C} N=${N} threads=${be.threads}`;
            assertBits(be.arena.view(d), be.arena.view(chain), `dinp ${what}`);
            assertBits(be.arena.view(d), want, `dinp vs reference ${what}`);
            absTopKBackwardWrite(be, { dinp: o.ptr, dout: o.ptr, mask: m, C, N });
            assertBits(be.arena.view(o), want, `in place ${what}`);
          });
        }
      }
    });

    await t.step("gradient matches finite differences", () => {
      const C = 16, N = 3, k = 5;
      // Distinct magnitudes at least 0.05 apart, so ±h never changes the selection.
      const r = rng(11);
      const x = new Float32Array(C * N);
      for (let n = 0; n < N; n++) {
        const perm = Array.from({ length: C }, (_, i) => i).sort(() => r() - 0.5);
        for (let c = 0; c < C; c++) x[c * N + n] = (0.1 + 0.05 * perm[c]) * (r() < 0.5 ? -1 : 1);
      }
      const wt = randArray(C * N, 12);
      const fwd = topkRun(one, C, N, x, k, false);
      const grad = new Float32Array(C * N);
      refTopk.absTopKBackward({ dinp: grad, dout: wt, mask: fwd.mask, C, N });
      const loss = (xx: Float32Array) => dot(wt, topkRun(one, C, N, xx, k, false).out);
      assertFiniteDiff(x, grad, loss, sampleIndices(C * N, 48), 1e-2, 1e-3, 1e-4, "abstopk");
      assert.equal(fwd.mask.reduce((a, b) => a + b, 0), k * N);
    });

    await t.step("bad k and shapes are KernelErrors", () => {
      scoped(one, () => {
        const a = one.arena.tensor([64]), m = allocU8(one, 64);
        const base = { out: a.ptr, mask: m, inp: a.ptr, C: 8, N: 8 };
        assert.throws(
          () => absTopKForward(one, { ...base, k: -1 }),
          (e) =>
            e instanceof KernelError && /abstopk_forward: k must be a non-negative/.test(e.message),
        );
        assert.throws(() => absTopKForward(one, { ...base, k: 1.5 }), KernelError);
        assert.throws(() => absTopKForward(one, { ...base, C: 0, k: 1 }), KernelError);
        assert.throws(
          () => absTopKBackward(one, { dinp: a.ptr, dout: a.ptr, mask: m, C: 8, N: -8 }),
          (e) => e instanceof KernelError && /N must be a positive integer/.test(e.message),
        );
      });
    });
  });
});

// ---------------------------------------------------------------- GELU

function geluRun(be: Backend, x: Float32Array, dout: Float32Array, dinp0: Float32Array) {
  return scoped(be, () => {
    const n = x.length;
    const tx = upload(be, x), to = be.arena.tensor([n]);
    const tdo = upload(be, dout), tdi = upload(be, dinp0);
    geluForward(be, { out: to.ptr, inp: tx.ptr, n });
    geluBackward(be, { dinp: tdi.ptr, dout: tdo.ptr, inp: tx.ptr, n });
    return { out: be.arena.view(to).slice(), dinp: be.arena.view(tdi).slice() };
  });
}

/** |a − b| in units of the last place of b (as f32). */
function ulps(a: number, b: number): number {
  if (a === b) return 0;
  const m = Math.max(Math.abs(b), 2 ** -126);
  const ulp = 2 ** (Math.floor(Math.log2(m)) - 23);
  return Math.abs(a - b) / ulp;
}

Deno.test("gelu", async (t) => {
  await withBoth(async (one, two) => {
    await t.step("forward within 6 ulp of float64 erf GELU (2 ulp above x = -1.19)", () => {
      const xs: number[] = [];
      for (let i = 0; i <= 140000; i++) xs.push(-14 + i * 2e-4);
      for (const a of [0.25, 0.84375, 1e-3, 1e-8, 1e-30, 0, 10]) {
        for (const s of [-1, 1]) {
          const x = s * a * Math.SQRT2;
          xs.push(x, Math.fround(x) * (1 + 2 ** -23), Math.fround(x) * (1 - 2 ** -23));
        }
      }
      xs.push(1e10, -1e10, 30, -30);
      const x = new Float32Array(xs);
      const got = geluRun(one, x, new Float32Array(x.length), new Float32Array(x.length)).out;
      // Above x = -1.19 (a = |x|/√2 < 0.84375) musl's rational form; below, the erfc tail.
      const worst = [0, 0], at = [0, 0];
      for (let i = 0; i < x.length; i++) {
        const want = Math.fround(refGelu.gelu(x[i]));
        if (Math.abs(want) < 1e-36) {
          assert.ok(Math.abs(got[i]) < 1e-36, `gelu(${x[i]}) = ${got[i]}, want ${want}`);
          continue;
        }
        const u = ulps(got[i], want), r = x[i] > -1.19 ? 0 : 1;
        if (u > worst[r]) [worst[r], at[r]] = [u, x[i]];
      }
      assert.ok(worst[0] <= 2, `max error ${worst[0]} ulp at x = ${at[0]}`);
      assert.ok(worst[1] <= 6, `max error ${worst[1]} ulp at x = ${at[1]}`);
    });

    await t.step("backward vs float64 reference; odd n; 1 = 2 threads", () => {
      for (const n of [1, 3, 17, 1001]) {
        const x = randArray(n, n, 6), dout = randArray(n, n + 1), dinp0 = randArray(n, n + 2);
        const got = geluRun(one, x, dout, dinp0), got2 = geluRun(two, x, dout, dinp0);
        assertBits(got2.out, got.out, `out 2 threads n=${n}`);
        assertBits(got2.dinp, got.dinp, `dinp 2 threads n=${n}`);
        const out = new Float32Array(n), dinp = dinp0.slice();
        refGelu.geluForward({ out, inp: x, n });
        refGelu.geluBackward({ dinp, dout, inp: x, n });
        assertClose(got.out, out, 1e-6, `out n=${n}`, 1e-3);
        assertClose(got.dinp, dinp, 2e-6, `dinp n=${n}`);
      }
    });

    await t.step("elementwise across blocks: permuted input, permuted bits; 1 = 2 threads", () => {
      // Blocks of 1024 entries take different passes (all small, mixed, all tail): an entry's
      // bits must not depend on its neighbours, its block or the thread split.
      const n = 5 * 1024 + 37;
      const r = rng(77);
      const x = new Float32Array(n).map((_, i) =>
        i < 2048 ? (r() - 0.5) * 1.5 : i < 3072 ? 2 + r() * 6 : (r() - 0.5) * 8
      );
      const perm = Array.from({ length: n }, (_, i) => i).sort(() => r() - 0.5);
      const xp = Float32Array.from(perm, (j) => x[j]);
      const dout = randArray(n, 78), dp = Float32Array.from(perm, (j) => dout[j]);
      const zeros = new Float32Array(n);
      const a = geluRun(one, x, dout, zeros), b = geluRun(two, xp, dp, zeros);
      assertBits(b.out, Float32Array.from(perm, (j) => a.out[j]), "out, permuted, 2 threads");
      assertBits(b.dinp, Float32Array.from(perm, (j) => a.dinp[j]), "dinp, permuted, 2 threads");
      assertBits(geluRun(two, x, dout, zeros).out, a.out, "out 2 threads");
      const out = new Float32Array(n);
      refGelu.geluForward({ out, inp: x, n });
      assertClose(a.out, out, 1e-6, "out vs reference", 1e-3);
    });

    await t.step(
      "backwardWrite (masked or not) = the zero-filled chain, bit for bit; in place",
      () => {
        for (const n of [1, 3, 17, 1001, 3001]) {
          const x = randArray(n, n + 7, 6), dout = withZeros(n, n + 8), mask = someMask(n, n);
          for (const be of [one, two]) {
            scoped(be, () => {
              const tx = upload(be, x), o = upload(be, dout), m = allocU8(be, n);
              be.arena.u8(m, n).set(mask);
              for (const masked of [false, true]) {
                // fill, absTopKBackward, fill, geluBackward: what one geluBackwardWrite replaces.
                const mid = be.arena.tensor([n]), chain = be.arena.tensor([n]);
                fill(be, { x: mid.ptr, n, value: 0 });
                if (masked) {
                  absTopKBackward(be, { dinp: mid.ptr, dout: o.ptr, mask: m, C: 1, N: n });
                }
                fill(be, { x: chain.ptr, n, value: 0 });
                geluBackward(be, {
                  dinp: chain.ptr,
                  dout: masked ? mid.ptr : o.ptr,
                  inp: tx.ptr,
                  n,
                });
                const d = upload(be, randArray(n, 5));
                const opt = masked ? { mask: m } : {};
                geluBackwardWrite(be, { dinp: d.ptr, dout: o.ptr, inp: tx.ptr, n, ...opt });
                const what = `n=${n} masked=${masked} threads=${be.threads}`;
                assertBits(be.arena.view(d), be.arena.view(chain), `dinp ${what}`);
                const inPlace = upload(be, dout);
                geluBackwardWrite(be, {
                  dinp: inPlace.ptr,
                  dout: inPlace.ptr,
                  inp: tx.ptr,
                  n,
                  ...opt,
                });
                assertBits(be.arena.view(inPlace), be.arena.view(chain), `in place ${what}`);
                const want = new Float32Array(n);
                refGelu.geluBackwardWrite({
                  dinp: want,
                  dout,
                  inp: x,
                  n,
                  mask: masked ? mask : undefined,
                });
                assertClose(be.arena.view(d), want, 2e-6, `dinp vs reference ${what}`);
              }
            });
          }
        }
      },
    );

    await t.step("phi from the forward: the backward's bits without evaluating erf again", () => {
      for (const n of [1, 3, 17, 3001]) {
        const x = randArray(n, n + 17, 6), dout = withZeros(n, n + 18), mask = someMask(n, n);
        for (const be of [one, two]) {
          scoped(be, () => {
            const tx = upload(be, x), o = upload(be, dout), m = allocU8(be, n);
            be.arena.u8(m, n).set(mask);
            const out = be.arena.tensor([n]), out2 = be.arena.tensor([n]);
            const phi = be.arena.tensor([n]);
            geluForward(be, { out: out.ptr, inp: tx.ptr, n });
            geluForward(be, { out: out2.ptr, inp: tx.ptr, n, phi: phi.ptr });
            const what = `n=${n} threads=${be.threads}`;
            assertBits(be.arena.view(out2), be.arena.view(out), `out with phi ${what}`);
            const want = Float32Array.from(x, (v) => refGelu.phi2(v));
            assertClose(be.arena.view(phi), want, 2e-6, `phi vs reference ${what}`, 1e-3);
            for (const opt of [{}, { mask: m }]) {
              const a = be.arena.tensor([n]), b = be.arena.tensor([n]);
              geluBackwardWrite(be, { dinp: a.ptr, dout: o.ptr, inp: tx.ptr, n, ...opt });
              geluBackwardWrite(be, {
                dinp: b.ptr,
                dout: o.ptr,
                inp: tx.ptr,
                n,
                phi: phi.ptr,
                ...opt,
              });
              assertBits(
                be.arena.view(b),
                be.arena.view(a),
                `dinp with phi ${what} ${"mask" in opt}`,
              );
            }
          });
        }
      }
      scoped(one, () => {
        const t = one.arena.tensor([8]);
        assert.throws(
          () => geluForward(one, { out: t.ptr, inp: t.ptr, n: 8, phi: t.ptr + 16 }),
          (e) => e instanceof KernelError && /gelu_forward_phi: phi overlaps out/.test(e.message),
        );
      });
    });

    await t.step("gradient matches finite differences", () => {
      const x = randArray(64, 21, 5), wt = randArray(64, 22);
      const g = geluRun(one, x, wt, new Float32Array(64)).dinp;
      const zeros = new Float32Array(64);
      const loss = (xx: Float32Array) => dot(wt, geluRun(one, xx, zeros, zeros).out);
      assertFiniteDiff(x, g, loss, sampleIndices(64, 64), 1e-2, 1e-3, 1e-4, "gelu");
    });

    await t.step("bad n is a KernelError", () => {
      assert.throws(
        () => geluForward(one, { out: 64, inp: 64, n: -3 }),
        (e) => e instanceof KernelError && /gelu_forward: n must be a non-negative/.test(e.message),
      );
    });
  });
});

// ---------------------------------------------------------------- residual adds, scale, copy, fill

Deno.test("residual elementwise ops", async (t) => {
  await withBoth(async (one, two) => {
    await t.step("add, addInPlace, scale, copy, fill exact vs reference; 1 = 2 threads", () => {
      for (const n of [0, 1, 3, 17, 64, 1001]) {
        const a = randArray(n, n + 5), b = randArray(n, n + 6);
        const want = {
          add: new Float32Array(n),
          addInPlace: a.slice(),
          scale: a.slice(),
          copy: new Float32Array(n),
          fill: new Float32Array(n),
        };
        refRes.add({ out: want.add, a, b, n });
        refRes.addInPlace({ x: want.addInPlace, y: b, n });
        refRes.scale({ x: want.scale, n, factor: 0.3 });
        refRes.copy({ dst: want.copy, src: a, n });
        refRes.fill({ x: want.fill, n, value: -2.5 });
        for (const be of [one, two]) {
          scoped(be, () => {
            const ta = upload(be, a), tb = upload(be, b);
            const outs = {
              add: be.arena.tensor([n]),
              addInPlace: upload(be, a),
              scale: upload(be, a),
              copy: be.arena.tensor([n]),
              fill: be.arena.tensor([n]),
            };
            add(be, { out: outs.add.ptr, a: ta.ptr, b: tb.ptr, n });
            addInPlace(be, { x: outs.addInPlace.ptr, y: tb.ptr, n });
            scale(be, { x: outs.scale.ptr, n, factor: 0.3 });
            copy(be, { dst: outs.copy.ptr, src: ta.ptr, n });
            fill(be, { x: outs.fill.ptr, n, value: -2.5 });
            for (const k of Object.keys(want) as (keyof typeof want)[]) {
              assertBits(be.arena.view(outs[k]), want[k], `${k} n=${n} threads=${be.threads}`);
            }
          });
        }
      }
    });

    await t.step("exp: musl expf's bits (the reference) everywhere; within 1 ulp of e^x", () => {
      const xs: number[] = [];
      for (let i = 0; i <= 200000; i++) xs.push(-105 + i * 9.7e-4);
      for (let i = 0; i < 20000; i++) xs.push(-(2 ** (-30 + i * 1.5e-3)), 2 ** (-30 + i * 1.5e-3));
      xs.push(0, -0, Infinity, -Infinity, NaN, 88, 88.72, 88.73, -87.99, -103.97, -104, 1e-40);
      const x = new Float32Array(xs);
      const want = new Float32Array(x.length);
      refRes.exp({ out: want, inp: x, n: x.length });
      for (const be of [one, two]) {
        scoped(be, () => {
          const t = upload(be, x), out = be.arena.tensor([x.length]);
          exp(be, { out: out.ptr, inp: t.ptr, n: x.length });
          assertBits(be.arena.view(out), want, `exp threads=${be.threads}`);
        });
      }
      for (let i = 0; i < x.length; i++) {
        const e = Math.exp(x[i]);
        if (!Number.isFinite(Math.fround(e)) || e < 2 ** -126) continue;
        const u = Math.abs(want[i] - e) / 2 ** (Math.floor(Math.log2(e)) - 23);
        assert.ok(u <= 1, `expf(${x[i]}) = ${want[i]}, e^x = ${e} (${u} ulp)`);
      }
    });

    await t.step("bad arguments are KernelErrors", () => {
      scoped(one, () => {
        const a = one.arena.tensor([16]);
        assert.throws(() => add(one, { out: a.ptr, a: a.ptr, b: a.ptr, n: -1 }), KernelError);
        assert.throws(
          () => copy(one, { dst: a.ptr + 4, src: a.ptr, n: 8 }),
          (e) => e instanceof KernelError && /copy_f32: dst and src overlap/.test(e.message),
        );
        assert.throws(() => scale(one, { x: a.ptr, n: 4, factor: NaN }), KernelError);
        assert.throws(
          () => add(one, { out: a.ptr + 2, a: a.ptr, b: a.ptr, n: 4 }),
          KernelError,
        );
      });
    });
  });
});

// ---------------------------------------------------------------- embedding and bigram

function tokensFor(N: number, V: number, seed: number): Int32Array {
  const r = rng(seed);
  // Few distinct ids so tokens repeat within a tile (the scatter-add must keep their order).
  return Int32Array.from({ length: N }, () => Math.floor(r() * Math.min(V, 4 + (seed % 5))));
}

Deno.test("embedding and bigram", async (t) => {
  await withBoth(async (one, two) => {
    await t.step("forward and backward exact vs reference; 1 = 2 threads", () => {
      let seed = 9;
      for (const C of CHANNELS) {
        for (const N of TOKENS) {
          const V = 7 + (seed % 11);
          const tok = tokensFor(N, V, seed++);
          const wte = randArray(V * C, seed++), dout = randArray(C * N, seed++);
          const dwte0 = randArray(V * C, seed++);
          const out = new Float32Array(C * N), dwte = dwte0.slice();
          refEmb.embeddingForward({ out, tokens: tok, wte, C, N });
          refEmb.embeddingBackward({ dwte, dout, tokens: tok, C, N });
          // The bigram table is square: use V' = C rows for it.
          const Vb = C, tokB = tokensFor(N, Vb, seed++);
          const table = randArray(Vb * Vb, seed++), logits0 = randArray(Vb * N, seed++);
          const dtable0 = randArray(Vb * Vb, seed++);
          const logits = logits0.slice(), dtable = dtable0.slice();
          refEmb.bigramForward({ logits, tokens: tokB, table, V: Vb, N });
          refEmb.bigramBackward({
            dtable,
            dlogits: dout.subarray(0, Vb * N),
            tokens: tokB,
            V: Vb,
            N,
          });
          for (const be of [one, two]) {
            scoped(be, () => {
              const what = `C=${C} N=${N} V=${V} threads=${be.threads}`;
              const tt = upload(be, tok), tw = upload(be, wte), to = be.arena.tensor([C * N]);
              const tdo = upload(be, dout), tdw = upload(be, dwte0);
              embeddingForward(be, { out: to.ptr, tokens: tt.ptr, wte: tw.ptr, C, N, V });
              embeddingBackward(be, { dwte: tdw.ptr, dout: tdo.ptr, tokens: tt.ptr, C, N, V });
              assertBits(be.arena.view(to), out, `embedding out ${what}`);
              assertBits(be.arena.view(tdw), dwte, `embedding dwte ${what}`);
              const tb = upload(be, tokB), ttab = upload(be, table), tl = upload(be, logits0);
              const tdt = upload(be, dtable0);
              bigramForward(be, { logits: tl.ptr, tokens: tb.ptr, table: ttab.ptr, V: Vb, N });
              bigramBackward(be, {
                dtable: tdt.ptr,
                dlogits: tdo.ptr,
                tokens: tb.ptr,
                V: Vb,
                N,
              });
              assertBits(be.arena.view(tl), logits, `bigram logits ${what}`);
              assertBits(be.arena.view(tdt), dtable, `bigram dtable ${what}`);
            });
          }
        }
      }
    });

    await t.step("gradients match finite differences", () => {
      const C = 6, N = 5, V = 4;
      const tok = Int32Array.from([1, 3, 1, 0, 1]);
      const wte = randArray(V * C, 31), wt = randArray(C * N, 32);
      const run = (w: Float32Array) =>
        scoped(one, () => {
          const tt = upload(one, tok), tw = upload(one, w), to = one.arena.tensor([C * N]);
          embeddingForward(one, { out: to.ptr, tokens: tt.ptr, wte: tw.ptr, C, N, V });
          return one.arena.view(to).slice();
        });
      const dwte = new Float32Array(V * C);
      refEmb.embeddingBackward({ dwte, dout: wt, tokens: tok, C, N });
      assertFiniteDiff(
        wte,
        dwte,
        (w) => dot(wt, run(w)),
        sampleIndices(V * C, 24),
        1e-2,
        1e-3,
        1e-4,
        "embedding",
      );
      const table = randArray(V * V, 33), wl = randArray(V * N, 34);
      const runB = (tab: Float32Array) =>
        scoped(one, () => {
          const tt = upload(one, tok), tb = upload(one, tab), tl = one.arena.tensor([V * N]);
          bigramForward(one, { logits: tl.ptr, tokens: tt.ptr, table: tb.ptr, V, N });
          return one.arena.view(tl).slice();
        });
      const dtable = new Float32Array(V * V);
      refEmb.bigramBackward({ dtable, dlogits: wl, tokens: tok, V, N });
      assertFiniteDiff(
        table,
        dtable,
        (tb) => dot(wl, runB(tb)),
        sampleIndices(V * V, 16),
        1e-2,
        1e-3,
        1e-4,
        "bigram",
      );
    });

    await t.step("token ids out of range are KernelErrors", () => {
      scoped(one, () => {
        const C = 4, N = 3, V = 5;
        const tt = upload(one, Int32Array.from([0, 5, 1]));
        const w = one.arena.tensor([V * C]), o = one.arena.tensor([C * N]);
        assert.throws(
          () => embeddingForward(one, { out: o.ptr, tokens: tt.ptr, wte: w.ptr, C, N, V }),
          (e) =>
            e instanceof KernelError &&
            /embedding_forward: tokens\[1\] = 5 is outside \[0, 5\)/.test(e.message),
        );
        assert.throws(
          () => embeddingBackward(one, { dwte: w.ptr, dout: o.ptr, tokens: tt.ptr, C, N, V }),
          KernelError,
        );
        one.arena.i32(tt.ptr, 3).set([0, -1, 1]);
        assert.throws(
          () => embeddingBackward(one, { dwte: w.ptr, dout: o.ptr, tokens: tt.ptr, C, N }),
          (e) => e instanceof KernelError && /tokens\[1\] = -1/.test(e.message),
        );
        const tab = one.arena.tensor([V * V]), lg = one.arena.tensor([V * N]);
        assert.throws(
          () => bigramForward(one, { logits: lg.ptr, tokens: tt.ptr, table: tab.ptr, V, N }),
          KernelError,
        );
        assert.throws(
          () => embeddingForward(one, { out: o.ptr, tokens: tt.ptr, wte: w.ptr, C, N: -3, V }),
          KernelError,
        );
      });
    });
  });
});
