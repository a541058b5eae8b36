/**
 * Dense f32 matrix multiply on the backend (asm/kernels/gemm.ts), and the bias gradient of a
 * linear layer. Row-major, f32; pointers are byte offsets into the arena.
 *
 * With feature-major activations X [in, N] and weights W [out, in], a linear layer is
 *   forward          Y[out,N] = W · X + b
 *                    gemm({ M: out, N, K: in, a: W, b: X, c: Y, bias: b })
 *   input gradient   dX[in,N] (+)= Wᵀ · dY
 *                    gemm({ M: in, N, K: out, a: W, transA: true, b: dY, c: dX, accumulate })
 *   weight gradient  dW[out,in] += dY · Xᵀ
 *                    gemm({ M: out, N: in, K: N, a: dY, b: X, transB: true, c: dW,
 *                           accumulate: true })
 *   bias gradient    db[out] += Σ_n dY[:, n]
 *                    biasBackward({ dbias: db, dout: dY, C: out, N })
 * The packing inside the kernel absorbs the transposes: all three run at about the same speed.
 *
 * Results are bit-reproducible: every element follows one summation order (see the kernel file),
 * whatever the micro-kernel, tiling or thread count; src/reference/gemm.ts matches bit for bit.
 */
import type { ComputeBackend } from "../backend.ts";
import { KernelError } from "../../errors.ts";

/** The GEMM micro-kernel variants in the module: name and register tile (MR rows × NR columns). */
export const GEMM_KERNELS = [
  { name: "gemm_f32_4x8_loadsplat", mr: 4, nr: 8 },
  { name: "gemm_f32_4x8_mixsplat", mr: 4, nr: 8 },
  { name: "gemm_f32_6x8_mixsplat", mr: 6, nr: 8 },
] as const;

export type GemmKernel = (typeof GEMM_KERNELS)[number]["name"];

/** The variant `gemm` uses unless told otherwise: the fastest in bench/gemm_bench.ts. */
export const GEMM_DEFAULT: GemmKernel = "gemm_f32_4x8_mixsplat";

export interface GemmParams {
  /** Rows of C and of op(A). */
  M: number;
  /** Columns of C and of op(B). */
  N: number;
  /** Inner dimension. */
  K: number;
  /** A: [M,K], or [K,M] when transA. */
  a: number;
  transA?: boolean;
  /** B: [K,N], or [N,K] when transB. */
  b: number;
  transB?: boolean;
  /** C: [M,N]. */
  c: number;
  /** bias [M], broadcast along N; omitted or 0 for none. */
  bias?: number;
  /** Add to C instead of overwriting it. */
  accumulate?: boolean;
  /** Micro-kernel variant (tests and benchmarks); default GEMM_DEFAULT. */
  kernel?: GemmKernel;
}

function checkDims(kernel: string, dims: Record<string, number>, shapes: string): void {
  for (const [name, v] of Object.entries(dims)) {
    if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
      throw new KernelError(kernel, `${name} must be a non-negative integer, got ${v} (${shapes})`);
    }
  }
}

function checkPtrs(kernel: string, ptrs: Record<string, number | undefined>, shapes: string): void {
  for (const [name, p] of Object.entries(ptrs)) {
    if (p === undefined) continue;
    if (!Number.isInteger(p) || p <= 0 || p % 4 !== 0) {
      throw new KernelError(
        kernel,
        `pointer ${name} must be a positive multiple of 4, got ${p} (${shapes})`,
      );
    }
  }
}

/** Each operand [ptr, ptr + 4·count) must lie inside the memory (a kernel would trap). */
function checkSpans(
  be: ComputeBackend,
  kernel: string,
  spans: Record<string, [number | undefined, number]>,
  shapes: string,
): void {
  const size = be.memory.buffer.byteLength;
  for (const [name, [p, count]] of Object.entries(spans)) {
    if (p === undefined || count === 0) continue;
    if (p + 4 * count > size) {
      throw new KernelError(
        kernel,
        `${name} (${count} floats at ${p}) runs past the end of memory (${size} bytes; ${shapes})`,
      );
    }
  }
}

/**
 * C[M,N] (+)= op(A)[M,K] · op(B)[K,N] + bias[M] (bias broadcast along N). Row-major f32.
 * transA: A is stored [K,M]; transB: B is stored [N,K]; accumulate: add to C instead of
 * overwriting it. K = 0 leaves C = bias (or 0), or C (+ bias) when accumulating.
 */
export function gemm(be: ComputeBackend, p: GemmParams): void {
  const name = p.kernel ?? GEMM_DEFAULT;
  const { M, N, K } = p;
  const shapes = `M=${M} N=${N} K=${K} A ${p.transA ? `[K,M]` : `[M,K]`} B ${
    p.transB ? `[N,K]` : `[K,N]`
  }`;
  checkDims(name, { M, N, K }, shapes);
  const bias = p.bias === 0 ? undefined : p.bias;
  checkPtrs(name, { a: p.a, b: p.b, c: p.c, bias }, shapes);
  checkSpans(be, name, {
    A: [p.a, M * K],
    B: [p.b, K * N],
    C: [p.c, M * N],
    bias: [bias, M],
  }, shapes);
  if (!GEMM_KERNELS.some((k) => k.name === name)) {
    throw new KernelError(name, "unknown gemm kernel variant");
  }
  if (M === 0 || N === 0) return;
  const arena = be.arena;
  const mark = arena.mark();
  try {
    const perThread = be.run("gemm_f32_scratch_bytes", [], 0);
    const scratch = arena.allocBytes(perThread * be.threads, "gemm scratch");
    be.run(name, [
      M,
      N,
      K,
      p.a,
      p.transA ? 1 : 0,
      p.b,
      p.transB ? 1 : 0,
      p.c,
      p.bias ?? 0,
      p.accumulate ? 1 : 0,
      scratch,
    ], 2 * M * N * K);
  } finally {
    arena.reset(mark);
  }
}

/** dbias[C] += Σ_n dout[C,N] (the bias gradient of a feature-major linear layer). */
export function biasBackward(
  be: ComputeBackend,
  p: { dbias: number; dout: number; C: number; N: number },
): void {
  const name = "bias_backward_f32";
  const shapes = `dout [${p.C}, ${p.N}] dbias [${p.C}]`;
  checkDims(name, { C: p.C, N: p.N }, shapes);
  checkPtrs(name, { dbias: p.dbias, dout: p.dout }, shapes);
  checkSpans(be, name, { dbias: [p.dbias, p.C], dout: [p.dout, p.C * p.N] }, shapes);
  be.run(name, [p.dbias, p.dout, p.C, p.N], p.C * p.N);
}
