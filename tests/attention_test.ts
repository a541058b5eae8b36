/**
 * Attention kernels (asm/kernels/attention.ts) against the scalar reference, finite differences,
 * thread-count determinism, the sink limit and argument checks.
 */
import assert from "node:assert/strict";
import type { Backend } from "../src/backend/backend.ts";
import {
  attentionBackward,
  attentionBackwardWrite,
  attentionForward,
} from "../src/backend/ops/attention.ts";
import * as ref from "../src/reference/attention.ts";
import { KernelError } from "../src/errors.ts";
import { maxRelDiff, randArray, sameBits, upload, withBackends } from "./util.ts";

interface Shape {
  B: number;
  T: number;
  H: number;
  dh: number;
}

/** Random inputs for one case; q and k are scaled so the softmax is far from uniform. */
function inputs(s: Shape, seed: number, withSink: boolean) {
  const act = s.H * s.dh * s.B * s.T;
  return {
    q: randArray(act, seed, 2),
    k: randArray(act, seed + 1, 2),
    v: randArray(act, seed + 2),
    dout: randArray(act, seed + 3),
    sink: withSink ? randArray(s.H, seed + 4, 2) : null,
    // Gradients start nonzero: the backward must accumulate.
    dq: randArray(act, seed + 5),
    dk: randArray(act, seed + 6),
    dv: randArray(act, seed + 7),
    dsink: randArray(s.H, seed + 8),
  };
}

type Inputs = ReturnType<typeof inputs>;

/** Forward then backward on the backend; returns every output as host arrays. */
function runKernels(be: Backend, s: Shape, x: Inputs, write = false) {
  const mark = be.arena.mark();
  const act = s.H * s.dh * s.B * s.T;
  const attN = s.H * s.B * s.T * s.T;
  const [q, k, v, dout] = [x.q, x.k, x.v, x.dout].map((d) => upload(be, d));
  const [dq, dk, dv, dsink] = [x.dq, x.dk, x.dv, x.dsink].map((d) => upload(be, d));
  const sink = x.sink ? upload(be, x.sink).ptr : 0;
  const out = be.arena.tensor([act]);
  const att = be.arena.tensor([attN]);
  const datt = be.arena.tensor([attN]);
  attentionForward(be, { out: out.ptr, att: att.ptr, q: q.ptr, k: k.ptr, v: v.ptr, sink, ...s });
  (write ? attentionBackwardWrite : attentionBackward)(be, {
    dq: dq.ptr,
    dk: dk.ptr,
    dv: dv.ptr,
    dsink: dsink.ptr,
    datt: datt.ptr,
    dout: dout.ptr,
    q: q.ptr,
    k: k.ptr,
    v: v.ptr,
    att: att.ptr,
    sink,
    ...s,
  });
  const get = (t: { ptr: number; size: number }) => be.arena.f32(t.ptr, t.size).slice();
  const res = {
    out: get(out),
    att: get(att),
    dq: get(dq),
    dk: get(dk),
    dv: get(dv),
    dsink: get(dsink),
  };
  be.arena.reset(mark);
  return res;
}

/** The same through the reference. */
function runReference(s: Shape, x: Inputs) {
  const act = s.H * s.dh * s.B * s.T;
  const attN = s.H * s.B * s.T * s.T;
  const r = {
    out: new Float32Array(act),
    att: new Float32Array(attN),
    dq: x.dq.slice(),
    dk: x.dk.slice(),
    dv: x.dv.slice(),
    dsink: x.dsink.slice(),
  };
  ref.attentionForward({ out: r.out, att: r.att, q: x.q, k: x.k, v: x.v, sink: x.sink, ...s });
  ref.attentionBackward({
    dq: r.dq,
    dk: r.dk,
    dv: r.dv,
    dsink: x.sink ? r.dsink : null,
    datt: new Float32Array(attN),
    dout: x.dout,
    q: x.q,
    k: x.k,
    v: x.v,
    att: r.att,
    sink: x.sink,
    ...s,
  });
  return r;
}

const name = (s: Shape, sink: boolean) =>
  `B=${s.B} T=${s.T} H=${s.H} dh=${s.dh}${sink ? " sink" : ""}`;

