/**
 * The report's figures as standalone SVG, written by hand: one scatter chart with optional lines
 * per series, linear or log axes with ticks at round values, axis labels, a legend, and labelled
 * vertical markers. Readable in any browser or Markdown viewer.
 */

export interface Point {
  x: number;
  y: number;
  /** A short label drawn beside the marker. */
  label?: string;
}

export interface ChartSeries {
  name: string;
  color: string;
  points: Point[];
  /** A polyline drawn under the points (a fit, or the points joined in order). */
  line?: { x: number; y: number }[];
  /** A second polyline drawn dashed (a fit outside the family's range). */
  dashed?: { x: number; y: number }[];
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  series: ChartSeries[];
  /** Vertical lines at x with a label (e.g. the matched loss). */
  markers?: { x: number; label: string }[];
  /** Shown in the plot area when there is nothing to draw. */
  empty?: string;
}

/** Colours that stay apart for the usual colour-vision deficiencies (Okabe & Ito). */
export const PALETTE = [
  "#0072B2",
  "#D55E00",
  "#009E73",
  "#CC79A7",
  "#E69F00",
  "#56B4E9",
  "#000000",
];

export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/** Tick values at 1, 2, 5 × 10^k covering [lo, hi] (about `want` of them) on a linear axis. */
export function linearTicks(lo: number, hi: number, want = 7): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / want;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Number(v.toPrecision(12)));
  }
  return out;
}

/**
 * Log-axis ticks inside [lo, hi] (both > 0): 1, 2, 5 × 10^k, the decades alone when that is many;
 * under a decade, round linear steps.
 */
export function logTicks(lo: number, hi: number): number[] {
  const at = (ms: number[]) => {
    const out: number[] = [];
    for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) {
      for (const m of ms) {
        const v = Number((m * 10 ** k).toPrecision(12));
        if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) out.push(v);
      }
    }
    return out;
  };
  // Less than a decade: round values a linear axis would use, spaced by the log scale.
  if (hi / lo < 10) return linearTicks(lo, hi, 8).filter((v) => v > 0);
  const t = at([1, 2, 5]);
  return t.length > 8 ? at([1]) : t;
}

function tickText(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return `${Number(v.toPrecision(4))}`;
}

