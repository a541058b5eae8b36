/** Shared test helpers: a seeded RNG, random data, comparisons, a backend per thread count. */
import { Backend } from "../src/backend/backend.ts";
import type { ModelConfig } from "../src/model/config.ts";

/** mulberry32: a tiny deterministic PRNG for test data (not for training). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random CSR graph over n nodes: up to 12 neighbours a node (repeats allowed), seeded. */
export function randomGraph(n: number, seed: number): { ptr: Int32Array; idx: Int32Array } {
  const r = rng(seed), ptr = new Int32Array(n + 1), nb: number[] = [];
  for (let i = 0; i < n; i++) {
    const k = Math.floor(r() * 13);
    for (let j = 0; j < k; j++) nb.push(Math.floor(r() * n));
    ptr[i + 1] = nb.length;
  }
  return { ptr, idx: Int32Array.from(nb) };
}

/** n floats uniform in [-scale, scale), rounded to f32. */
export function randArray(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r() * 2 - 1) * scale;
  return out;
}

/** Largest |a[i] - b[i]| relative to max(1, |b[i]|). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** True when both arrays hold the same f32 bit patterns (treating +0 and -0 as equal). */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  }
  return true;
}

/** Runs fn with a fresh backend of each thread count, closing it afterwards. */
export async function withBackends(
  threads: number[],
  fn: (be: Backend, threads: number) => Promise<void> | void,
): Promise<void> {
  for (const t of threads) {
    const be = await Backend.create({ threads: t, minParallelWork: 0 });
    try {
      await fn(be, t);
    } finally {
      be.close();
    }
  }
}

/** Copies host data into a new arena tensor. */
export function upload(be: Backend, data: Float32Array | Int32Array, shape?: number[]) {
  const t = be.arena.tensor(shape ?? [data.length]);
  if (data instanceof Int32Array) be.arena.viewI32(t).set(data);
  else be.arena.view(t).set(data);
  return t;
}

/** A fresh 2-layer, width-32 model config for model-level tests (each caller may change its copy). */
export function tinyModelConfig(): ModelConfig {
  return {
    vocabSize: 300,
    nLayer: 2,
    baseDModel: 32,
    baseDMlp: 64,
    ef: 1,
    dHead: 16,
    nCtx: 8,
    afrac: 0.5,
    sink: true,
    bigram: true,
    dPosEmb: 0,
  };
}

/**
 * Runs `cli.ts` with these arguments in a new process (TMPDIR `tmpdir`, and `env` added to the
 * environment); its code and output.
 */
export async function runCli(
  args: string[],
  tmpdir?: string,
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../cli.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { ...(tmpdir ? { TMPDIR: tmpdir } : {}), ...env },
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: r.code, stdout: text(r.stdout), stderr: text(r.stderr) };
}

/**
 * train's flags for a run of a few seconds: the tiny preset at n_ctx 32 and 4 sequences a batch,
 * validated, logged and checkpointed often (add --steps and --out).
 */
export const MICRO_TRAIN = [
  "--preset",
  "tiny",
  "--n-ctx",
  "32",
  "--batch",
  "4",
  "--save-every",
  "4",
  "--eval-every",
  "4",
  "--val-batches",
  "1",
  "--log-every",
  "2",
  "--threads",
  "1",
  "--quiet",
];
