/**
 * Shared helpers for the benchmark scripts (bench/run.ts runs them all): the --quick flag, the
 * default model's shapes, best-of-N timing, GFLOP/s, plain-text tables.
 */

import process from "node:process";
import type { Backend } from "../src/backend/backend.ts";
import { dims, type ModelDims } from "../src/model/config.ts";
import { paramLayout } from "../src/model/params.ts";
import { PRESETS } from "../src/train/presets.ts";

/** `deno task bench --quick`: fewer shapes and repetitions, for a smoke run. */
export const QUICK = Deno.args.includes("--quick");

/**
 * The default model's sizes (the small preset, through dims() as the model computes them): what
 * the benches time at. B sequences of T tokens make a step's N tokens; `params` is the length of
 * the parameter buffer (what Adam and the gradient RMS run over).
 */
export const MODEL: ModelDims & { B: number; T: number; N: number; params: number } = (() => {
  const rc = PRESETS.small;
  const B = rc.train.batchSize, T = rc.model.nCtx;
  return { ...dims(rc.model), B, T, N: B * T, params: paramLayout(rc.model).total };
})();

export interface TimingOptions {
  /** Timed repetitions at most (default 5). */
  reps?: number;
  /** Untimed runs first (JIT tier-up, caches; default 1). */
  warmup?: number;
  /** Stop repeating once this much time (ms) has been spent timing (default 2000). */
  budgetMs?: number;
}

/** Shortest wall time (ms) of fn over the repetitions: the least disturbed run. */
export function bestMs(fn: () => void, o: TimingOptions = {}): number {
  for (let i = 0; i < (o.warmup ?? 1); i++) fn();
  let best = Infinity, spent = 0;
  for (let r = 0; r < (o.reps ?? 5) && (r === 0 || spent < (o.budgetMs ?? 2000)); r++) {
    const t0 = performance.now();
    fn();
    const ms = performance.now() - t0;
    best = Math.min(best, ms);
    spent += ms;
  }
  return best;
}

/** Calls fn until `ms` milliseconds have passed (at least twice): lets the engine optimise it. */
export function warmUp(fn: () => void, ms: number): void {
  const t0 = performance.now();
  for (let i = 0; i < 2 || performance.now() - t0 < ms; i++) fn();
}

/** bestMs for asynchronous work. */
export async function bestMsAsync(fn: () => Promise<void>, o: TimingOptions = {}): Promise<number> {
  for (let i = 0; i < (o.warmup ?? 1); i++) await fn();
  let best = Infinity, spent = 0;
  for (let r = 0; r < (o.reps ?? 5) && (r === 0 || spent < (o.budgetMs ?? 2000)); r++) {
    const t0 = performance.now();
    await fn();
    const ms = performance.now() - t0;
    best = Math.min(best, ms);
    spent += ms;
  }
  return best;
}

/**
 * A millisecond clock: this process's CPU time (user + system) for one thread, so that what other
 * processes on a shared machine take is not counted; wall time for more threads.
 */
export function benchClock(threads: number): () => number {
  if (threads > 1) return () => performance.now();
  return () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
}

/**
 * Best time of each of fns over `reps` rounds (after one untimed call each), calling them
 * alternately within a round: a load change on the machine hits all of them alike, so their
 * ratios hold even when the absolute times drift.
 */
export function bestOfAlternating(fns: (() => void)[], reps: number, now: () => number): number[] {
  const best = fns.map(() => Infinity);
  for (const f of fns) f();
  for (let r = 0; r < reps; r++) {
    fns.forEach((f, i) => {
      const t0 = now();
      f();
      best[i] = Math.min(best[i], now() - t0);
    });
  }
  return best;
}

/** GFLOP/s of `flops` floating-point operations done in `ms` milliseconds. */
export function gflops(flops: number, ms: number): number {
  return flops / ms / 1e6;
}

/** A number with `digits` decimals, or "–" for a missing value. */
export function fmt(x: number | undefined, digits = 1): string {
  return x === undefined || !Number.isFinite(x) ? "–" : x.toFixed(digits);
}

/** Right-aligned columns (the first left-aligned), one header row and a rule. */
export function table(header: string[], rows: string[][]): string {
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    r.map((s, i) => (i === 0 ? s.padEnd(width[i]) : s.padStart(width[i]))).join("  ");
  return [line(header), width.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Deterministic bench inputs in [−scale, scale]: scale·sin(seed + 0.37·i), the same every run. */
export function benchData(n: number, seed: number, scale = 1): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = scale * Math.sin(seed + i * 0.37);
  return x;
}

/** benchData in a new arena tensor; returns its byte offset. */
export function filled(be: Backend, n: number, seed: number, scale = 1): number {
  const t = be.arena.tensor([n]);
  be.arena.view(t).set(benchData(n, seed, scale));
  return t.ptr;
}

/** The first line of an error's message (peers report failures as one line). */
export const why = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];