/** The chart as an SVG document. */
export function chartSvg(c: Chart): string {
  // The top margin holds the title and, above the plot, the markers' labels.
  const W = 760, H = 480, M = { l: 78, r: 210, t: 54, b: 58 };
  const pw = W - M.l - M.r, ph = H - M.t - M.b;
  const xs: number[] = [], ys: number[] = [];
  for (const s of c.series) {
    for (const p of [...s.points, ...(s.line ?? []), ...(s.dashed ?? [])]) {
      if (
        Number.isFinite(p.x) && Number.isFinite(p.y) && (!c.xLog || p.x > 0) && (!c.yLog || p.y > 0)
      ) {
        xs.push(p.x);
        ys.push(p.y);
      }
    }
  }
  for (const m of c.markers ?? []) if (Number.isFinite(m.x)) xs.push(m.x);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
    `font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.l}" y="24" font-size="15">${escapeXml(c.title)}</text>`,
    `<rect x="${M.l}" y="${M.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`,
  ];
  const axisLabels = () => {
    out.push(
      `<text x="${M.l + pw / 2}" y="${H - 14}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`,
      `<text x="18" y="${M.t + ph / 2}" transform="rotate(-90 18 ${M.t + ph / 2})" ` +
        `text-anchor="middle">${escapeXml(c.yLabel)}</text>`,
    );
  };
  if (xs.length === 0) {
    out.push(
      `<text x="${M.l + pw / 2}" y="${M.t + ph / 2}" text-anchor="middle" fill="#666">${
        escapeXml(c.empty ?? "no data yet")
      }</text>`,
    );
    axisLabels();
    out.push("</svg>");
    return out.join("\n") + "\n";
  }
  const span = (v: number[], log: boolean | undefined): [number, number] => {
    let lo = Math.min(...v), hi = Math.max(...v);
    if (log) {
      lo = Math.log10(lo);
      hi = Math.log10(hi);
    }
    if (hi === lo) {
      lo -= log ? 0.5 : Math.max(Math.abs(lo) * 0.1, 0.5);
      hi += log ? 0.5 : Math.max(Math.abs(hi) * 0.1, 0.5);
    }
    const pad = (hi - lo) * 0.08;
    return [lo - pad, hi + pad];
  };
  const [x0, x1] = span(xs, c.xLog), [y0, y1] = span(ys, c.yLog);
  const tx = (x: number) => c.xLog ? Math.log10(x) : x;
  const ty = (y: number) => c.yLog ? Math.log10(y) : y;
  const sx = (x: number) => M.l + ((tx(x) - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.t + ph - ((ty(y) - y0) / (y1 - y0)) * ph;
  const f = (v: number) => v.toFixed(1);
  const back = (v: number, log: boolean | undefined) => log ? 10 ** v : v;
  const xt = c.xLog ? logTicks(back(x0, true), back(x1, true)) : linearTicks(x0, x1);
  const yt = c.yLog ? logTicks(back(y0, true), back(y1, true)) : linearTicks(y0, y1);
  for (const v of xt) {
    out.push(
      `<line x1="${f(sx(v))}" x2="${f(sx(v))}" y1="${M.t}" y2="${M.t + ph}" stroke="#eee"/>`,
      `<line x1="${f(sx(v))}" x2="${f(sx(v))}" y1="${M.t + ph}" y2="${
        M.t + ph + 5
      }" stroke="#888"/>`,
      `<text x="${f(sx(v))}" y="${M.t + ph + 19}" text-anchor="middle">${tickText(v)}</text>`,
    );
  }
  for (const v of yt) {
    out.push(
      `<line x1="${M.l}" x2="${M.l + pw}" y1="${f(sy(v))}" y2="${f(sy(v))}" stroke="#eee"/>`,
      `<line x1="${M.l - 5}" x2="${M.l}" y1="${f(sy(v))}" y2="${f(sy(v))}" stroke="#888"/>`,
      `<text x="${M.l - 8}" y="${f(sy(v) + 4)}" text-anchor="end">${tickText(v)}</text>`,
    );
  }
  axisLabels();
  const inside = (p: { x: number; y: number }) =>
    Number.isFinite(p.x) && Number.isFinite(p.y) && (!c.xLog || p.x > 0) && (!c.yLog || p.y > 0);
  const path = (pts: { x: number; y: number }[]) =>
    pts.filter(inside).map((p, i) => `${i ? "L" : "M"}${f(sx(p.x))},${f(sy(p.y))}`).join("");
  for (const m of c.markers ?? []) {
    if (!Number.isFinite(m.x)) continue;
    out.push(
      `<line x1="${f(sx(m.x))}" x2="${f(sx(m.x))}" y1="${M.t}" y2="${M.t + ph}" stroke="#555" ` +
        `stroke-dasharray="2 3"/>`,
      `<text x="${f(sx(m.x))}" y="${M.t - 6}" text-anchor="middle" fill="#333">${
        escapeXml(m.label)
      }</text>`,
    );
  }
  c.series.forEach((s, si) => {
    if (s.dashed && s.dashed.filter(inside).length > 1) {
      out.push(
        `<path d="${path(s.dashed)}" fill="none" stroke="${s.color}" stroke-width="1.2" ` +
          `stroke-dasharray="5 4"/>`,
      );
    }
    if (s.line && s.line.filter(inside).length > 1) {
      out.push(`<path d="${path(s.line)}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    }
    for (const p of s.points.filter(inside)) {
      out.push(
        `<circle cx="${f(sx(p.x))}" cy="${f(sy(p.y))}" r="4.5" fill="${s.color}" ` +
          `stroke="white" stroke-width="1"/>`,
      );
      if (p.label) {
        // Labels of points in the plot's right part go to their left, clear of the legend.
        const left = sx(p.x) > M.l + pw * 0.65;
        out.push(
          `<text x="${f(sx(p.x) + (left ? -7 : 7))}" y="${f(sy(p.y) - 6)}" font-size="10" ` +
            `fill="#333"${left ? ' text-anchor="end"' : ""}>${escapeXml(p.label)}</text>`,
        );
      }
    }
    const ly = M.t + 10 + si * 20;
    out.push(
      `<circle cx="${M.l + pw + 22}" cy="${ly}" r="4.5" fill="${s.color}"/>`,
      `<text x="${M.l + pw + 32}" y="${ly + 4}">${escapeXml(s.name)}</text>`,
    );
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
