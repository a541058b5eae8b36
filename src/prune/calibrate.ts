/**
 * Calibration of a discretised circuit (docs/method.md §4): a scale and shift of the pair's logit
 * difference, z = s·(l_A − l_B) + b, fitted by 16 LBFGS steps. The loss and its gradient are
 * computed in WASM (calibLossGrad); this is the optimiser's control flow over two numbers.
 */
import type { ComputeBackend } from "../backend/backend.ts";
import { calibLossGrad } from "../backend/ops/index.ts";

export interface Calibration {
  scale: number;
  shift: number;
}

export const IDENTITY: Calibration = { scale: 1, shift: 0 };

/** Mean calibrated loss of the items whose d = l_correct − l_wrong sit at `d` (n f32). */
export function calibratedLoss(be: ComputeBackend, d: number, n: number, c: Calibration): number {
  return calibLossGrad(be, { d, n, scale: c.scale, shift: c.shift }).loss;
}

/**
 * Fits (scale, shift) from (1, 0) with `steps` LBFGS iterations (history 8, backtracking line
 * search with the Armijo condition). Never returns a worse fit than the identity.
 */
export function fitCalibration(be: ComputeBackend, d: number, n: number, steps = 16): Calibration {
  const f = (x: [number, number]) => {
    const r = calibLossGrad(be, { d, n, scale: x[0], shift: x[1] });
    return { f: r.loss, g: [r.dScale, r.dShift] as [number, number] };
  };
  let x: [number, number] = [1, 0];
  let cur = f(x);
  const S: [number, number][] = [], Y: [number, number][] = [];
  const dot = (a: readonly number[], b: readonly number[]) => a[0] * b[0] + a[1] * b[1];
  for (let it = 0; it < steps; it++) {
    // Two-loop recursion: p = −H·g.
    const q: [number, number] = [cur.g[0], cur.g[1]];
    const alpha: number[] = [];
    for (let i = S.length - 1; i >= 0; i--) {
      const a = dot(S[i], q) / dot(Y[i], S[i]);
      alpha[i] = a;
      q[0] -= a * Y[i][0];
      q[1] -= a * Y[i][1];
    }
    const gamma = S.length > 0
      ? dot(S[S.length - 1], Y[Y.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1])
      : 1;
    q[0] *= gamma;
    q[1] *= gamma;
    for (let i = 0; i < S.length; i++) {
      const b = dot(Y[i], q) / dot(Y[i], S[i]);
      q[0] += S[i][0] * (alpha[i] - b);
      q[1] += S[i][1] * (alpha[i] - b);
    }
    const p: [number, number] = [-q[0], -q[1]];
    const slope = dot(p, cur.g);
    if (!(slope < 0) || !Number.isFinite(slope)) break;
    let t = 1, next = f([x[0] + p[0], x[1] + p[1]]);
    while (next.f > cur.f + 1e-4 * t * slope && t > 1e-8) {
      t *= 0.5;
      next = f([x[0] + t * p[0], x[1] + t * p[1]]);
    }
    if (!(next.f <= cur.f)) break;
    const xn: [number, number] = [x[0] + t * p[0], x[1] + t * p[1]];
    const s: [number, number] = [xn[0] - x[0], xn[1] - x[1]];
    const y: [number, number] = [next.g[0] - cur.g[0], next.g[1] - cur.g[1]];
    if (dot(s, y) > 1e-12) {
      S.push(s);
      Y.push(y);
      if (S.length > 8) {
        S.shift();
        Y.shift();
      }
    }
    x = xn;
    cur = next;
    if (Math.hypot(cur.g[0], cur.g[1]) < 1e-9) break;
  }
  return { scale: x[0], shift: x[1] };
}
