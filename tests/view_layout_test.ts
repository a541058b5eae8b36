/**
 * The circuit graph's layout and drawing without a browser (src/view/page/graph_layout.ts,
 * graph_svg.ts) on the shape of the default model's single_double_quote circuit (docs/prune.md):
 * residual threads join a channel's write to its later reads across layers, an empty layer is a
 * thin band that says so, no two names overlap, no edge crosses a name, a head's channels get
 * their room; and the charts' axis labels and ticks (ticks.ts).
 */
import assert from "node:assert/strict";
import {
  bezierPoints,
  type Box,
  type GraphInput,
  type GraphLayout,
  layoutGraph,
  overlaps,
  placeRow,
  type Pt,
  R,
  residualThreads,
} from "../src/view/page/graph_layout.ts";
import { graphSvg } from "../src/view/page/graph_svg.ts";
import { axisNumber, logTicks } from "../src/view/page/ticks.ts";

/**
 * The default model's single_double_quote circuit as docs/prune.md describes it (small preset:
 * 4 layers, d_head 16): layer-0 neurons write channel 64; a layer-1 head writes channel 9; layer 2
 * is empty; layer 3's head 0 reads channel 9 by a key and channel 64 by its values and writes
 * channel 50, which layer 3's MLP reads.
 */
function quoteCircuit(): GraphInput {
  const reads = [92, 52, 2, 111, 7, 13, 21, 30, 44, 58, 71, 80, 99, 104, 120];
  const neurons = [466, 328, 68, 12, 45, 101, 150, 222, 300, 390, 410, 455, 500];
  const writes = [64, 3, 17, 28, 77, 90, 115];
  const ids = [
    ...reads.map((c) => `0.mlp.act_in.${c}`),
    ...neurons.map((n) => `0.mlp.post_act.${n}`),
    ...writes.map((c) => `0.mlp.resid_delta.${c}`),
    "1.attn.act_in.43",
    "1.attn.act_in.3",
    "1.attn.k.88",
    "1.attn.v.17",
    "1.attn.v.20",
    "1.attn.resid_delta.9",
    "3.attn.act_in.9",
    "3.attn.act_in.64",
    "3.attn.act_in.28",
    ...[11, 5, 7].map((j) => `3.attn.k.${j}`),
    ...[1, 2].map((j) => `3.attn.q.${j}`),
    ...[0, 11, 3, 4, 6, 9].map((j) => `3.attn.v.${j}`),
    "3.attn.k.40",
    "3.attn.resid_delta.50",
    "3.mlp.act_in.50",
    "3.mlp.post_act.17",
    "3.mlp.resid_delta.8",
  ];
  const edges: GraphInput["edges"] = [];
  const e = (source: string, target: string, weight: number) =>
    edges.push({ source, target, weight });
  reads.forEach((c, i) => {
    e(`0.mlp.act_in.${c}`, `0.mlp.post_act.${neurons[i % neurons.length]}`, 0.3 + 0.05 * i);
    e(`0.mlp.act_in.${c}`, `0.mlp.post_act.${neurons[(i + 5) % neurons.length]}`, -0.2);
  });
  neurons.forEach((n, i) => e(`0.mlp.post_act.${n}`, `0.mlp.resid_delta.${writes[i % 7]}`, 0.5));
  e("0.mlp.post_act.466", "0.mlp.resid_delta.64", 0.74);
  e("0.mlp.post_act.328", "0.mlp.resid_delta.64", 0.51);
  e("1.attn.act_in.43", "1.attn.k.88", 0.9);
  e("1.attn.act_in.3", "1.attn.v.17", 0.7);
  e("1.attn.act_in.3", "1.attn.v.20", -0.4);
  e("1.attn.v.17", "1.attn.resid_delta.9", 0.6);
  e("1.attn.v.20", "1.attn.resid_delta.9", 0.3);
  e("3.attn.act_in.9", "3.attn.k.11", 1.32);
  e("3.attn.act_in.9", "3.attn.k.5", 0.4);
  e("3.attn.act_in.28", "3.attn.q.1", 0.2);
  e("3.attn.act_in.28", "3.attn.k.40", 0.3);
  e("3.attn.act_in.64", "3.attn.v.0", -0.94);
  e("3.attn.act_in.64", "3.attn.v.11", 0.51);
  for (const j of [3, 4, 6, 9]) e("3.attn.act_in.64", `3.attn.v.${j}`, 0.1 * j);
  e("3.attn.v.0", "3.attn.resid_delta.50", 1.02);
  e("3.attn.v.11", "3.attn.resid_delta.50", 0.4);
  e("3.mlp.act_in.50", "3.mlp.post_act.17", 0.8);
  e("3.mlp.post_act.17", "3.mlp.resid_delta.8", 0.6);
  return {
    nodes: ids.map((id, i) => ({
      id,
      delta: id === "0.mlp.resid_delta.64" ? 2.2 : ((i % 7) - 3) / 10,
      inCircuit: true,
      kept: true,
      pinned: false,
    })),
    edges,
    dHead: 16,
    nLayer: 4,
    selected: null,
  };
}

