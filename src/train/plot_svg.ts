/**
 * loss.svg: training curves (train and validation cross-entropy, and L0) as a standalone SVG,
 * readable in any browser without other tools.
 */
export interface Series {
  name: string;
  color: string;
  points: [number, number][];
}

/** One panel per group of series; x is the step. */
export function plotSvg(title: string, panels: { ylabel: string; series: Series[] }[]): string {
  const W = 720, PH = 260, M = { l: 70, r: 160, t: 36, b: 40 };
  const H = M.t + panels.length * (PH + M.b) + 10;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${M.l}" y="22" font-size="15">${esc(title)}</text>`,
  ];
  panels.forEach((panel, pi) => {
    const top = M.t + pi * (PH + M.b);
    const pts = panel.series.flatMap((s) => s.points).filter(([x, y]) =>
      isFinite(x) && isFinite(y)
    );
    if (pts.length === 0) return;
    let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
    let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) [y0, y1] = [y0 - 1, y1 + 1];
    const pw = W - M.l - M.r;
    const sx = (x: number) => M.l + ((x - x0) / (x1 - x0)) * pw;
    const sy = (y: number) => top + PH - ((y - y0) / (y1 - y0)) * PH;
    out.push(
      `<rect x="${M.l}" y="${top}" width="${pw}" height="${PH}" fill="none" stroke="#999"/>`,
    );
    for (let i = 0; i <= 4; i++) {
      const y = y0 + ((y1 - y0) * i) / 4, x = x0 + ((x1 - x0) * i) / 4;
      out.push(
        `<line x1="${M.l}" x2="${M.l + pw}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/>`,
        `<text x="${M.l - 6}" y="${sy(y) + 4}" text-anchor="end">${fmt(y)}</text>`,
        `<text x="${sx(x)}" y="${top + PH + 16}" text-anchor="middle">${Math.round(x)}</text>`,
      );
    }
    out.push(
      `<text x="14" y="${top + PH / 2}" transform="rotate(-90 14 ${
        top + PH / 2
      })" text-anchor="middle">${esc(panel.ylabel)}</text>`,
      `<text x="${M.l + pw / 2}" y="${top + PH + 32}" text-anchor="middle">step</text>`,
    );
    panel.series.forEach((s, si) => {
      const p = s.points.filter(([x, y]) => isFinite(x) && isFinite(y));
      if (p.length === 0) return;
      const d = p.map(([x, y], i) => `${i ? "L" : "M"}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
        .join("");
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
      const ly = top + 14 + si * 18;
      out.push(
        `<line x1="${M.l + pw + 12}" x2="${M.l + pw + 32}" y1="${ly - 4}" y2="${
          ly - 4
        }" stroke="${s.color}" stroke-width="2"/>`,
        `<text x="${M.l + pw + 38}" y="${ly}">${esc(s.name)} ${fmt(p[p.length - 1][1])}</text>`,
      );
    });
  });
  out.push("</svg>");
  return out.join("\n");
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (a >= 1e3) return (v / 1e3).toFixed(1) + "k";
  return a >= 10 ? v.toFixed(1) : v.toFixed(3);
}
