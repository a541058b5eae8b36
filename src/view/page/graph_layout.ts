/**
 * Where everything of the circuit graph goes, in graph coordinates (px), without a DOM: the page
 * draws it live (graph.ts), and `deno task view` and `export --format html` draw the same layout
 * into the page's first HTML (graph_svg.ts, src/view/preview.ts), so a screenshot or a print
 * taken before the model has started still shows the circuit.
 *
 * The figure follows the paper's: one band per transformer layer (every layer of the model; an
 * empty one as a thin band that says so), its rows in block order, and the residual stream as
 * threads: a residual channel c written in one place (attn/mlp.resid_delta.c) and read or written
 * again later (attn/mlp.act_in.c, resid_delta.c) is one residual dimension, drawn as one path
 * through every node of channel c from its first write on, with room of its own in every row it
 * crosses. A head's q/k/v channels are one box with its name in a column of its own at the left,
 * where no edge arrives; node names are written inside the nodes.
 *
 * How: elkjs (the Eclipse Layout Kernel's layered algorithm, rows as its partitions) orders the
 * nodes of each row to keep edges from crossing. The places are ours: each row's items (nodes,
 * heads, threads passing through) are pulled toward what they link to, a thread's pieces pulled
 * hard toward each other so it runs straight, in sweeps down and up the rows, each row solved
 * exactly for its order and spacing (placeRow). elk's own placement with the threads as long
 * edges took 40 s on a 500-node circuit; this takes about 3 s there, most of it elk's ordering.
 */
import * as elkModule from "elkjs/lib/elk.bundled.js";
import type { ELK, ElkExtendedEdge, ElkNode } from "elkjs/lib/elk.bundled.js";
import { type NodeLocation, parseNodeId } from "../../model/nodes.ts";

export interface GraphNode {
  id: string;
  /** Loss change when ablated alone (null for nodes outside the circuit file). */
  delta: number | null;
  inCircuit: boolean;
  kept: boolean;
  pinned: boolean;
}

export interface GraphEdge {
  source: string;
  target: string;
  weight: number;
}

export interface GraphInput {
  nodes: GraphNode[];
  edges: GraphEdge[];
  /** Channels per head (the model's d_head). */
  dHead: number;
  /** The model's layers: every one gets a band, an empty one a thin band that says so. */
  nLayer: number;
  selected: string | null;
}

/** A point, px. */
export interface Pt {
  x: number;
  y: number;
}

/** An axis-aligned box, px (x, y: top left). */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** A piece of text with the box it takes (estimated from its length and size). */
export interface TextBox extends Box {
  text: string;
  /** Font size, px. */
  size: number;
  bold: boolean;
  /** Where the text starts and its baseline (SVG `x`, `y` with text-anchor start). */
  at: Pt;
}

export interface BandLayout {
  layer: number;
  y: number;
  h: number;
  /** No node of the drawn set in this layer. */
  empty: boolean;
  label: TextBox;
}

export interface HeadLayout {
  /** `{layer}.head.{h}`. */
  key: string;
  layer: number;
  head: number;
  box: Box;
  label: TextBox;
}

export interface EdgeLayout extends GraphEdge {
  /** Cubic Bézier from the source's circle to the target's: start, two controls, end. */
  curve: [Pt, Pt, Pt, Pt];
}

/** One residual channel drawn through the layers. */
export interface ThreadLayout {
  channel: number;
  /** Its nodes in block order, the first a write (resid_delta). */
  nodes: string[];
  /** One polyline per consecutive pair of nodes, from centre to centre. */
  legs: Pt[][];
  label: TextBox;
}

export interface GraphLayout {
  width: number;
  height: number;
  /** Node centres. */
  pos: Map<string, Pt>;
  bands: BandLayout[];
  rowLabels: TextBox[];
  heads: HeadLayout[];
  edges: EdgeLayout[];
  threads: ThreadLayout[];
}

