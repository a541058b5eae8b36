/**
 * RMSNorm over the channels of feature-major activations [C, N] (asm/kernels/rmsnorm.ts): learnable
 * weight, no bias, eps = 2^-23 (docs/method.md §1). The backward accumulates into dinp and dweight.
 */
import type { U8Ptr } from "../arena.ts";
import type { ComputeBackend } from "../backend.ts";
import { checkBuffers, checkDims, withScratch } from "./layer_args.ts";

export interface RmsnormForwardArgs {
  /** out [C,N] = inp·rstd·weight. */
  out: number;
  /** rstd [N] = 1/sqrt(mean_c inp² + eps), kept for the backward. */
  rstd: number;
  /** inp [C,N]. */
  inp: number;
  /** weight [C]. */
  weight: number;
  C: number;
  N: number;
}

/** out = RMSNorm(inp)·weight per token; also writes rstd [N]. */
export function rmsnormForward(be: ComputeBackend, a: RmsnormForwardArgs): void {
  const { C, N } = a;
  const shapes = `inp [C=${C}, N=${N}] weight [${C}] rstd [${N}]`;
  checkDims("rmsnorm_forward", shapes, { C, N });
  checkBuffers(be, "rmsnorm_forward", shapes, {
    out: [a.out, 4 * C * N],
    rstd: [a.rstd, 4 * N],
    inp: [a.inp, 4 * C * N],
    weight: [a.weight, 4 * C],
  });
  be.run("rmsnorm_forward", [a.out, a.rstd, a.inp, a.weight, C, N], 4 * C * N);
}

export interface RmsnormBackwardArgs {
  /** dinp [C,N] += ∂L/∂inp. */
  dinp: number;
  /** dweight [C] += ∂L/∂weight. */
  dweight: number;
  /** dout [C,N] = ∂L/∂out. */
  dout: number;
  inp: number;
  weight: number;
  /** rstd [N] from the forward. */
  rstd: number;
  C: number;
  N: number;
  /**
   * AbsTopK's mask [C,N] (u8) when the norm's output went through AbsTopK: dout is then the
   * gradient of AbsTopK's output and is masked first, exactly as absTopKBackward into a
   * zero-filled buffer would (one pass fewer, and no such buffer).
   */
  doutMask?: U8Ptr;
  /** rstd was given, not computed (rmsnormScale): no gradient flows through it. */
  frozen?: boolean;
}

function backward(
  be: ComputeBackend,
  kernel: string,
  a: RmsnormBackwardArgs,
  write: boolean,
): void {
  const { C, N } = a;
  const shapes = `inp [C=${C}, N=${N}] weight [${C}] rstd [${N}]`;
  checkDims(kernel, shapes, { C, N });
  checkBuffers(be, kernel, shapes, {
    dinp: [a.dinp, 4 * C * N],
    dweight: [a.dweight, 4 * C],
    dout: [a.dout, 4 * C * N],
    inp: [a.inp, 4 * C * N],
    weight: [a.weight, 4 * C],
    rstd: [a.rstd, 4 * N],
    ...(a.doutMask !== undefined
      ? { doutMask: [a.doutMask, C * N, 1] as [number, number, number] }
      : {}),
  });
  withScratch(be, 4 * N, (g) => {
    if (a.frozen) be.run("fill_f32", [g, N, 0], N);
    if (a.doutMask === undefined && !write) {
      if (!a.frozen) {
        be.run("rmsnorm_backward_token", [g, a.dout, a.inp, a.weight, a.rstd, C, N], 3 * C * N);
      }
      be.run(
        "rmsnorm_backward",
        [a.dinp, a.dweight, a.dout, a.inp, a.weight, a.rstd, g, C, N],
        8 * C * N,
      );
      return;
    }
    const mask = a.doutMask ?? 0;
    if (!a.frozen) {
      be.run(
        "rmsnorm_backward_token_ex",
        [g, a.dout, mask, a.inp, a.weight, a.rstd, C, N],
        3 * C * N,
      );
    }
    be.run(
      "rmsnorm_backward_ex",
      [a.dinp, a.dweight, a.dout, mask, a.inp, a.weight, a.rstd, g, C, N, write ? 1 : 0],
      8 * C * N,
    );
  });
}

/** Accumulates the RMSNorm gradients into dinp [C,N] and dweight [C]. */
export function rmsnormBackward(be: ComputeBackend, a: RmsnormBackwardArgs): void {
  backward(be, "rmsnorm_backward", a, false);
}

/**
 * Writes dinp [C,N] (bit for bit what a zero-filled dinp gets from rmsnormBackward, without the
 * fill) and accumulates dweight [C].
 */
export function rmsnormBackwardWrite(be: ComputeBackend, a: RmsnormBackwardArgs): void {
  backward(be, "rmsnorm_backward_write", a, true);
}

/**
 * out = (inp·rstd)·weight with rstd [N] given, not computed: RMSNorm whose scale is frozen to
 * another forward's (pruning with --freeze-norm). Its backward is rmsnormBackward with
 * `frozen: true`.
 */
export function rmsnormScale(be: ComputeBackend, a: RmsnormForwardArgs): void {
  const { C, N } = a;
  const shapes = `inp [C=${C}, N=${N}] weight [${C}] rstd [${N}]`;
  checkDims("rmsnorm_scale", shapes, { C, N });
  checkBuffers(be, "rmsnorm_scale", shapes, {
    out: [a.out, 4 * C * N],
    rstd: [a.rstd, 4 * N],
    inp: [a.inp, 4 * C * N],
    weight: [a.weight, 4 * C],
  });
  be.run("rmsnorm_scale", [a.out, a.rstd, a.inp, a.weight, C, N], 2 * C * N);
}
