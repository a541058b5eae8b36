import assert from "node:assert/strict";
import type { Backend } from "../src/backend/backend.ts";
import {
  crossEntropyBackward,
  crossEntropyForward,
  meanLoss,
  pairLossBackward,
  pairLossForward,
} from "../src/backend/ops/xent.ts";
import * as ref from "../src/reference/xent.ts";
import { KernelError } from "../src/errors.ts";
import { randArray, rng, upload } from "./util.ts";
import {
  assertBits,
  assertClose,
  assertFiniteDiff,
  CHANNELS,
  sampleIndices,
  scoped,
  TOKENS,
  withBoth,
} from "./layers_util.ts";

/** Logits with a few far-out values (the softmax must subtract the max) and targets with ignores. */
function xentData(V: number, N: number, seed: number) {
  const logits = randArray(V * N, seed, 5);
  const r = rng(seed + 1);
  for (let i = 0; i < logits.length; i += 7) logits[i] = r() < 0.5 ? 80 : -80;
  const targets = Int32Array.from({ length: N }, () => (r() < 0.2 ? -1 : Math.floor(r() * V)));
  return { logits, targets };
}

function xentRun(
  be: Backend,
  V: number,
  N: number,
  logits: Float32Array,
  targets: Int32Array,
  scale: number,
  inPlace = false,
  withStats = false,
) {
  return scoped(be, () => {
    const tl = upload(be, logits), tt = upload(be, targets), loss = be.arena.tensor([N]);
    const stats = withStats ? { stats: be.arena.tensor([2 * N]).ptr } : {};
    crossEntropyForward(be, { losses: loss.ptr, logits: tl.ptr, targets: tt.ptr, V, N, ...stats });
    const mean = meanLoss(be, { losses: loss.ptr, targets: tt.ptr, N });
    const dl = inPlace ? tl : be.arena.tensor([V * N]);
    crossEntropyBackward(be, {
      dlogits: dl.ptr,
      logits: tl.ptr,
      targets: tt.ptr,
      V,
      N,
      scale,
      ...stats,
    });
    return { losses: be.arena.view(loss).slice(), mean, dlogits: be.arena.view(dl).slice() };
  });
}