Deno.test("attention", async (t) => {
  await withBackends([1], async (be) => {
    await t.step("forward and backward match the reference on odd shapes", () => {
      let seed = 1;
      for (const T of [1, 2, 5, 17, 37]) {
        for (const B of [1, 3]) {
          for (const H of [1, 2, 4]) {
            for (const dh of [1, 4, 16, 6]) {
              for (const withSink of [false, true]) {
                const s = { B, T, H, dh };
                const x = inputs(s, seed += 10, withSink);
                const got = runKernels(be, s, x);
                const want = runReference(s, x);
                for (const key of ["out", "att", "dq", "dk", "dv", "dsink"] as const) {
                  const d = maxRelDiff(got[key], want[key]);
                  assert.ok(d < 3e-6, `${name(s, withSink)}: ${key} differs by ${d}`);
                }
              }
            }
          }
        }
      }
    });

    await t.step("causal prefixes agree bit for bit (four-row tiles = single rows)", () => {
      // Queries go four at a time where four rows remain, so the same row is tiled in a long
      // sequence and alone in a short one; out, att and dq of a query see only its prefix.
      const H = 2, dh = 5, T = 24;
      const x = inputs({ B: 1, T, H, dh }, 3, true);
      const whole = runKernels(be, { B: 1, T, H, dh }, x);
      for (const Tc of [6, 7, 17, 23]) {
        const cut = (a: Float32Array) => {
          const o = new Float32Array(H * dh * Tc);
          for (let c = 0; c < H * dh; c++) o.set(a.subarray(c * T, c * T + Tc), c * Tc);
          return o;
        };
        const [q, k, v, dout, dq, dk, dv] = [x.q, x.k, x.v, x.dout, x.dq, x.dk, x.dv].map(cut);
        const part = runKernels(be, { B: 1, T: Tc, H, dh }, { ...x, q, k, v, dout, dq, dk, dv });
        assert.ok(sameBits(part.out, cut(whole.out)), `T=${Tc}: out differs`);
        assert.ok(sameBits(part.dq, cut(whole.dq)), `T=${Tc}: dq differs`);
        for (let h = 0; h < H; h++) {
          for (let t = 0; t < Tc; t++) {
            const a = part.att.subarray((h * Tc + t) * Tc, (h * Tc + t + 1) * Tc);
            const b = whole.att.subarray((h * T + t) * T, (h * T + t) * T + Tc);
            assert.ok(sameBits(a, b), `T=${Tc}: att row ${t} of head ${h} differs`);
          }
        }
      }
    });

    await t.step(
      "backwardWrite = the backward into zero-filled dq, dk, dv, bit for bit (pairs with a zero " +
        "dout too, which it skips)",
      async () => {
        await withBackends([1, 2], (b) => {
          for (const s of [{ B: 2, T: 37, H: 3, dh: 16 }, { B: 1, T: 6, H: 2, dh: 5 }]) {
            for (const [withSink, zeroPairs] of [[false, false], [true, false], [true, true]]) {
              const x = inputs(s, 31, withSink);
              // Every other (h, b) pair's dout all ±0, as a head no kept node reads has it.
              if (zeroPairs) {
                const N = s.B * s.T;
                for (let h = 0; h < s.H; h++) {
                  for (let bb = 0; bb < s.B; bb += 1 + ((h + bb) % 2)) {
                    for (let i = 0; i < s.dh; i++) {
                      for (let t = 0; t < s.T; t++) {
                        x.dout[(h * s.dh + i) * N + bb * s.T + t] = (i + t) % 3 ? 0 : -0;
                      }
                    }
                  }
                }
              }
              const zero = (d: Float32Array) => new Float32Array(d.length);
              const want = runKernels(b, s, {
                ...x,
                dq: zero(x.dq),
                dk: zero(x.dk),
                dv: zero(x.dv),
              });
              const got = runKernels(b, s, x, true);
              for (const key of ["out", "att", "dq", "dk", "dv", "dsink"] as const) {
                const what = `${name(s, withSink)} threads=${b.threads}: ${key}`;
                assert.ok(sameBits(got[key], want[key]), `${what} differs`);
              }
            }
          }
        });
      },
    );

    await t.step("a very negative sink is no sink, bit for bit", () => {
      const s = { B: 2, T: 19, H: 3, dh: 8 };
      const x = inputs(s, 7, false);
      const none = runKernels(be, s, x);
      const low = runKernels(be, s, { ...x, sink: new Float32Array([-1e30, -1e30, -1e30]) });
      for (const key of ["out", "att", "dq", "dk", "dv"] as const) {
        assert.ok(sameBits(low[key], none[key]), `${key} differs`);
      }
      assert.deepEqual([...low.dsink], [...x.dsink], "dsink must not move");
    });

    await t.step("a dominant sink: the sink gradient stays accurate", () => {
      const s = { B: 1, T: 9, H: 2, dh: 4 };
      for (const logit of [8, 30, 70, 100]) {
        const x = inputs(s, 11, true);
        x.sink = new Float32Array([logit, -logit]);
        const got = runKernels(be, s, x);
        const want = runReference(s, x);
        for (const key of ["out", "att", "dq", "dk", "dv", "dsink"] as const) {
          const d = maxRelDiff(got[key], want[key]);
          assert.ok(d < 3e-6, `sink ${logit}: ${key} differs by ${d}`);
        }
      }
    });

    await t.step("gradients match central differences of Σ out·R", () => {
      // Finite differences in float64 on the reference forward, against the kernels' backward.
      const s = { B: 2, T: 6, H: 2, dh: 4 };
      const x = inputs(s, 99, true);
      const zero = (d: Float32Array) => new Float32Array(d.length);
      const got = runKernels(be, s, { ...x, dq: zero(x.dq), dk: zero(x.dk), dv: zero(x.dv) });
      const dsink = runKernels(be, s, { ...x, dsink: zero(x.dsink) }).dsink;
      const act = s.H * s.dh * s.B * s.T;
      const f64 = {
        q: Float64Array.from(x.q),
        k: Float64Array.from(x.k),
        v: Float64Array.from(x.v),
        sink: Float64Array.from(x.sink!),
      };
      const loss = () => {
        const out = new Float64Array(act);
        const att = new Float64Array(s.H * s.B * s.T * s.T);
        ref.attentionForward({ out, att, ...f64, ...s });
        let l = 0;
        for (let i = 0; i < act; i++) l += out[i] * x.dout[i];
        return l;
      };
      const eps = 1e-4;
      const cases = [["q", got.dq], ["k", got.dk], ["v", got.dv], ["sink", dsink]] as const;
      for (const [key, grad] of cases) {
        const p = f64[key];
        for (let i = 0; i < p.length; i++) {
          const keep = p[i];
          p[i] = keep + eps;
          const up = loss();
          p[i] = keep - eps;
          const down = loss();
          p[i] = keep;
          const fd = (up - down) / (2 * eps);
          assert.ok(
            Math.abs(fd - grad[i]) < 1e-4 * Math.max(1, Math.abs(fd)),
            `d${key}[${i}]: kernel ${grad[i]}, finite difference ${fd}`,
          );
        }
      }
    });

    await t.step("bad arguments throw KernelError", () => {
      const t8 = be.arena.tensor([4 * 8 * 2 * 8]);
      const ok = { out: t8.ptr, att: t8.ptr, q: t8.ptr, k: t8.ptr, v: t8.ptr, sink: 0 };
      const shape = { B: 2, T: 8, H: 1, dh: 4 };
      attentionForward(be, { ...ok, ...shape });
      const bad: [Record<string, number>, RegExp][] = [
        [{ T: 0 }, /attention_forward: T must be a positive integer, got 0 \(B=2 T=0/],
        [{ dh: 2.5 }, /dh must be a positive integer/],
        [{ B: -1 }, /B must be a positive integer/],
        [{ q: 0 }, /pointer q must be a positive multiple of 4, got 0/],
        [{ sink: 6 }, /pointer sink must be a positive multiple of 4, got 6/],
        [{ H: 1 << 20 }, /does not fit in the \d+-byte memory/],
      ];
      for (const [change, msg] of bad) {
        assert.throws(() => attentionForward(be, { ...ok, ...shape, ...change }), KernelError);
        assert.throws(() => attentionForward(be, { ...ok, ...shape, ...change }), msg);
      }
      const back = {
        dq: t8.ptr,
        dk: t8.ptr,
        dv: t8.ptr,
        dsink: 0,
        datt: t8.ptr,
        dout: t8.ptr,
        q: t8.ptr,
        k: t8.ptr,
        v: t8.ptr,
        att: t8.ptr,
        sink: t8.ptr,
        ...shape,
      };
      assert.throws(
        () => attentionBackward(be, back),
        /attention_backward: pointer dsink must be a positive multiple of 4, got 0/,
      );
      assert.throws(() => attentionBackward(be, { ...back, dsink: t8.ptr, T: 3.5 }), KernelError);
    });
  });

  await t.step("1 and 2 threads give bit-identical results", async () => {
    const s = { B: 3, T: 37, H: 3, dh: 16 };
    const x = inputs(s, 5, true);
    const results: ReturnType<typeof runKernels>[] = [];
    await withBackends([1, 2], (be) => {
      results.push(runKernels(be, s, x));
    });
    for (const key of ["out", "att", "dq", "dk", "dv", "dsink"] as const) {
      assert.ok(
        sameBits(results[0][key], results[1][key]),
        `${key} differs between 1 and 2 threads`,
      );
    }
  });
});