/** Radius of a node's circle; its name is written inside. */
export const R = 10;
/** A node's layout box (square). */
const NODE = 26;
/** A q/k/v channel's slot in its head's box. */
const SLOT = 28;
/** The head name's column at the left of a head's box, and the box's padding. */
const HEAD_NAME_W = 48;
const HEAD_PAD = 4;
/** Left gutter: "layer N", then the row names, then the graph. */
const LAYER_X = 6;
const ROW_X = 76;
export const LEFT = 192;
/** Edges per box and direction that order it (layoutEdges). */
const LAYOUT_EDGES = 3;
/** Margin around the graph; gaps between rows (more where many edges cross) and layers. */
const PAD = 14;
const ROW_GAP = 30;
const ROW_GAP_MAX = 80;
const LAYER_GAP = 40;
/** Height of an empty layer's band content. */
const EMPTY_H = 14;

/** The row of a location in its layer's band (q, k and v share one: their heads). */
const ROWS: Record<NodeLocation, number> = {
  "attn.act_in": 0,
  "attn.q": 1,
  "attn.k": 1,
  "attn.v": 1,
  "attn.resid_delta": 2,
  "mlp.act_in": 3,
  "mlp.post_act": 4,
  "mlp.resid_delta": 5,
};
const ROW_NAMES = [
  "attn.act_in",
  "q, k, v by head",
  "attn.resid_delta",
  "mlp.act_in",
  "mlp.post_act",
  "mlp.resid_delta",
];
const RESIDUAL = new Set<NodeLocation>([
  "attn.act_in",
  "attn.resid_delta",
  "mlp.act_in",
  "mlp.resid_delta",
]);
const isWrite = (loc: NodeLocation) => loc === "attn.resid_delta" || loc === "mlp.resid_delta";
const isQkv = (loc: NodeLocation) => loc === "attn.q" || loc === "attn.k" || loc === "attn.v";

/**
 * A text's box from its length: 0.62 em a character (0.68 bold), a little wider than the sans
 * fonts the page names, so boxes that do not overlap here do not overlap on screen.
 */
export function textBox(text: string, x: number, baseline: number, size: number, bold = false) {
  const w = text.length * size * (bold ? 0.68 : 0.62);
  return {
    text,
    size,
    bold,
    at: { x, y: baseline },
    x,
    y: baseline - size * 0.8,
    w,
    h: size,
  } satisfies TextBox;
}

export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** The name written inside a node: its channel, or q/k/v and the channel within its head. */
export function nodeName(id: string, dHead: number): string {
  const r = parseNodeId(id)!;
  return isQkv(r.location) ? `${r.location.slice(5)}${r.index % dHead}` : String(r.index);
}

/**
 * The residual threads of a node set: per channel c, its residual nodes (act_in, resid_delta)
 * in block order from the first write on, when that gives two or more. A read before any write
 * of the channel reads the embedding, which the circuit does not draw.
 */
export function residualThreads(ids: readonly string[]): { channel: number; nodes: string[] }[] {
  const byChannel = new Map<number, { id: string; order: number; write: boolean }[]>();
  for (const id of ids) {
    const r = parseNodeId(id);
    if (!r || !RESIDUAL.has(r.location)) continue;
    const list = byChannel.get(r.index) ?? [];
    list.push({ id, order: r.layer * 6 + ROWS[r.location], write: isWrite(r.location) });
    byChannel.set(r.index, list);
  }
  const out: { channel: number; nodes: string[] }[] = [];
  for (const [channel, list] of [...byChannel].sort((a, b) => a[0] - b[0])) {
    list.sort((a, b) => a.order - b.order);
    const first = list.findIndex((n) => n.write);
    if (first < 0 || list.length - first < 2) continue;
    out.push({ channel, nodes: list.slice(first).map((n) => n.id) });
  }
  return out;
}

/**
 * The edges elk orders rows by, between layout boxes: each box's strongest few incoming and
 * outgoing ones (by |weight|). The placement pulls on every edge; elk's crossing minimisation
 * grows fast with the edges it is given, and a box's strongest edges decide its order anyway.
 */
function layoutEdges(g: GraphInput, groups: Map<string, string[]>): [string, string][] {
  const best = new Map<string, number>();
  for (const e of g.edges) {
    const a = groupOf(e.source, g.dHead), b = groupOf(e.target, g.dHead);
    if (!groups.has(a) || !groups.has(b) || a === b) continue;
    const k = `${a}\n${b}`;
    best.set(k, Math.max(best.get(k) ?? 0, Math.abs(e.weight)));
  }
  const sorted = [...best].sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
  const outs = new Map<string, number>(), ins = new Map<string, number>();
  const out: [string, string][] = [];
  for (const [k] of sorted) {
    const [a, b] = k.split("\n");
    const o = outs.get(a) ?? 0, i = ins.get(b) ?? 0;
    if (o >= LAYOUT_EDGES && i >= LAYOUT_EDGES) continue;
    outs.set(a, o + 1);
    ins.set(b, i + 1);
    out.push([a, b]);
  }
  return out;
}

