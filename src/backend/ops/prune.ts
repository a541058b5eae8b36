/**
 * The node-mask optimiser and logit calibration of circuit pruning (asm/kernels/prune.ts;
 * docs/method.md §4): the surrogate gradient of τ, the clamp + Heaviside that makes m, the calibrated
 * two-candidate loss with its gradient in (scale, shift), and f64 sums to f32 means.
 */
import type { ComputeBackend } from "../backend.ts";
import { checkBuffers, checkDims, checkFinite, withScratch } from "./layer_args.ts";

/** g = (dm + kcoef)·σ'(τ/T)/T over n nodes (the Heaviside's sigmoid-derivative surrogate). */
export function maskSurrogateGrad(
  be: ComputeBackend,
  a: { g: number; tau: number; dm: number; n: number; temperature: number; kcoef: number },
): void {
  const { n } = a;
  const shapes = `n=${n} temperature=${a.temperature} kcoef=${a.kcoef}`;
  checkDims("mask_surrogate_grad", shapes, { n });
  checkFinite("mask_surrogate_grad", shapes, { temperature: a.temperature, kcoef: a.kcoef });
  checkBuffers(be, "mask_surrogate_grad", shapes, {
    g: [a.g, 4 * n],
    tau: [a.tau, 4 * n],
    dm: [a.dm, 4 * n],
  });
  be.run("mask_surrogate_grad", [a.g, a.tau, a.dm, n, 1 / a.temperature, a.kcoef], 30 * n);
}

/**
 * dm[i] += ecoef·Σ_{j ∈ adj(i)} m[j] over n nodes: the gradient of the edge penalty
 * ecoef·Σ_edges m_i·m_j, with the graph of possible edges as CSR (ptr [n+1] i32, idx [nnz] i32).
 */
export function maskEdgeGrad(
  be: ComputeBackend,
  a: { dm: number; m: number; ptr: number; idx: number; n: number; nnz: number; ecoef: number },
): void {
  const { n } = a;
  const shapes = `n=${n} nnz=${a.nnz} ecoef=${a.ecoef}`;
  checkDims("mask_edge_grad", shapes, { n });
  checkFinite("mask_edge_grad", shapes, { ecoef: a.ecoef });
  checkBuffers(be, "mask_edge_grad", shapes, {
    dm: [a.dm, 4 * n],
    m: [a.m, 4 * n],
    ptr: [a.ptr, 4 * (n + 1)],
    idx: [a.idx, 4 * Math.max(1, a.nnz)],
  });
  be.run("mask_edge_grad", [a.dm, a.m, a.ptr, a.idx, n, a.ecoef], 2 * (n + a.nnz));
}

/** τ = clamp(τ, −1, 1) and m = H(τ) = [τ > 0] over n nodes. */
export function maskClampHeaviside(
  be: ComputeBackend,
  a: { m: number; tau: number; n: number },
): void {
  const shapes = `n=${a.n}`;
  checkDims("mask_clamp_heaviside", shapes, { n: a.n });
  checkBuffers(be, "mask_clamp_heaviside", shapes, { m: [a.m, 4 * a.n], tau: [a.tau, 4 * a.n] });
  be.run("mask_clamp_heaviside", [a.m, a.tau, a.n], a.n);
}

/** The calibrated loss of n paired items and its gradient in (scale, shift). */
export interface CalibLoss {
  loss: number;
  dScale: number;
  dShift: number;
}

/**
 * Mean over items of softplus(−(scale·d_i + sign_i·shift)), d_i = l_correct − l_wrong [n] f32,
 * sign = +1 for even items (the pair's first answer is correct) and −1 for odd ones; per-item
 * losses into `losses` [n] when given.
 */
export function calibLossGrad(
  be: ComputeBackend,
  a: { d: number; n: number; scale: number; shift: number; losses?: number },
): CalibLoss {
  const { n } = a;
  const shapes = `n=${n} scale=${a.scale} shift=${a.shift}`;
  checkDims("calib_loss_grad", shapes, { n });
  checkFinite("calib_loss_grad", shapes, { scale: a.scale, shift: a.shift });
  checkBuffers(be, "calib_loss_grad", shapes, {
    d: [a.d, 4 * n],
    ...(a.losses ? { losses: [a.losses, 4 * n] as [number, number] } : {}),
  });
  return withScratch(be, 24, (out) => {
    be.run("calib_loss_grad", [out, a.losses ?? 0, a.d, n, a.scale, a.shift], 0);
    const r = new Float64Array(be.memory.buffer, out, 3);
    return { loss: r[0], dScale: r[1], dShift: r[2] };
  });
}

/** out [n] f32 = acc [n] f64 × scale. */
export function f64ToF32Scaled(
  be: ComputeBackend,
  a: { out: number; acc: number; n: number; scale: number },
): void {
  const shapes = `n=${a.n} scale=${a.scale}`;
  checkDims("f64_to_f32_scaled", shapes, { n: a.n });
  checkFinite("f64_to_f32_scaled", shapes, { scale: a.scale });
  checkBuffers(be, "f64_to_f32_scaled", shapes, {
    out: [a.out, 4 * a.n],
    acc: [a.acc, 8 * a.n, 8],
  });
  be.run("f64_to_f32_scaled", [a.out, a.acc, a.n, a.scale], a.n);
}
