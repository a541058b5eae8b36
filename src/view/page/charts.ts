/// <reference lib="dom" />
/**
 * Line charts with uPlot (small, fast, canvas): training curves from metrics.jsonl and the
 * circuit's loss-vs-k curve with the slider's position marked.
 */
import uPlot from "uplot";
import type { MetricsRow } from "../../run/format.ts";
import { h } from "./heat.ts";
import { axisNumber, logTicks } from "./ticks.ts";

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
      scales: { x: { time: false }, y: opts.logY ? logScale : {} },
      axes: [{ label: "step", space: 60 }, valueAxis(!!opts.logY)],
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

/** Pixels between a y axis's ticks at the least. */
const TICK_GAP = 22;

/**
 * A y axis whose labels are short at any magnitude (axisNumber: 330k, not "330,016" cut to
 * "0,016") and as wide as its longest label; on a log scale, ticks at round values at least
 * TICK_GAP pixels apart.
 */
function valueAxis(log: boolean, label?: string): uPlot.Axis {
  return {
    label,
    space: TICK_GAP,
    values: (_u, splits) => splits.map((v) => (v === null ? "" : axisNumber(v))),
    size: (_u, values) => 14 + 7 * Math.max(2, ...(values ?? []).map((v) => String(v).length)),
    ...(log
      ? {
        splits: (u: uPlot, _i: number, min: number, max: number) =>
          logTicks(min, max, u.bbox.height / uPlot.pxRatio, TICK_GAP),
      }
      : {}),
  };
}

/** A log scale over the data's own range (uPlot's default widens it to whole decades). */
const logScale: uPlot.Scale = {
  distr: 3,
  range: (_u, min, max) =>
    min > 0 && max > 0 ? [min / 1.15, max * 1.15] : [Math.max(min, 1e-6), Math.max(max, 1e-5)],
};

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
      // The plot area itself at least 150 px (the axes take the rest).
      height: 250,
      legend: { show: false },
      scales: { x: { time: false }, y: logScale },
      axes: [{ label: "nodes kept (k)", space: 60 }, valueAxis(true, "task loss")],
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