/** Every piece of text of a layout. */
const labels = (l: GraphLayout) => [
  ...l.bands.map((b) => b.label),
  ...l.rowLabels,
  ...l.heads.map((h) => h.label),
  ...l.threads.map((t) => t.label),
];

/** The box a node's circle takes. */
const circle = (p: Pt): Box => ({ x: p.x - R, y: p.y - R, w: 2 * R, h: 2 * R });

/** Points every few px along a polyline. */
function along(points: Pt[], step = 3): Pt[] {
  const out: Pt[] = [];
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    const n = Math.max(1, Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / step));
    for (let k = 0; k <= n; k++) {
      out.push({ x: a.x + (b.x - a.x) * k / n, y: a.y + (b.y - a.y) * k / n });
    }
  }
  return out;
}

const inside = (p: Pt, b: Box, margin = 0) =>
  p.x > b.x + margin && p.x < b.x + b.w - margin && p.y > b.y + margin && p.y < b.y + b.h - margin;

Deno.test("residualThreads: a channel from its first write on, in block order", () => {
  assert.deepEqual(
    residualThreads([
      "3.attn.act_in.64",
      "0.mlp.act_in.64", // read before any write: the embedding's, not a thread
      "0.mlp.resid_delta.64",
      "2.mlp.resid_delta.64",
      "1.attn.resid_delta.5",
      "1.mlp.act_in.5", // the same layer's MLP reads what its attention wrote
      "0.mlp.act_in.7",
      "3.attn.act_in.7", // two reads and no write
      "2.attn.resid_delta.9", // a write nobody reads
      "1.mlp.post_act.64", // a neuron, not a residual channel
    ]),
    [
      { channel: 5, nodes: ["1.attn.resid_delta.5", "1.mlp.act_in.5"] },
      {
        channel: 64,
        nodes: ["0.mlp.resid_delta.64", "2.mlp.resid_delta.64", "3.attn.act_in.64"],
      },
    ],
  );
});

