/**
 * Losses on feature-major logits [V,N] (asm/kernels/xent.ts): per-token softmax cross-entropy, its
 * mean, and the two-candidate task loss of docs/method.md §3. Targets are Int32 [N] with -1 = ignore.
 */
import type { Backend } from "../backend.ts";
import {
  checkBuffers,
  checkDims,
  checkFinite,
  checkIdsInRange,
  withScratch,
} from "./layer_args.ts";

/**
 * losses[n] = −log softmax(logits[:,n])[targets[n]]; 0 for ignored tokens. With `stats` (f32
 * [2N]), the per-token max and Σexp stay there for crossEntropyBackward of the same logits.
 */
export function crossEntropyForward(
  be: Backend,
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
  be: Backend,
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

/**
 * Mean of losses [N] over tokens whose target is not -1 (over all N when targets is omitted),
 * summed in f64 in wasm; 0 when no token counts.
 */
export function meanLoss(be: Backend, a: { losses: number; targets?: number; N: number }): number {
  const { N } = a;
  const shapes = `losses [${N}]`;
  checkDims("mean_loss", shapes, { N });
  checkBuffers(be, "mean_loss", shapes, {
    losses: [a.losses, 4 * N],
    ...(a.targets === undefined ? {} : { targets: [a.targets, 4 * N] as [number, number] }),
  });
  return be.run("mean_loss", [a.losses, a.targets ?? 0, N], 0);
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

function checkPair(be: Backend, kernel: string, p: PairLossArgs, extra: string): string {
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
export function pairLossForward(be: Backend, p: PairLossArgs & { losses: number }): void {
  const shapes = checkPair(be, "pair_loss_forward", p, "");
  checkBuffers(be, "pair_loss_forward", shapes, { losses: [p.losses, 4 * p.count] });
  be.run("pair_loss_forward", [p.losses, p.logits, p.pos, p.a, p.b, p.count, p.V, p.N], 0);
}

/**
 * dlogits [V,N] += ∂(scale·Σ_i losses_i)/∂logits, the losses taken on the logits × logitScale
 * (a temperature of 1/logitScale; default 1: the losses pairLossForward computes).
 */
export function pairLossBackward(
  be: Backend,
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
