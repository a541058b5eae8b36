/// <reference lib="dom" />
/**
 * Line charts with uPlot (small, fast, canvas): training curves from metrics.jsonl and the
 * circuit's loss-vs-k curve with the slider's position marked.
 */
import uPlot from "uplot";
import type { MetricsRow } from "../../run/format.ts";
import { h } from "./heat.ts";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

/** One chart of some metrics columns against step; null when the run logged none of them. */
export function metricsChart(
  rows: MetricsRow[],
  keys: string[],
  title: string,
  width: number,
  opts: { logY?: boolean } = {},
): HTMLElement | null {
  const present = keys.filter((k) => rows.some((r) => typeof r[k] === "number"));
  if (present.length === 0) return null;
  const used = rows.filter((r) => present.some((k) => typeof r[k] === "number"));
  const data: (number | null)[][] = [used.map((r) => r.step)];
  for (const k of present) {
    data.push(used.map((r) => (typeof r[k] === "number" && Number.isFinite(r[k]) ? r[k] : null)));
  }
  const box = h("figure", { class: "chart" }, h("figcaption", {}, title));
  new uPlot(
    {
      width,
      height: 170,
      scales: { x: { time: false }, y: opts.logY ? { distr: 3 } : {} },
      axes: [{ label: "step" }, opts.logY ? { values: logTicks } : {}],
      series: [
        { label: "step" },
        ...present.map((k, i) => ({
          label: k,
          stroke: COLORS[i % COLORS.length],
          width: 1.5,
          spanGaps: true,
          points: { show: false },
        })),
      ],
    },
    data as uPlot.AlignedData,
    box,
  );
  return box;
}

/** Tick labels of a log axis: 1e-4, not uPlot's default "0" for everything under 0.01. */
function logTicks(_u: uPlot, splits: (number | null)[]): string[] {
  return splits.map((v) =>
    v === null ? "" : v >= 0.01 ? String(Number(v.toPrecision(2))) : v.toExponential(0)
  );
}

/** The loss-vs-k curve (raw and calibrated), with a vertical marker at `k`. */
export function curveChart(
  curve: { k: number; loss: number; loss_calibrated: number }[],
  target: number,
  k: number | null,
  width: number,
): HTMLElement {
  const box = h(
    "figure",
    { class: "chart curve" },
    h(
      "figcaption",
      {},
      "Loss vs k from the circuit file (pruning pairs): calibrated (red), raw (blue), target " +
        "(grey dashes); the dashed line is the slider.",
    ),
  );
  const xs = curve.map((c) => c.k);
  const marker = (u: uPlot) => {
    if (k === null) return;
    const x = u.valToPos(k, "x", true);
    const ctx = u.ctx;
    ctx.save();
    ctx.strokeStyle = "#111";
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(x, u.bbox.top);
    ctx.lineTo(x, u.bbox.top + u.bbox.height);
    ctx.stroke();
    ctx.restore();
  };
  new uPlot(
    {
      width,
      height: 130,
      legend: { show: false },
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: "nodes kept (k)" }, { label: "task loss", values: logTicks }],
      series: [
        { label: "k" },
        { label: "calibrated", stroke: "#d62728", width: 1.5, points: { show: false } },
        { label: "raw", stroke: "#1f77b4", width: 1, points: { show: false } },
        { label: "target", stroke: "#888", dash: [3, 3], width: 1, points: { show: false } },
      ],
      hooks: { draw: [marker] },
    },
    [
      xs,
      curve.map((c) => Math.max(c.loss_calibrated, 1e-6)),
      curve.map((c) => Math.max(c.loss, 1e-6)),
      xs.map(() => target),
    ],
    box,
  );
  return box;
}