Deno.test("layout of the quote circuit: threads, an empty layer, names, edges", async (t) => {
  const g = quoteCircuit();
  const l = await layoutGraph(g);
  const ids = g.nodes.map((n) => n.id);

  await t.step("every node placed once, no two circles overlap", () => {
    assert.deepEqual(new Set(l.pos.keys()), new Set(ids));
    const ps = ids.map((id) => l.pos.get(id)!);
    for (let i = 0; i < ps.length; i++) {
      for (let j = i + 1; j < ps.length; j++) {
        assert.ok(
          Math.hypot(ps[i].x - ps[j].x, ps[i].y - ps[j].y) >= 2 * R + 2,
          `${ids[i]} and ${ids[j]} overlap`,
        );
      }
    }
  });

  await t.step("bands: one per layer in order, the empty layer thin and named", () => {
    assert.deepEqual(l.bands.map((b) => b.layer), [0, 1, 2, 3]);
    assert.deepEqual(l.bands.map((b) => b.empty), [false, false, true, false]);
    assert.equal(l.bands[0].y, 0);
    for (let i = 1; i < 4; i++) {
      assert.ok(Math.abs(l.bands[i].y - (l.bands[i - 1].y + l.bands[i - 1].h)) < 1e-9);
    }
    assert.ok(Math.abs(l.bands[3].y + l.bands[3].h - l.height) < 1e-9);
    assert.equal(l.bands[2].label.text, "layer 2: no nodes");
    assert.ok(l.bands[2].h < 0.5 * Math.min(l.bands[1].h, l.bands[3].h), "the empty band is thin");
    for (const id of ids) {
      const layer = Number(id.split(".")[0]), y = l.pos.get(id)!.y, b = l.bands[layer];
      assert.ok(y - R >= b.y && y + R <= b.y + b.h, `${id} outside its band`);
    }
  });

  await t.step("channel 64: one thread from layer 0's write to layer 3's read", () => {
    const t64 = l.threads.find((x) => x.channel === 64)!;
    assert.deepEqual(t64.nodes, ["0.mlp.resid_delta.64", "3.attn.act_in.64"]);
    assert.equal(t64.legs.length, 1);
    const leg = t64.legs[0];
    assert.deepEqual(leg[0], l.pos.get("0.mlp.resid_delta.64"));
    assert.deepEqual(leg[leg.length - 1], l.pos.get("3.attn.act_in.64"));
    // It crosses layers 1 and 2 without touching a node on its way.
    for (const layer of [1, 2]) {
      const b = l.bands[layer];
      assert.ok(leg.some((p) => p.y <= b.y) && leg.some((p) => p.y >= b.y + b.h));
    }
    const ends = new Set(t64.nodes);
    for (const p of along(leg)) {
      for (const id of ids) {
        if (!ends.has(id)) assert.ok(!inside(p, circle(l.pos.get(id)!)), `thread 64 crosses ${id}`);
      }
    }
    assert.equal(t64.label.text, "resid 64");
    assert.deepEqual(
      l.threads.map((x) => [x.channel, x.nodes]),
      [
        [3, ["0.mlp.resid_delta.3", "1.attn.act_in.3"]],
        [9, ["1.attn.resid_delta.9", "3.attn.act_in.9"]],
        [28, ["0.mlp.resid_delta.28", "3.attn.act_in.28"]],
        [50, ["3.attn.resid_delta.50", "3.mlp.act_in.50"]],
        [64, ["0.mlp.resid_delta.64", "3.attn.act_in.64"]],
      ],
    );
  });

  await t.step("no two names overlap; no name on a node, a head's box or an edge", () => {
    const all = labels(l);
    for (let i = 0; i < all.length; i++) {
      for (let j = i + 1; j < all.length; j++) {
        assert.ok(!overlaps(all[i], all[j]), `'${all[i].text}' overlaps '${all[j].text}'`);
      }
      for (const id of ids) {
        assert.ok(!overlaps(all[i], circle(l.pos.get(id)!)), `'${all[i].text}' on ${id}`);
      }
      for (const h of l.heads) {
        if (h.label !== all[i]) {
          assert.ok(!overlaps(all[i], h.box), `'${all[i].text}' on ${h.key}'s box`);
        }
      }
    }
    for (const e of l.edges) {
      for (const p of bezierPoints(e.curve, 40)) {
        for (const b of all) {
          assert.ok(!inside(p, b), `edge ${e.source} → ${e.target} crosses '${b.text}'`);
        }
      }
    }
    // Head names sit in their box's own column, left of its channels.
    for (const h of l.heads) {
      assert.ok(h.label.x >= h.box.x && h.label.x + h.label.w <= h.box.x + h.box.w);
      const members = ids.filter((id) =>
        /\.attn\.[qkv]\./.test(id) && id.startsWith(`${h.layer}.`) &&
        Math.floor(Number(id.split(".")[3]) / 16) === h.head
      );
      for (const id of members) {
        assert.ok(l.pos.get(id)!.x - R > h.label.x + h.label.w, `${id} under '${h.label.text}'`);
      }
    }
  });

  await t.step("the key head gets its room: 11 channels, each a node's width apart", () => {
    const head = l.heads.find((h) => h.key === "3.head.0")!;
    const xs = ids.filter((id) => /^3\.attn\.[qkv]\.(\d)$|^3\.attn\.[qkv]\.1[01]$/.test(id))
      .map((id) => l.pos.get(id)!.x).sort((a, b) => a - b);
    assert.equal(xs.length, 11);
    for (let i = 1; i < xs.length; i++) assert.ok(xs[i] - xs[i - 1] >= 2 * R + 6);
    assert.ok(head.box.w >= 11 * (2 * R + 6));
  });

  await t.step("the drawing: threads, their names, the empty layer, every node once", () => {
    const svg = graphSvg(l, g);
    assert.match(
      svg,
      /<g class="thread" data-channel="64" data-nodes="0\.mlp\.resid_delta\.64 3\.attn\.act_in\.64">/,
    );
    assert.match(svg, />resid 64</);
    assert.match(svg, />layer 2: no nodes</);
    for (const id of ids) {
      assert.equal(svg.split(`data-node-id="${id}"`).length, 2, id);
    }
    assert.ok(
      svg.includes(
        `aria-label="circuit graph: ${ids.length} nodes, ${l.edges.length} edges, 5 residual threads"`,
      ),
    );
  });
});

