/**
 * Losses on feature-major logits [V,N] (asm/kernels/xent.ts): per-token softmax cross-entropy, its
 * mean, and the two-candidate task loss of docs/method.md §3. Targets are Int32 [N] with -1 = ignore.
 */
import type { ComputeBackend } from "../backend.ts";
import {
  checkBuffers,
  checkDims,
  checkFinite,
  checkIdsInRange,
  deviceResult,
  withScratch,
} from "./layer_args.ts";

/**
 * losses[n] = −log softmax(logits[:,n])[targets[n]]; 0 for ignored tokens. With `stats` (f32
 * [2N]), the per-token max and Σexp stay there for crossEntropyBackward of the same logits.
 */
export function crossEntropyForward(
  be: ComputeBackend,
  a: { losses: number; logits: number; targets: number; V: number; N: number; stats?: number },
): void {
  const { V, N } = a;
  const shapes = `logits [V=${V}, N=${N}] targets [${N}]`;
  checkDims("crossentropy_forward", shapes, { V, N });
  checkBuffers(be, "crossentropy_forward", shapes, {
    losses: [a.losses, 4 * N],
    logits: [a.logits, 4 * V * N],
    targets: [a.targets, 4 * N],
    ...(a.stats !== undefined ? { stats: [a.stats, 8 * N] as [number, number] } : {}),
  });
  checkIdsInRange(be, "crossentropy_forward", shapes, "targets", a.targets, N, -1, V);
  const run = (scratch: number) =>
    be.run("crossentropy_forward", [a.losses, a.logits, a.targets, V, N, scratch], 20 * V * N);
  if (a.stats !== undefined) run(a.stats);
  else withScratch(be, 8 * N, run);
}

/**
 * dlogits[v,n] = (softmax(logits[:,n])[v] − [v = targets[n]])·scale, 0 for ignored tokens.
 * Overwrites dlogits (which may be logits itself). With `stats`, what crossEntropyForward left
 * there for these same logits: one pass over them instead of three, the same bits.
 */
export function crossEntropyBackward(
  be: ComputeBackend,
  a: {
    dlogits: number;
    logits: number;
    targets: number;
    V: number;
    N: number;
    scale: number;
    stats?: number;
  },
): void {
  const { V, N } = a;
  const shapes = `logits [V=${V}, N=${N}] targets [${N}] scale=${a.scale}`;
  checkDims("crossentropy_backward", shapes, { V, N });
  checkFinite("crossentropy_backward", shapes, { scale: a.scale });
  checkBuffers(be, "crossentropy_backward", shapes, {
    dlogits: [a.dlogits, 4 * V * N],
    logits: [a.logits, 4 * V * N],
    targets: [a.targets, 4 * N],
    ...(a.stats !== undefined ? { stats: [a.stats, 8 * N] as [number, number] } : {}),
  });
  checkIdsInRange(be, "crossentropy_backward", shapes, "targets", a.targets, N, -1, V);
  if (a.stats !== undefined) {
    const stats = a.stats;
    withScratch(be, 4 * N, (inv) => {
      be.run(
        "crossentropy_backward_stats",
        [a.dlogits, a.logits, a.targets, V, N, a.scale, stats, inv],
        20 * V * N,
      );
    });
    return;
  }
  withScratch(be, 8 * N, (scratch) => {
    be.run(
      "crossentropy_backward",
      [a.dlogits, a.logits, a.targets, V, N, a.scale, scratch],
      30 * V * N,
    );
  });
}

interface MeanLossArgs {
  losses: number;
  targets?: number;
  N: number;
}

function checkMeanLoss(be: ComputeBackend, a: MeanLossArgs): void {
  const shapes = `losses [${a.N}]`;
  checkDims("mean_loss", shapes, { N: a.N });
  checkBuffers(be, "mean_loss", shapes, {
    losses: [a.losses, 4 * a.N],
    ...(a.targets === undefined ? {} : { targets: [a.targets, 4 * a.N] as [number, number] }),
  });
}