Deno.test("cross-entropy", async (t) => {
  await withBoth(async (one, two) => {
    await t.step("forward, mean and backward vs float64 reference; 1 = 2 threads; in place", () => {
      let seed = 5;
      for (const V of CHANNELS) {
        for (const N of TOKENS) {
          const { logits, targets } = xentData(V, N, seed++);
          const what = `V=${V} N=${N}`;
          const got = xentRun(one, V, N, logits, targets, 0.5);
          const got2 = xentRun(two, V, N, logits, targets, 0.5, true);
          assertBits(got2.losses, got.losses, `losses 2 threads ${what}`);
          assertBits(got2.dlogits, got.dlogits, `dlogits 2 threads, in place ${what}`);
          assert.equal(got2.mean, got.mean);
          const losses = new Float32Array(N), dlogits = new Float32Array(V * N);
          ref.crossEntropyForward({ losses, logits, targets, V, N });
          ref.crossEntropyBackward({ dlogits, logits, targets, V, N, scale: 0.5 });
          assertClose(got.losses, losses, 2e-6, `losses ${what}`);
          assertClose(got.dlogits, dlogits, 1e-6, `dlogits ${what}`);
          // The mean is an f64 sum of the f32 losses in token order: exact given the losses.
          assert.equal(got.mean, ref.meanLoss({ losses: got.losses, targets, N }), `mean ${what}`);
          for (let n = 0; n < N; n++) {
            if (targets[n] < 0) assert.equal(got.losses[n], 0, `ignored loss ${what}`);
          }
        }
      }
    });

    await t.step(
      "backward from the forward's stats: the same bits; in place; 1 = 2 threads",
      () => {
        let seed = 900;
        for (const [V, N] of [[1, 1], [5, 3], [33, 17], [256, 64]]) {
          const { logits, targets } = xentData(V, N, seed++);
          const want = xentRun(one, V, N, logits, targets, 0.5);
          for (const be of [one, two]) {
            for (const inPlace of [false, true]) {
              const got = xentRun(be, V, N, logits, targets, 0.5, inPlace, true);
              const what = `V=${V} N=${N} threads=${be.threads} in place=${inPlace}`;
              assertBits(got.losses, want.losses, `losses ${what}`);
              assertBits(got.dlogits, want.dlogits, `dlogits ${what}`);
            }
          }
        }
      },
    );

    await t.step("gradient matches finite differences", () => {
      const V = 7, N = 5, scale = 0.7;
      const logits = randArray(V * N, 77, 3);
      const targets = Int32Array.from([3, -1, 0, 6, 3]);
      const g = xentRun(one, V, N, logits, targets, scale).dlogits;
      const loss = (l: Float32Array) =>
        scale * xentRun(one, V, N, l, targets, scale).losses.reduce((a, b) => a + b, 0);
      assertFiniteDiff(logits, g, loss, sampleIndices(V * N, 35), 1e-2, 1e-2, 2e-4, "xent");
    });

    await t.step("meanLoss without targets, and with every token ignored", () => {
      scoped(one, () => {
        const l = upload(one, Float32Array.from([1, 2, 4])),
          tt = upload(one, Int32Array.from([-1, -1, -1]));
        assert.equal(meanLoss(one, { losses: l.ptr, N: 3 }), 7 / 3);
        assert.equal(meanLoss(one, { losses: l.ptr, targets: tt.ptr, N: 3 }), 0);
      });
    });

    await t.step("bad targets and shapes are KernelErrors", () => {
      scoped(one, () => {
        const V = 4, N = 3;
        const tl = one.arena.tensor([V * N]), loss = one.arena.tensor([N]);
        const tt = upload(one, Int32Array.from([0, 4, 1]));
        const fwd = (tp: number, v = V, n = N) =>
          crossEntropyForward(one, {
            losses: loss.ptr,
            logits: tl.ptr,
            targets: tp,
            V: v,
            N: n,
          });
        assert.throws(
          () => fwd(tt.ptr),
          (e) =>
            e instanceof KernelError &&
            /crossentropy_forward: targets\[1\] = 4 is outside \[-1, 4\)/.test(e.message),
        );
        one.arena.i32(tt.ptr, 3).set([0, -2, 1]);
        assert.throws(() => fwd(tt.ptr), KernelError);
        one.arena.i32(tt.ptr, 3).set([0, 1, 1]);
        assert.throws(() => fwd(tt.ptr, 0), KernelError);
        assert.throws(() => fwd(tt.ptr, V, -1), KernelError);
        assert.throws(
          () =>
            crossEntropyBackward(one, {
              dlogits: tl.ptr,
              logits: tl.ptr,
              targets: tt.ptr,
              V,
              N,
              scale: Infinity,
            }),
          KernelError,
        );
      });
    });
  });
});

function pairData(V: number, N: number, count: number, seed: number) {
  const r = rng(seed);
  const logits = randArray(V * N, seed, 4);
  const pick = (m: number) => Int32Array.from({ length: count }, () => Math.floor(r() * m));
  const pos = pick(N), a = pick(V), b = pick(V);
  // Items sharing logits, and an item whose two candidates coincide.
  if (count > 2) {
    pos[1] = pos[0];
    a[1] = a[0];
    b[2] = a[2];
  }
  return { logits, pos, a, b };
}

function pairRun(
  be: Backend,
  V: number,
  N: number,
  d: ReturnType<typeof pairData>,
  scale: number,
  dl0: Float32Array,
  logitScale?: number,
) {
  return scoped(be, () => {
    const count = d.pos.length;
    const tl = upload(be, d.logits), tp = upload(be, d.pos), ta = upload(be, d.a);
    const tb = upload(be, d.b), loss = be.arena.tensor([count]), dl = upload(be, dl0);
    const items = { logits: tl.ptr, pos: tp.ptr, a: ta.ptr, b: tb.ptr, count, V, N };
    pairLossForward(be, { ...items, losses: loss.ptr });
    pairLossBackward(be, { ...items, dlogits: dl.ptr, scale, logitScale });
    return { losses: be.arena.view(loss).slice(), dlogits: be.arena.view(dl).slice() };
  });
}