Deno.test("placeRow: keeps the order and the spacing, as near the wanted places as it can", () => {
  assert.deepEqual(placeRow([10, 10, 10], [0, 100, 200], [1, 1, 1], 5), [0, 100, 200]);
  // Two items that want the same place share the difference.
  assert.deepEqual(placeRow([10, 10], [50, 50], [1, 1], 0), [45, 55]);
  // A heavier item moves less.
  const [a, b] = placeRow([10, 10], [50, 50], [3, 1], 0);
  assert.ok(Math.abs(a - 47.5) < 1e-9 && Math.abs(b - 57.5) < 1e-9);
  const xs = placeRow([6, 20, 6, 30], [40, 10, 30, 0], [1, 2, 1, 1], 8);
  for (let i = 1; i < xs.length; i++) assert.ok(xs[i] >= xs[i - 1] + [6, 20, 6][i - 1] + 8 - 1e-9);
});

Deno.test("axis labels: short at every magnitude (no '0,000' for 330,016)", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [330016, "330k"],
    [198944, "199k"],
    [15000, "15k"],
    [1234567, "1.23M"],
    [2.5e9, "2.5G"],
    [2400, "2400"],
    [2.037, "2.04"],
    [0.04, "0.04"],
    [1e-4, "1e-4"],
    [2.5e-4, "2.5e-4"],
    [-0.5, "-0.5"],
  ];
  for (const [v, want] of cases) assert.equal(axisNumber(v), want, String(v));
});

Deno.test("log ticks: round values inside the range, never closer than the gap", () => {
  for (
    const [min, max, px] of [
      [1e-6, 2, 150],
      [0.1, 0.8, 170],
      [0.12, 0.18, 170],
      [0.03, 5, 60],
      [1e-3, 1e3, 400],
    ]
  ) {
    const ts = logTicks(min, max, px, 24);
    assert.ok(ts.length >= 1, `${min}..${max}: no ticks`);
    const per = px / (Math.log10(max) - Math.log10(min));
    for (let i = 0; i < ts.length; i++) {
      assert.ok(ts[i] >= min * (1 - 1e-9) && ts[i] <= max * (1 + 1e-9), `${ts[i]} outside`);
      if (i > 0) {
        const gap = (Math.log10(ts[i]) - Math.log10(ts[i - 1])) * per;
        assert.ok(gap >= 24 - 1e-9, `${min}..${max} at ${px}px: ${ts} crowd (${gap.toFixed(1)}px)`);
      }
      assert.equal(Number(ts[i].toPrecision(3)), ts[i], `${ts[i]} is not a round value`);
    }
  }
  assert.deepEqual(logTicks(0.1, 0.8, 170, 24), [0.1, 0.2, 0.3, 0.5, 0.7]);
});
