/**
 * Scalar reference for src/backend/ops/topk.ts (the test oracle): the same rule, by full sorts.
 * Order: larger |w| first, then lower flat index. Protected entries (the j first of every
 * neuron in that order) always stay and count towards k; the remaining k − |protected| places go
 * to the first unprotected entries in the global order.
 */
import { KernelError } from "../errors.ts";

/** Keeps the k largest-|w| entries of w [rows, cols] in place; returns min(k, rows·cols). */
export function magnitudeTopK(p: {
  w: Float32Array;
  rows: number;
  cols: number;
  k: number;
  j?: number;
  axis?: "row" | "col" | "none";
}): number {
  const { w, rows, cols } = p;
  const axis = p.axis ?? "none";
  const j = axis === "none" ? 0 : p.j ?? 4;
  const n = rows * cols;
  if (w.some((v) => !Number.isFinite(v))) throw new KernelError("magnitude_topk", "W not finite");
  const k = Math.min(p.k, n);
  const before = (a: number, b: number) => Math.abs(w[b]) - Math.abs(w[a]) || a - b;
  const keep = new Uint8Array(n);
  let kept = 0;
  const neurons = axis === "row" ? rows : axis === "col" ? cols : 0;
  if (j > (axis === "row" ? cols : rows)) throw new KernelError("magnitude_topk", "j too large");
  for (let u = 0; u < neurons; u++) {
    const members = axis === "row"
      ? Array.from({ length: cols }, (_, c) => u * cols + c)
      : Array.from({ length: rows }, (_, r) => r * cols + u);
    for (const i of members.sort(before).slice(0, j)) keep[i] = 1;
    kept += j;
  }
  if (kept > k) throw new KernelError("magnitude_topk", "k is below j·neurons");
  const order = Array.from({ length: n }, (_, i) => i).filter((i) => !keep[i]).sort(before);
  for (const i of order.slice(0, k - kept)) keep[i] = 1;
  for (let i = 0; i < n; i++) if (!keep[i]) w[i] = 0;
  return k;
}

/** Number of nonzero entries. */
export function countNonzero(p: { w: Float32Array }): number {
  return p.w.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0);
}

/** Rows (axis "row") or columns ("col") of w [rows, cols] with at least one nonzero. */
export function aliveNeurons(
  p: { w: Float32Array; rows: number; cols: number; axis: "row" | "col" },
): number {
  const { w, rows, cols } = p;
  let alive = 0;
  if (p.axis === "row") {
    for (let r = 0; r < rows; r++) {
      if (w.subarray(r * cols, (r + 1) * cols).some((v) => v !== 0)) alive++;
    }
  } else {
    for (let c = 0; c < cols; c++) {
      let any = false;
      for (let r = 0; r < rows && !any; r++) any = w[r * cols + c] !== 0;
      if (any) alive++;
    }
  }
  return alive;
}
