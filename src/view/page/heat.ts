/// <reference lib="dom" />
/**
 * Small DOM helpers of the page: element construction, a diverging colour scale, and token
 * heatmaps (each token a span coloured by a value, the value also printed when numbers are on).
 */

/** Attribute values; functions under `on*` names become event listeners. */
type Attrs = Record<string, unknown>;
type Child = Node | string | null | undefined | false;

/** An element with attributes (`on*` functions become listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") {
      el.addEventListener(k.slice(2), v as EventListener);
    } else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Diverging colour for v in [-1, 1]: blue (negative), white, red (positive). */
export function diverging(v: number): string {
  const x = Math.max(-1, Math.min(1, Number.isFinite(v) ? v : 0));
  const t = Math.abs(x);
  const [r, g, b] = x >= 0 ? [214, 39, 40] : [31, 119, 180];
  const mix = (c: number) => Math.round(255 + (c - 255) * t);
  return `rgb(${mix(r)}, ${mix(g)}, ${mix(b)})`;
}

/** A token's text made visible: spaces as ·, newlines as ↵, tabs as →. */
export function showToken(t: string): string {
  return t.replace(/ /g, "·").replace(/\n/g, "↵").replace(/\t/g, "→") || "∅";
}

export function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return String(v);
  if (v !== 0 && Math.abs(v) < 10 ** -digits) return v.toExponential(1);
  return v.toFixed(digits);
}

/**
 * Tokens as a heatmap row. `scale` is the |value| that gets full colour; `mark` outlines one
 * token; `numbers` prints each value under its token.
 */
export function tokenHeat(
  tokens: string[],
  values: number[],
  scale: number,
  opts: { mark?: number; numbers?: boolean; label?: string } = {},
): HTMLElement {
  const row = h("div", { class: "heat", role: "group", "aria-label": opts.label ?? "tokens" });
  tokens.forEach((t, i) => {
    const v = values[i] ?? 0;
    const cell = h(
      "span",
      {
        class: "tok" + (i === opts.mark ? " mark" : ""),
        style: `background:${diverging(scale > 0 ? v / scale : 0)}`,
        title: `${JSON.stringify(t)}: ${fmt(v)}`,
      },
      h("span", { class: "tt" }, showToken(t)),
      opts.numbers ? h("span", { class: "tv" }, fmt(v, 2)) : null,
    );
    row.append(cell);
  });
  return row;
}

/** The largest |value| (at least a tiny positive number). */
export function absMax(...rows: number[][]): number {
  let m = 0;
  for (const r of rows) for (const v of r) if (Number.isFinite(v)) m = Math.max(m, Math.abs(v));
  return m || 1e-9;
}

/**
 * A [T, T] matrix as a canvas heatmap (rows: queries, columns: keys), with token labels in an
 * accessible table of the largest entries beside it (canvas pixels alone are not readable).
 */
export function matrixHeat(
  tokens: string[],
  m: number[],
  opts: { signed: boolean; title: string },
): HTMLElement {
  const T = tokens.length;
  const cell = Math.max(4, Math.min(16, Math.floor(320 / Math.max(T, 1))));
  const canvas = h("canvas", {
    width: T * cell,
    height: T * cell,
    class: "matrix",
    role: "img",
    "aria-label": opts.title,
  });
  const ctx = canvas.getContext("2d");
  const scale = absMax(m);
  if (ctx) {
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < T; s++) {
        if (s > t) continue;
        const v = m[t * T + s] / scale;
        ctx.fillStyle = opts.signed ? diverging(v) : diverging(Math.max(0, v));
        ctx.fillRect(s * cell, t * cell, cell, cell);
      }
    }
  }
  // The last query's row in numbers: where the prediction position looks.
  const last = T - 1;
  const top = Array.from({ length: T }, (_, s) => s).sort((a, b) =>
    Math.abs(m[last * T + b]) - Math.abs(m[last * T + a])
  ).slice(0, 5);
  const list = h(
    "ol",
    { class: "toplist" },
    ...top.map((s) =>
      h("li", {}, h("code", {}, showToken(tokens[s])), ` @${s}: ${fmt(m[last * T + s])}`)
    ),
  );
  return h(
    "figure",
    { class: "matrix-fig" },
    h("figcaption", {}, opts.title),
    canvas,
    h("div", { class: "small" }, `last query (${showToken(tokens[last])}) attends most to:`),
    list,
  );
}
