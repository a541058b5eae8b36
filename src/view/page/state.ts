/**
 * The page's state, all of it in the URL's fragment so a view can be shared: the task, the
 * slider's k, ablated, added and pinned nodes, the selected node, the open tab and the prompt.
 * Example: `#task=single_double_quote&k=12&ablate=0.attn.k.3&pin=1.mlp.post_act.7&tab=node`.
 */
import { parseNodeId } from "../../model/nodes.ts";

export interface ViewState {
  task: string | null;
  /** Nodes kept by rank (the curve's k); null = the circuit's own node set. */
  k: number | null;
  /** Circuit (or top-k) nodes switched off. */
  ablated: Set<string>;
  /** Nodes outside that set switched on ("added back"). */
  added: Set<string>;
  pinned: Set<string>;
  selected: string | null;
  tab: string;
  prompt: string;
}

export const TABS = ["intervene", "node", "prompt", "training", "eval"] as const;

export function emptyState(): ViewState {
  return {
    task: null,
    k: null,
    ablated: new Set(),
    added: new Set(),
    pinned: new Set(),
    selected: null,
    tab: "intervene",
    prompt: "",
  };
}

const isId = (x: string) => parseNodeId(x) !== null;

function ids(s: string | null): Set<string> {
  return new Set((s ?? "").split(",").filter(isId));
}

/** Reads a state from a URL fragment (unknown or malformed parts are ignored). */
export function parseState(hash: string): ViewState {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const st = emptyState();
  st.task = p.get("task");
  const k = Number(p.get("k"));
  st.k = p.has("k") && Number.isInteger(k) && k >= 0 ? k : null;
  st.ablated = ids(p.get("ablate"));
  st.added = ids(p.get("add"));
  st.pinned = ids(p.get("pin"));
  const sel = p.get("node");
  st.selected = sel && isId(sel) ? sel : null;
  const tab = p.get("tab");
  st.tab = tab && (TABS as readonly string[]).includes(tab) ? tab : "intervene";
  st.prompt = p.get("prompt") ?? "";
  return st;
}

/** The fragment for a state (empty parts left out). */
export function formatState(st: ViewState): string {
  const p = new URLSearchParams();
  if (st.task) p.set("task", st.task);
  if (st.k !== null) p.set("k", String(st.k));
  if (st.ablated.size) p.set("ablate", [...st.ablated].join(","));
  if (st.added.size) p.set("add", [...st.added].join(","));
  if (st.pinned.size) p.set("pin", [...st.pinned].join(","));
  if (st.selected) p.set("node", st.selected);
  if (st.tab !== "intervene") p.set("tab", st.tab);
  if (st.prompt) p.set("prompt", st.prompt);
  return "#" + p.toString().replace(/%2C/g, ",");
}