Deno.test("pair loss", async (t) => {
  await withBoth(async (one, two) => {
    await t.step("forward and backward vs reference; 1 = 2 threads", () => {
      for (const [V, N, count] of [[2, 1, 1], [5, 3, 4], [33, 17, 9], [256, 64, 50]]) {
        const d = pairData(V, N, count, V + N);
        const dl0 = randArray(V * N, count);
        const got = pairRun(one, V, N, d, 0.25, dl0), got2 = pairRun(two, V, N, d, 0.25, dl0);
        assertBits(got2.losses, got.losses, "losses 2 threads");
        assertBits(got2.dlogits, got.dlogits, "dlogits 2 threads");
        const losses = new Float32Array(count), dlogits = dl0.slice();
        const items = { ...d, count, V, N };
        ref.pairLossForward({ ...items, losses });
        ref.pairLossBackward({ ...items, dlogits, scale: 0.25 });
        assertClose(got.losses, losses, 1e-6, `losses V=${V} N=${N}`);
        assertClose(got.dlogits, dlogits, 1e-6, `dlogits V=${V} N=${N}`);
        // At a temperature (logits × 0.3), as the mask optimiser of a very sure model uses it.
        const hot = pairRun(one, V, N, d, 0.25, dl0, 0.3);
        assertBits(pairRun(two, V, N, d, 0.25, dl0, 0.3).dlogits, hot.dlogits, "scaled, 2 threads");
        const want = dl0.slice();
        ref.pairLossBackward({ ...items, dlogits: want, scale: 0.25, logitScale: 0.3 });
        assertClose(hot.dlogits, want, 1e-6, `scaled dlogits V=${V} N=${N}`);
      }
    });

    await t.step("scaled gradient matches finite differences of the loss at logits × s", () => {
      const V = 6, N = 4, count = 5, scale = 1.5, s = 0.2;
      const d = pairData(V, N, count, 5);
      const g = pairRun(one, V, N, d, scale, new Float32Array(V * N), s).dlogits;
      const loss = (l: Float32Array) =>
        scale *
        pairRun(one, V, N, { ...d, logits: l.map((x) => x * s) }, scale, new Float32Array(V * N))
          .losses.reduce((x, y) => x + y, 0);
      assertFiniteDiff(d.logits, g, loss, sampleIndices(V * N, 24), 1e-2, 1e-2, 2e-4, "scaled");
    });

    await t.step("gradient matches finite differences", () => {
      const V = 6, N = 4, count = 5, scale = 1.5;
      const d = pairData(V, N, count, 3);
      const g = pairRun(one, V, N, d, scale, new Float32Array(V * N)).dlogits;
      const loss = (l: Float32Array) =>
        scale * pairRun(one, V, N, { ...d, logits: l }, scale, new Float32Array(V * N)).losses
          .reduce((x, y) => x + y, 0);
      assertFiniteDiff(d.logits, g, loss, sampleIndices(V * N, 24), 1e-2, 1e-2, 2e-4, "pair loss");
    });

    await t.step("positions and tokens out of range are KernelErrors", () => {
      scoped(one, () => {
        const V = 4, N = 3;
        const tl = one.arena.tensor([V * N]), loss = one.arena.tensor([2]);
        const ok = upload(one, Int32Array.from([0, 1])),
          badPos = upload(one, Int32Array.from([0, 3]));
        const badTok = upload(one, Int32Array.from([4, 0]));
        const run = (pos: number, a: number, b: number, count = 2) =>
          pairLossForward(one, { losses: loss.ptr, logits: tl.ptr, pos, a, b, count, V, N });
        run(ok.ptr, ok.ptr, ok.ptr);
        assert.throws(
          () => run(badPos.ptr, ok.ptr, ok.ptr),
          (e) =>
            e instanceof KernelError &&
            /pair_loss_forward: pos\[1\] = 3 is outside \[0, 3\)/.test(e.message),
        );
        assert.throws(() => run(ok.ptr, badTok.ptr, ok.ptr), KernelError);
        assert.throws(() => run(ok.ptr, ok.ptr, badTok.ptr), KernelError);
        assert.throws(() => run(ok.ptr, ok.ptr, ok.ptr, -2), KernelError);
      });
    });
  });
});