/** The layout box a node belongs to: a head for q/k/v channels, else the node itself. */
function groupOf(id: string, dHead: number): string {
  const r = parseNodeId(id)!;
  return isQkv(r.location) ? `${r.layer}.head.${Math.floor(r.index / dHead)}` : id;
}

// elk.bundled.js is CommonJS: the constructor is the module (bundled) or its default (Deno).
const ElkConstructor = ((elkModule as unknown as { default?: unknown }).default ?? elkModule) as {
  new (): ELK;
};
let elk: ELK | null = null;
/** Layouts by node set and edges: toggling a node restyles the graph without a new layout. */
const cache = new Map<string, Promise<GraphLayout>>();

/** Lays the graph out (cached by node set, edges and shape). */
export function layoutGraph(g: GraphInput): Promise<GraphLayout> {
  const key = JSON.stringify([
    g.dHead,
    g.nLayer,
    g.nodes.map((n) => n.id),
    g.edges.map((e) => [e.source, e.target, e.weight]),
  ]);
  let p = cache.get(key);
  if (!p) {
    p = computeLayout(g);
    cache.set(key, p);
    // A failed layout is not kept: the next call tries again.
    p.catch(() => cache.delete(key));
  }
  return p;
}

/** An item of one rank (row) of the layout: a node, a head's box, or a thread passing by. */
interface Item {
  id: string;
  rank: number;
  w: number;
  h: number;
  /** Left edge (px), set by placement. */
  x: number;
  /** elk's position: the order within the rank. */
  order: number;
}

/** A pull between two items of adjacent ranks: `a`'s point at offset `da` toward `b`'s at `db`. */
interface Link {
  a: Item;
  da: number;
  b: Item;
  db: number;
  weight: number;
}

/**
 * Lefts of a rank's items, in their order, at least their widths plus `gap` apart, as close as
 * they can be to `want` (least squares with `weight`): isotonic regression (pool adjacent
 * violators) on the lefts less the least room the items before each take.
 */
export function placeRow(w: number[], want: number[], weight: number[], gap: number): number[] {
  const n = w.length, room: number[] = [];
  let c = 0;
  for (let i = 0; i < n; i++) {
    room.push(c);
    c += w[i] + gap;
  }
  // Blocks of pooled items: weighted mean of (want − room), total weight, item count.
  const mean: number[] = [], tw: number[] = [], cnt: number[] = [];
  for (let i = 0; i < n; i++) {
    let m = want[i] - room[i], ww = Math.max(weight[i], 1e-9), k = 1;
    while (mean.length && mean[mean.length - 1] > m) {
      const pm = mean.pop()!, pw = tw.pop()!, pk = cnt.pop()!;
      m = (pm * pw + m * ww) / (pw + ww);
      ww += pw;
      k += pk;
    }
    mean.push(m);
    tw.push(ww);
    cnt.push(k);
  }
  const out: number[] = [];
  for (let b = 0; b < mean.length; b++) {
    for (let j = 0; j < cnt[b]; j++) out.push(mean[b] + room[out.length]);
  }
  return out;
}

/** Rounds of placement sweeps (down, then up). */
const SWEEPS = 24;
/** Pull of a thread's pieces toward each other, against 1 for a circuit edge's. */
const THREAD_PULL = 6;
/** A thread passing through a row: the room it takes. */
const PASS_W = 6;
/** Room between items of a row. */
const GAP = 8;
/** Items (nodes, heads, passing threads) above which elk orders rows in one pass. */
const BIG = 800;

