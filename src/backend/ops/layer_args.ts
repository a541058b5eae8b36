/**
 * Argument checks and scratch space shared by the layer-kernel wrappers (rmsnorm, abstopk, gelu,
 * residual, embedding, xent, adamw, reduce, random). Every problem becomes a KernelError naming
 * the kernel and the shapes, thrown before anything runs.
 */
import type { ComputeBackend } from "../backend.ts";
import { KernelError } from "../../errors.ts";

const I32_MAX = 0x7fffffff;

/** Dimensions must be integers ≥ min (default 1). */
export function checkDims(
  kernel: string,
  shapes: string,
  dims: Record<string, number>,
  min = 1,
): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < min || v > I32_MAX) {
      const want = min === 0 ? "a non-negative" : "a positive";
      throw new KernelError(kernel, `${name} must be ${want} integer, got ${v} (${shapes})`);
    }
  }
}

/**
 * Buffers given as [pointer, bytes]: the pointer must be a positive integer (a multiple of
 * `align`, 4 for f32/i32 data, 1 for u8 masks) and the buffer must lie inside the memory.
 */
export function checkBuffers(
  be: ComputeBackend,
  kernel: string,
  shapes: string,
  bufs: Record<string, [ptr: number, bytes: number, align?: number]>,
): void {
  const end = be.memory.buffer.byteLength;
  for (const [name, [p, bytes, align = 4]] of Object.entries(bufs)) {
    if (!Number.isInteger(p) || p <= 0 || p % align !== 0) {
      const what = align > 1 ? `a positive multiple of ${align}` : "a positive integer";
      throw new KernelError(kernel, `pointer ${name} must be ${what}, got ${p} (${shapes})`);
    }
    if (p + bytes > end) {
      throw new KernelError(
        kernel,
        `${name} [${p}, ${p + bytes}) runs past the end of memory (${end} bytes) (${shapes})`,
      );
    }
  }
}

/** A number argument must be finite (scales, learning rates, …). */
export function checkFinite(kernel: string, shapes: string, vals: Record<string, number>): void {
  for (const [name, v] of Object.entries(vals)) {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new KernelError(kernel, `${name} must be a finite number, got ${v} (${shapes})`);
    }
  }
}

/** Throws unless every one of the n i32 at ptr lies in [lo, hi) (checked in wasm). */
export function checkIdsInRange(
  be: ComputeBackend,
  kernel: string,
  shapes: string,
  what: string,
  ptr: number,
  n: number,
  lo: number,
  hi: number,
): void {
  const i = be.run("i32_find_out_of_range", [ptr, n, lo, hi], 0);
  if (i >= 0) {
    const v = be.arena.i32(ptr + 4 * i, 1)[0];
    throw new KernelError(kernel, `${what}[${i}] = ${v} is outside [${lo}, ${hi}) (${shapes})`);
  }
}

/** Runs fn with `bytes` of temporary arena memory (64-byte aligned), released afterwards. */
export function withScratch<T>(be: ComputeBackend, bytes: number, fn: (ptr: number) => T): T {
  const mark = be.arena.mark();
  try {
    return fn(be.arena.allocBytes(Math.max(bytes, 64), "kernel scratch"));
  } finally {
    be.arena.reset(mark);
  }
}

/**
 * A result a GPU form writes to `words` 4-byte words of arena scratch, downloaded (one wait) and
 * copied out: what a wrapper returns on a backend whose kernels do not return numbers.
 */
export function deviceResult(
  be: ComputeBackend,
  words: number,
  fn: (out: number) => void,
): { f32: Float32Array; u32: Uint32Array } {
  return withScratch(be, 4 * words, (out) => {
    fn(out);
    be.download([out, 4 * words]);
    return { f32: be.arena.f32(out, words).slice(), u32: be.arena.u32(out, words).slice() };
  });
}