/**
 * Mean of losses [N] over tokens whose target is not -1 (over all N when targets is omitted),
 * summed in f64 in wasm; 0 when no token counts. On a GPU: f32 (docs/webgpu.md), one wait.
 */
export function meanLoss(be: ComputeBackend, a: MeanLossArgs): number {
  checkMeanLoss(be, a);
  const gpu = be.forms;
  if (gpu) return deviceResult(be, 1, (out) => gpu.meanLoss({ ...a, out })).f32[0];
  return be.run("mean_loss", [a.losses, a.targets ?? 0, a.N], 0);
}

/**
 * meanLoss of each of several loss buffers, with the `read` ranges brought to the host as well
 * (what the caller reads next): on a GPU one download, one wait, for all of it.
 */
export function meanLosses(
  be: ComputeBackend,
  list: MeanLossArgs[],
  read: [ptr: number, bytes: number][] = [],
): number[] {
  const gpu = be.forms;
  if (!gpu) {
    be.download(...read);
    return list.map((a) => meanLoss(be, a));
  }
  for (const a of list) checkMeanLoss(be, a);
  return withScratch(be, 4 * list.length, (out) => {
    list.forEach((a, i) => gpu.meanLoss({ ...a, out: out + 4 * i }));
    be.download([out, 4 * list.length], ...read);
    return Array.from(be.arena.f32(out, list.length));
  });
}

/** Item arguments of the two-candidate task loss. */
export interface PairLossArgs {
  /** logits [V,N]. */
  logits: number;
  /** Int32 [count]: token position of item i (0 ≤ pos < N). */
  pos: number;
  /** Int32 [count]: the correct token of item i. */
  a: number;
  /** Int32 [count]: the alternative token of item i. */
  b: number;
  count: number;
  V: number;
  N: number;
}

function checkPair(be: ComputeBackend, kernel: string, p: PairLossArgs, extra: string): string {
  const { V, N, count } = p;
  const shapes = `logits [V=${V}, N=${N}] items ${count}${extra}`;
  checkDims(kernel, shapes, { V, N, count });
  checkBuffers(be, kernel, shapes, {
    logits: [p.logits, 4 * V * N],
    pos: [p.pos, 4 * count],
    a: [p.a, 4 * count],
    b: [p.b, 4 * count],
  });
  checkIdsInRange(be, kernel, shapes, "pos", p.pos, count, 0, N);
  checkIdsInRange(be, kernel, shapes, "a", p.a, count, 0, V);
  checkIdsInRange(be, kernel, shapes, "b", p.b, count, 0, V);
  return shapes;
}

/** losses[i] = softplus(l_b − l_a) = −log(e^l_a / (e^l_a + e^l_b)) at (pos[i]); losses [count]. */
export function pairLossForward(be: ComputeBackend, p: PairLossArgs & { losses: number }): void {
  const shapes = checkPair(be, "pair_loss_forward", p, "");
  checkBuffers(be, "pair_loss_forward", shapes, { losses: [p.losses, 4 * p.count] });
  be.run("pair_loss_forward", [p.losses, p.logits, p.pos, p.a, p.b, p.count, p.V, p.N], 0);
}

/**
 * dlogits [V,N] += ∂(scale·Σ_i losses_i)/∂logits, the losses taken on the logits × logitScale
 * (a temperature of 1/logitScale; default 1: the losses pairLossForward computes).
 */
export function pairLossBackward(
  be: ComputeBackend,
  p: PairLossArgs & { dlogits: number; scale: number; logitScale?: number },
): void {
  const s = p.logitScale ?? 1;
  const shapes = checkPair(be, "pair_loss_backward", p, ` scale=${p.scale} logitScale=${s}`);
  checkFinite("pair_loss_backward", shapes, { scale: p.scale, logitScale: s });
  checkBuffers(be, "pair_loss_backward", shapes, { dlogits: [p.dlogits, 4 * p.V * p.N] });
  be.run(
    "pair_loss_backward",
    [p.dlogits, p.logits, p.pos, p.a, p.b, p.count, p.V, p.N, p.scale, s],
    0,
  );
}