async function computeLayout(g: GraphInput): Promise<GraphLayout> {
  elk ??= new ElkConstructor();
  const groups = new Map<string, string[]>();
  for (const n of g.nodes) {
    const k = groupOf(n.id, g.dHead), list = groups.get(k);
    if (list) list.push(n.id);
    else groups.set(k, [n.id]);
  }
  const qkvOrder: Record<string, number> = { "attn.q": 0, "attn.k": 1, "attn.v": 2 };
  for (const members of groups.values()) {
    members.sort((a, b) => {
      const x = parseNodeId(a)!, y = parseNodeId(b)!;
      return (qkvOrder[x.location] ?? 0) - (qkvOrder[y.location] ?? 0) || x.index - y.index;
    });
  }
  const isHead = (k: string) => k.includes(".head.");
  const partitionOf = (k: string) => {
    const r = parseNodeId(groups.get(k)![0])!;
    return r.layer * 6 + ROWS[r.location];
  };
  const layers = [...groups.keys()].map((k) => Math.floor(partitionOf(k) / 6));
  const nLayer = Math.max(g.nLayer, ...layers.map((l) => l + 1));
  const used = new Set(layers);
  const empty = Array.from({ length: nLayer }, (_, l) => l).filter((l) => !used.has(l));

  // Ranks: the rows that hold something, in block order; an empty layer holds a placeholder.
  const partitions = [
    ...new Set([...groups.keys()].map(partitionOf).concat(empty.map((l) => l * 6 + 2))),
  ].sort((a, b) => a - b);
  const rankOf = new Map(partitions.map((p, i) => [p, i]));
  const items = new Map<string, Item>();
  const add = (id: string, p: number, w: number, h: number) => {
    const it = { id, rank: rankOf.get(p)!, w, h, x: 0, order: 0 };
    items.set(id, it);
    return it;
  };
  for (const [k, members] of groups) {
    const head = isHead(k);
    add(
      k,
      partitionOf(k),
      head ? HEAD_NAME_W + members.length * SLOT + HEAD_PAD : NODE,
      head ? NODE + 2 * HEAD_PAD : NODE,
    );
  }
  for (const l of empty) add(`empty:${l}`, l * 6 + 2, 1, EMPTY_H);

  /** Where on its item a node's connections attach (offset from the item's left). */
  const attach = new Map<string, number>();
  for (const [k, members] of groups) {
    if (isHead(k)) members.forEach((id, i) => attach.set(id, HEAD_NAME_W + SLOT * i + SLOT / 2));
    else attach.set(members[0], NODE / 2);
  }
  const itemOf = (id: string) => items.get(groupOf(id, g.dHead))!;

  // Threads: a chain of items from each node of the channel to the next, one in every rank
  // between them, so the thread has its own room in every row it crosses.
  const threads = residualThreads(g.nodes.map((n) => n.id));
  const links: Link[] = [];
  const chains = new Map<string, Item[]>();
  for (const t of threads) {
    for (let i = 1; i < t.nodes.length; i++) {
      const a = itemOf(t.nodes[i - 1]), b = itemOf(t.nodes[i]);
      const chain = [a];
      for (let r = a.rank + 1; r < b.rank; r++) {
        chain.push(add(`pass:${t.channel}:${i}:${r}`, partitions[r], PASS_W, 0));
      }
      chain.push(b);
      chains.set(`${t.channel}:${i}`, chain);
      for (let j = 1; j < chain.length; j++) {
        const [p, q] = [chain[j - 1], chain[j]];
        links.push({
          a: p,
          da: j === 1 ? attach.get(t.nodes[i - 1])! : PASS_W / 2,
          b: q,
          db: j === chain.length - 1 ? attach.get(t.nodes[i])! : PASS_W / 2,
          weight: THREAD_PULL,
        });
      }
    }
  }
  for (const e of g.edges) {
    const a = itemOf(e.source), b = itemOf(e.target);
    if (!a || !b || a === b) continue;
    links.push({ a, da: attach.get(e.source)!, b, db: attach.get(e.target)!, weight: 1 });
  }

  // elk orders each row (crossing minimisation) on the items and their strongest links.
  const elkEdges: ElkExtendedEdge[] = [];
  for (const [a, b] of layoutEdges(g, groups)) {
    elkEdges.push({ id: `${a}->${b}`, sources: [a], targets: [b] });
  }
  // A thread between adjacent rows is an edge like the others; longer ones are left to the
  // placement below (elk would give each a node in every row it crosses, and time grows fast).
  for (const [key, chain] of chains) {
    if (chain.length === 2) {
      elkEdges.push({ id: `t${key}`, sources: [chain[0].id], targets: [chain[1].id] });
    }
  }
  const root = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "DOWN",
      "elk.partitioning.activate": "true",
      // One graph, not a pack of its connected components: the rows must span every node.
      "elk.separateConnectedComponents": "false",
      "elk.layered.crossingMinimization.strategy": "LAYER_SWEEP",
      // Only the order is used: the cheapest layering, placement and routing will do (the
      // rows are ours; network-simplex layering took most of the time on large circuits).
      "elk.layered.layering.strategy": "LONGEST_PATH",
      "elk.layered.nodePlacement.strategy": "SIMPLE",
      "elk.edgeRouting": "POLYLINE",
      // A large circuit gets one ordering pass instead of several and no greedy switching
      // (quadratic in a row's nodes): 1855 nodes in 5 s instead of 85.
      ...(items.size > BIG
        ? {
          "elk.layered.thoroughness": "1",
          "elk.layered.crossingMinimization.greedySwitch.type": "OFF",
        }
        : {}),
    },
    children: [...items.values()].filter((it) => !it.id.startsWith("pass:")).map((it) => ({
      id: it.id,
      width: Math.max(it.w, 1),
      height: Math.max(it.h, 1),
      layoutOptions: { "elk.partitioning.partition": String(partitions[it.rank]) },
    })),
    edges: elkEdges,
  } as ElkNode);
  for (const c of root.children ?? []) items.get(c.id)!.order = c.x ?? 0;
  // A passing thread starts where its write is.
  for (const chain of chains.values()) {
    for (const it of chain.slice(1, -1)) it.order = chain[0].order + 0.5;
  }

  // Placement: rows in elk's order, each item pulled toward what it links to.
  const rows: Item[][] = partitions.map(() => []);
  for (const it of items.values()) rows[it.rank].push(it);
  for (const row of rows) {
    row.sort((a, b) => a.order - b.order);
    let x = 0;
    for (const it of row) {
      it.x = x;
      x += it.w + GAP;
    }
    for (const it of row) it.x -= x / 2;
  }
  const linksOf = new Map<Item, { other: Item; mine: number; theirs: number; weight: number }[]>();
  for (const l of links) {
    for (
      const [me, mine, other, theirs] of [[l.a, l.da, l.b, l.db], [l.b, l.db, l.a, l.da]] as const
    ) {
      let list = linksOf.get(me);
      if (!list) linksOf.set(me, list = []);
      list.push({ other, mine, theirs, weight: l.weight });
    }
  }
  const placeRank = (r: number, from: (r: number) => boolean, reorder: boolean) => {
    const row = rows[r];
    const want: number[] = [], weight: number[] = [];
    for (const it of row) {
      let sum = 0, tw = 0;
      for (const l of linksOf.get(it) ?? []) {
        if (!from(l.other.rank)) continue;
        sum += l.weight * (l.other.x + l.theirs - l.mine);
        tw += l.weight;
      }
      // An item with nothing to follow keeps its place, lightly.
      want.push(tw > 0 ? sum / tw : it.x);
      weight.push(tw > 0 ? tw : 0.01);
    }
    if (reorder) {
      // Barycentric reordering: each item where its links pull it (stable for ties).
      const idx = row.map((_, i) => i).sort((a, b) => want[a] - want[b] || a - b);
      rows[r] = idx.map((i) => row[i]);
      const w2 = idx.map((i) => want[i]), g2 = idx.map((i) => weight[i]);
      want.splice(0, want.length, ...w2);
      weight.splice(0, weight.length, ...g2);
    }
    const xs = placeRow(rows[r].map((it) => it.w), want, weight, GAP);
    rows[r].forEach((it, i) => it.x = xs[i]);
  };
  for (let s = 0; s < SWEEPS; s++) {
    // Down from the rows above, up from the rows below, then both ways at once; the order
    // settles in the first half, the places in the second.
    const reorder = s < SWEEPS / 2;
    for (let r = 1; r < rows.length; r++) placeRank(r, (o) => o < r, reorder);
    for (let r = rows.length - 2; r >= 0; r--) placeRank(r, (o) => o > r, reorder);
    for (let r = 0; r < rows.length; r++) placeRank(r, (o) => o !== r, false);
  }
  const minX = Math.min(...[...items.values()].map((it) => it.x));

  // Vertical: rows stacked, each as tall as its tallest item; the gap below a row grows with
  // the edges that cross it, so dense wiring has room; layers further apart than rows.
  const crossing = new Array(rows.length).fill(0);
  for (const l of links) if (l.weight === 1) crossing[Math.min(l.a.rank, l.b.rank)]++;
  const rowTop: number[] = [], rowH = rows.map((row) => Math.max(...row.map((it) => it.h), 1));
  let y = PAD;
  for (let r = 0; r < rows.length; r++) {
    if (r > 0) {
      const newLayer = Math.floor(partitions[r] / 6) !== Math.floor(partitions[r - 1] / 6);
      y += newLayer ? LAYER_GAP : ROW_GAP + Math.min(ROW_GAP_MAX, 6 * Math.sqrt(crossing[r - 1]));
    }
    rowTop.push(y);
    y += rowH[r];
  }
  const height = Math.max(y + PAD, 80);
  const boxOf = (it: Item): Box => ({
    x: LEFT + PAD + it.x - minX,
    y: rowTop[it.rank] + (rowH[it.rank] - it.h) / 2,
    w: it.w,
    h: it.h,
  });

  const pos = new Map<string, Pt>();
  const heads: HeadLayout[] = [];
  const boxes: Box[] = [];
  for (const [k, members] of groups) {
    const box = boxOf(items.get(k)!), mid = box.y + box.h / 2;
    boxes.push(box);
    for (const id of members) pos.set(id, { x: box.x + attach.get(id)!, y: mid });
    if (isHead(k)) {
      const [l, , head] = k.split(".").map(Number);
      heads.push({
        key: k,
        layer: l,
        head,
        box,
        label: textBox(`head ${head}`, box.x + 6, mid + 3.5, 10, true),
      });
    }
  }
  let width = Math.max(420, ...[...items.values()].map((it) => boxOf(it).x + it.w + PAD));

  // Bands: each layer from the middle of the gap above its first row to the middle of the gap
  // below its last, the first and the last out to the edges.
  const span = (l: number) => {
    const rs = partitions.map((p, r) => [p, r]).filter(([p]) => Math.floor(p / 6) === l);
    return {
      top: rowTop[rs[0][1]],
      bottom: rowTop[rs[rs.length - 1][1]] + rowH[rs[rs.length - 1][1]],
      rows: rs,
    };
  };
  const bands: BandLayout[] = [];
  const rowLabels: TextBox[] = [];
  for (let l = 0; l < nLayer; l++) {
    const s = span(l);
    const top = l > 0 ? (span(l - 1).bottom + s.top) / 2 : 0;
    const bottom = l < nLayer - 1 ? (s.bottom + span(l + 1).top) / 2 : height;
    const isEmpty = empty.includes(l);
    const mid = (r: number) => rowTop[r] + rowH[r] / 2;
    bands.push({
      layer: l,
      y: top,
      h: bottom - top,
      empty: isEmpty,
      label: textBox(
        isEmpty ? `layer ${l}: no nodes` : `layer ${l}`,
        LAYER_X,
        mid(s.rows[0][1]) + 4,
        12,
        true,
      ),
    });
    if (isEmpty) continue;
    for (const [p, r] of s.rows) rowLabels.push(textBox(ROW_NAMES[p % 6], ROW_X, mid(r) + 4, 11));
  }

  const edges: EdgeLayout[] = [];
  for (const e of g.edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b) continue;
    const y1 = a.y + R, y2 = b.y - R, my = (y1 + y2) / 2;
    edges.push({
      ...e,
      curve: [{ x: a.x, y: y1 }, { x: a.x, y: my }, { x: b.x, y: my }, { x: b.x, y: y2 }],
    });
  }

  const threadLayouts: ThreadLayout[] = threads.map((t) => {
    const legs: Pt[][] = [];
    for (let i = 1; i < t.nodes.length; i++) {
      const chain = chains.get(`${t.channel}:${i}`)!;
      legs.push([
        pos.get(t.nodes[i - 1])!,
        // Straight down through each row it crosses, in the room kept for it there.
        ...chain.slice(1, -1).flatMap((it) => {
          const x = boxOf(it).x + PASS_W / 2;
          return [{ x, y: rowTop[it.rank] }, { x, y: rowTop[it.rank] + rowH[it.rank] }];
        }),
        pos.get(t.nodes[i])!,
      ]);
    }
    return { channel: t.channel, nodes: t.nodes, legs, label: textBox("", 0, 0, 10) };
  });

  // Thread names go beside the longest straight run of their thread, where nothing else is:
  // no node, head, name, other thread or edge.
  const taken: Box[] = [
    ...boxes,
    ...heads.map((h) => h.label),
    ...bands.map((b) => b.label),
    ...rowLabels,
  ];
  // Points along every edge, by 16-px cell, so a name's box asks only the cells it covers.
  const CELL = 16, grid = new Map<string, Pt[]>();
  for (const e of edges) {
    for (const p of bezierPoints(e.curve, 16)) {
      const k = `${Math.floor(p.x / CELL)},${Math.floor(p.y / CELL)}`;
      const list = grid.get(k);
      if (list) list.push(p);
      else grid.set(k, [p]);
    }
  }
  const hitsEdge = (c: Box) => {
    for (let i = Math.floor(c.x / CELL); i <= Math.floor((c.x + c.w) / CELL); i++) {
      for (let j = Math.floor(c.y / CELL); j <= Math.floor((c.y + c.h) / CELL); j++) {
        for (const p of grid.get(`${i},${j}`) ?? []) {
          if (p.x >= c.x && p.x <= c.x + c.w && p.y >= c.y && p.y <= c.y + c.h) return true;
        }
      }
    }
    return false;
  };
  const segments = threadLayouts.flatMap((t) =>
    t.legs.flatMap((leg) => leg.slice(1).map((b, i) => ({ t, a: leg[i], b })))
  );
  const crossesSegment = (box: Box, own: ThreadLayout) =>
    segments.some(({ t, a, b }) => {
      if (t === own) return false;
      const lo = Math.max(box.y, Math.min(a.y, b.y)),
        hi = Math.min(box.y + box.h, Math.max(a.y, b.y));
      if (lo > hi) return false;
      const x = (y: number) => (b.y === a.y ? a.x : a.x + (b.x - a.x) * (y - a.y) / (b.y - a.y));
      const [x1, x2] = [x(lo), x(hi)].sort((p, q) => p - q);
      return x2 >= box.x - 2 && x1 <= box.x + box.w + 2;
    });
  for (const t of threadLayouts) {
    const text = `resid ${t.channel}`, w = textBox(text, 0, 0, 10).w;
    const runs = segments.filter((s) => s.t === t).sort((p, q) =>
      Math.hypot(q.b.x - q.a.x, q.b.y - q.a.y) - Math.hypot(p.b.x - p.a.x, p.b.y - p.a.y)
    );
    const candidates: TextBox[] = [];
    for (const { a, b } of runs.slice(0, 4)) {
      for (const f of [0.5, 0.3, 0.7, 0.15, 0.85]) {
        const x = a.x + (b.x - a.x) * f, y = a.y + (b.y - a.y) * f + 4;
        candidates.push(textBox(text, x + 6, y, 10), textBox(text, x - 6 - w, y, 10));
      }
    }
    const free = (c: TextBox) =>
      !taken.some((b) => overlaps(b, c)) && !crossesSegment(c, t) && !hitsEdge(c);
    t.label = candidates.find(free) ?? candidates.find((c) => !taken.some((b) => overlaps(b, c))) ??
      candidates[0];
    taken.push(t.label);
    width = Math.max(width, t.label.x + t.label.w + 8);
  }

  return { width, height, pos, bands, rowLabels, heads, edges, threads: threadLayouts };
}

/** Points along a cubic Bézier (for tests and hit checks). */
export function bezierPoints(c: [Pt, Pt, Pt, Pt], n = 24): Pt[] {
  const out: Pt[] = [];
  for (let i = 0; i <= n; i++) {
    const t = i / n, u = 1 - t;
    const k = [u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t];
    out.push({
      x: k[0] * c[0].x + k[1] * c[1].x + k[2] * c[2].x + k[3] * c[3].x,
      y: k[0] * c[0].y + k[1] * c[1].y + k[2] * c[2].y + k[3] * c[3].y,
    });
  }
  return out;
}
