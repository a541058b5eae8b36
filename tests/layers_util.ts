/** Helpers for the layer-kernel tests: both backends at once, scoped arena use, bit comparisons. */
import assert from "node:assert/strict";
import type { U8Ptr } from "../src/backend/arena.ts";
import { Backend, type ComputeBackend } from "../src/backend/backend.ts";

/** The odd and even shapes every layer kernel is tried on. */
export const TOKENS = [1, 3, 17, 64];
export const CHANNELS = [1, 5, 16, 33, 256];

/** Runs fn with a 1-thread and a 2-thread backend (pool always used), closing them afterwards. */
export async function withBoth(
  fn: (one: Backend, two: Backend) => Promise<void> | void,
): Promise<void> {
  const one = await Backend.create({ threads: 1, minParallelWork: 0 });
  const two = await Backend.create({ threads: 2, minParallelWork: 0 });
  try {
    await fn(one, two);
  } finally {
    one.close();
    two.close();
  }
}

/** Runs fn with arena allocations released afterwards. */
export function scoped<T>(be: ComputeBackend, fn: () => T): T {
  const mark = be.arena.mark();
  try {
    return fn();
  } finally {
    be.arena.reset(mark);
  }
}

/** A zeroed u8 buffer in the arena; returns its pointer. */
export function allocU8(be: Backend, n: number): U8Ptr {
  const p = be.arena.u8Buffer(Math.max(n, 1), "u8");
  be.arena.u8(p, n).fill(0);
  return p;
}

function bitsOf(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/** Asserts identical f32 bit patterns (reports the first difference). */
export function assertBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  const g = bitsOf(got), w = bitsOf(want);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) assert.fail(`${what}: [${i}] = ${got[i]}, want ${want[i]} (bits differ)`);
  }
}

/** Asserts |got − want| ≤ rel·max(|want|, floor) elementwise. */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  rel: number,
  what: string,
  floor = 1,
): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    const tol = rel * Math.max(Math.abs(want[i]), floor);
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      assert.fail(`${what}: [${i}] = ${got[i]}, want ${want[i]} (tolerance ${tol})`);
    }
  }
}

/**
 * Central-difference check of an analytic gradient: for each index in `at`, perturbs x[i] by ±h,
 * evaluates the scalar loss (f64) and compares (L+ − L−)/2h with grad[i] to within
 * rel·|grad| + abs.
 */
export function assertFiniteDiff(
  x: Float32Array,
  grad: ArrayLike<number>,
  loss: (x: Float32Array) => number,
  at: number[],
  h: number,
  rel: number,
  abs: number,
  what: string,
): void {
  for (const i of at) {
    const x0 = x[i];
    x[i] = x0 + h;
    const lp = loss(x);
    x[i] = x0 - h;
    const lm = loss(x);
    x[i] = x0;
    const fd = (lp - lm) / (Math.fround(x0 + h) - Math.fround(x0 - h));
    const tol = rel * Math.abs(grad[i]) + abs;
    if (!(Math.abs(fd - grad[i]) <= tol)) {
      assert.fail(`${what}: d/dx[${i}] analytic ${grad[i]} vs finite difference ${fd}`);
    }
  }
}

/** Σ w[i]·y[i] in f64: a scalar loss whose gradient with respect to y is w. */
export function dot(w: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += w[i] * y[i];
  return s;
}

/** Up to `count` distinct indices below n, spread evenly (always includes 0 and n − 1). */
export function sampleIndices(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const out = new Set<number>();
  for (let j = 0; j < count; j++) out.add(Math.round((j * (n - 1)) / (count - 1)));
  return [...out];
}
