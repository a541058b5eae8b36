/**
 * Axis labels and tick positions for the page's charts (charts.ts), without a DOM so tests can
 * check them: short labels for any magnitude (330k, 1.2M, 4e-4, not uPlot's "330,016" cut to
 * "0,016" by a narrow axis) and log-axis ticks no closer than a given number of pixels.
 */

/** `x` with at most `digits` significant digits, trailing zeros dropped. */
function sig(x: number, digits: number): string {
  return String(Number(x.toPrecision(digits)));
}

/**
 * A short axis label: 0; 330k, 1.2M, 3.4G for large values; 1e-4, 2.5e-3 for small ones;
 * otherwise at most three significant digits.
 */
export function axisNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e9) return `${sig(v / 1e9, 3)}G`;
  if (a >= 1e6) return `${sig(v / 1e6, 3)}M`;
  if (a >= 1e4) return `${sig(v / 1e3, 3)}k`;
  if (a < 1e-2) {
    const [m, e] = v.toExponential(1).split("e");
    return `${m.replace(/\.0$/, "")}e${e}`;
  }
  return sig(v, 3);
}

/** Mantissa sets of log-axis ticks, finest first; then one tick every 1, 2, 5, … decades. */
const MANTISSAS = [
  [1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9],
  [1, 2, 3, 4, 5, 6, 8],
  [1, 2, 3, 5, 7],
  [1, 2, 5],
  [1, 3],
  [1],
];

/**
 * Ticks of a log axis over [min, max] (both > 0) drawn `px` pixels long: the finest set of
 * round values whose neighbours are at least `gap` pixels apart (at least the two ends' round
 * values when even one decade per tick is too dense for the axis).
 */
export function logTicks(min: number, max: number, px: number, gap = 24): number[] {
  if (!(min > 0) || !(max > min) || !(px > 0)) return min > 0 ? [min] : [];
  const lo = Math.log10(min), hi = Math.log10(max), perDecade = px / (hi - lo);
  const within = (v: number) => v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9);
  const spaced = (ts: number[]) =>
    ts.every((t, i) => i === 0 || (Math.log10(t) - Math.log10(ts[i - 1])) * perDecade >= gap);
  for (const set of MANTISSAS) {
    const ts: number[] = [];
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      for (const m of set) {
        const v = Number((m * 10 ** e).toPrecision(6));
        if (within(v)) ts.push(v);
      }
    }
    if (ts.length >= 2 && spaced(ts)) return ts;
  }
  // Within less than a decade no round value may fall between the ends: round steps instead.
  if (hi - lo < 1) {
    const want = Math.max(1, Math.floor(px / gap)), raw = (max - min) / want;
    const p = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
    const ts: number[] = [];
    for (let v = Math.ceil(min / step) * step; v <= max * (1 + 1e-9); v += step) {
      ts.push(Number(v.toPrecision(6)));
    }
    // On a log axis even steps crowd at the top: thin them until they do not.
    let out = ts;
    while (out.length > 2 && !spaced(out)) out = out.filter((_, i) => i % 2 === 0);
    if (out.length >= 1) return out;
  }
  for (const step of [2, 5, 10, 20, 50, 100]) {
    const ts: number[] = [];
    for (let e = Math.ceil(lo / step) * step; e <= hi; e += step) ts.push(10 ** e);
    if (ts.length <= 1 || spaced(ts)) return ts;
  }
  return [];
}
