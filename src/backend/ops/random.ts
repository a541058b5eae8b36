/**
 * Gaussian fill for weight initialisation (asm/kernels/random.ts): counter-based, so x[i] depends
 * only on (seed, stream, i): the same for any thread count and call order.
 */
import type { ComputeBackend } from "../backend.ts";
import { KernelError } from "../../errors.ts";
import { checkBuffers, checkDims, checkFinite } from "./layer_args.ts";

/** x[i] = std·N(0,1) for i < n; seed and stream are 32-bit unsigned integers. */
export function randnFill(
  be: ComputeBackend,
  a: { x: number; n: number; seed: number; stream: number; std: number },
): void {
  const shapes = `n=${a.n} seed=${a.seed} stream=${a.stream} std=${a.std}`;
  checkDims("randn_fill", shapes, { n: a.n }, 0);
  for (const [name, v] of [["seed", a.seed], ["stream", a.stream]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new KernelError("randn_fill", `${name} must be an integer in [0, 2^32) (${shapes})`);
    }
  }
  checkFinite("randn_fill", shapes, { std: a.std });
  checkBuffers(be, "randn_fill", shapes, { x: [a.x, 4 * a.n] });
  if (a.n > 0) be.run("randn_fill", [a.x, a.n, a.seed | 0, a.stream | 0, a.std], 40 * a.n);
}
