/// <reference lib="dom" />
/**
 * The viewer page: loads the run's files, starts the model worker, and shows the circuit of the
 * chosen task as a graph with live intervention, the selected node's details, a prompt box, the
 * run's training curves and its eval table. Every piece of state is in the URL (state.ts).
 */
import { TASKS } from "../../../tasks/index.ts";
import { locationSpec, parseNodeId } from "../../model/nodes.ts";
import { type Circuit, parseCircuitText } from "../../run/circuit.ts";
import { circuitFile, type MetricsRow, parseMetrics, RUN_FILES } from "../../run/format.ts";
import type { CircuitEval, CircuitTaskInfo, FullEval } from "../engine.ts";
import { curveChart, metricsChart } from "./charts.ts";
import { drawGraph, type GraphEdge, restyleGraph } from "./graph.ts";
import { absMax, fmt, h, matrixHeat, showToken, tokenHeat } from "./heat.ts";
import type { InitInfo } from "./protocol.ts";
import { ModelClient, WorkerError } from "./rpc.ts";
import { pageSource, type Source } from "./source.ts";
import { formatState, parseState, TABS, type ViewState } from "./state.ts";

/** Printed precision of losses (the tests compare the page with the CLI at this precision). */
const LOSS_DIGITS = 4;

interface Loaded {
  src: Source;
  client: ModelClient;
  info: InitInfo;
  metrics: MetricsRow[];
  circuits: string[];
}

interface TaskView {
  circuit: Circuit;
  info: CircuitTaskInfo;
  full: FullEval;
  /** Edges among drawn nodes that are not all in the file (from the weights), by node set. */
  extraEdges: Map<string, GraphEdge[]>;
}

let L: Loaded;
let st: ViewState = parseState(location.hash);
let tv: TaskView | null = null;
let lastEval: CircuitEval | null = null;
let evalBusy = false;
let evalDirty = false;
/** Generation of the newest evaluation asked for; older ones are dropped (or stopped). */
let evalGen = 0;
/** Shared with the model worker where the page is isolated: the worker stops older evaluations. */
let cancelFlag: Int32Array | null = null;
let toggleStart = 0;
/**
 * Toggle-to-screen times (ms) of the live evaluation, for the latency readout and tests: the
 * estimate on the first pairs (0 when the task has no more pairs than that) and the exact number,
 * with the worker's share and the fraction of blocks rerun.
 */
const timings: {
  estimate: number;
  exact: number;
  workerEstimate: number;
  workerExact: number;
  blocksRun: number;
  kept: number;
}[] = [];
(globalThis as unknown as { __thinwire: unknown }).__thinwire = { timings, state: () => st };

const $ = (id: string) => document.getElementById(id)!;

// ---------------------------------------------------------------------------------------------
// Boot

function setBoot(text: string): void {
  const el = document.getElementById("boot-status");
  if (el) el.textContent = text;
}

/** Replaces the page with an error that cannot be missed (never a blank page). */
function fatal(message: string): void {
  const app = $("app");
  app.replaceChildren(
    h(
      "div",
      { class: "fatal", role: "alert" },
      h("h1", {}, "The viewer cannot open this run"),
      h("p", { class: "errline" }, message),
      h("p", {}, "The same message is printed by the command that serves or exported this page."),
    ),
  );
  document.title = "thinwire · error";
}

/** Shows a non-fatal error in the page's error area. */
function showError(message: string): void {
  const box = document.getElementById("errors");
  if (!box) return fatal(message);
  box.append(h("p", { class: "errline", role: "alert" }, message));
}

function errText(e: unknown): string {
  if (e instanceof WorkerError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

async function jsonFile(src: Source, name: string, required: boolean): Promise<unknown | null> {
  const b = await src.runFile(name);
  const where = `${src.cfg.run}/${name}`;
  if (!b) {
    if (required) throw new Error(`${where}: missing (not a finished run folder?)`);
    return null;
  }
  try {
    return JSON.parse(new TextDecoder().decode(b));
  } catch {
    throw new Error(`${where}: not valid JSON (truncated?)`);
  }
}

async function boot(): Promise<void> {
  const src = pageSource();
  setBoot("Loading the run's files…");
  const [config, tokenizer, model, means, metricsB, wasm] = await Promise.all([
    jsonFile(src, RUN_FILES.config, true),
    jsonFile(src, RUN_FILES.tokenizer, true),
    src.runFile(RUN_FILES.model),
    src.runFile(RUN_FILES.means),
    src.runFile(RUN_FILES.metrics),
    src.wasm(),
  ]);
  if (!model) {
    throw new Error(`${src.cfg.run}/${RUN_FILES.model}: missing (training not finished?)`);
  }
  const isolated = globalThis.crossOriginIsolated === true;
  const threads = isolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  setBoot(`Starting the model (${threads} thread${threads > 1 ? "s" : ""})…`);
  const worker = new Worker(src.workerUrl("model_worker.js"));
  const client = new ModelClient(worker);
  const cancel = isolated ? new SharedArrayBuffer(4) : null;
  cancelFlag = cancel ? new Int32Array(cancel) : null;
  const info = await client.init({
    files: { run: src.cfg.run, config, tokenizer, model, means },
    wasm,
    threads,
    shared: isolated,
    workerUrl: threads > 1 ? src.workerUrl("compute_worker.js") : null,
    cancel,
  });
  const metrics = metricsB ? parseMetrics(new TextDecoder().decode(metricsB)) : [];
  L = { src, client, info, metrics, circuits: src.cfg.circuits };
  if (!st.task) st.task = src.cfg.task ?? L.circuits[0] ?? null;
  layout();
  await openTask(st.task);
}

// ---------------------------------------------------------------------------------------------
// Layout

function layout(): void {
  const iso = globalThis.crossOriginIsolated === true;
  const taskSelect = h(
    "select",
    {
      id: "task",
      "aria-label": "task",
      onchange: (e: Event) => {
        st = { ...parseState(""), task: (e.target as HTMLSelectElement).value, tab: st.tab };
        openTask(st.task).catch((err) => showError(errText(err)));
      },
    },
    ...TASKS.map((t) =>
      h(
        "option",
        { value: t.name, selected: t.name === st.task },
        `${t.name}${L.circuits.includes(t.name) ? "" : " (no circuit)"}`,
      )
    ),
  );
  const tabs = h(
    "div",
    { class: "tabs", role: "tablist", "aria-label": "panels" },
    ...TABS.map((t) =>
      h("button", {
        role: "tab",
        id: `tab-${t}`,
        "aria-controls": `panel-${t}`,
        "aria-selected": t === st.tab ? "true" : "false",
        onclick: () => selectTab(t),
      }, TAB_NAMES[t])
    ),
  );
  const panels = TABS.map((t) =>
    h("section", {
      id: `panel-${t}`,
      role: "tabpanel",
      "aria-labelledby": `tab-${t}`,
      class: "panel",
      hidden: t !== st.tab,
    })
  );
  $("app").replaceChildren(
    h(
      "header",
      {},
      h("h1", {}, "thinwire"),
      h("span", { class: "run" }, `run ${L.src.cfg.run}`),
      h("label", {}, "task ", taskSelect),
      h(
        "span",
        { class: "threads", id: "threads" },
        `${L.info.threads} thread${L.info.threads > 1 ? "s" : ""} · ` +
          (iso ? "cross-origin isolated" : "not isolated: one thread, unshared memory"),
      ),
      h("span", { id: "latency", class: "latency", "aria-live": "polite" }),
    ),
    h("div", { id: "errors" }),
    h(
      "main",
      {},
      h("div", { class: "graph-col" }, h("div", { id: "graph-head" }), h("div", { id: "graph" })),
      h("aside", {}, tabs, ...panels),
    ),
  );
  renderTraining();
  renderEvalPanel();
  renderPromptPanel();
}

const TAB_NAMES: Record<string, string> = {
  intervene: "Intervene",
  node: "Node",
  prompt: "Prompt",
  training: "Training",
  eval: "Eval",
};

function selectTab(t: string): void {
  st.tab = t;
  for (const x of TABS) {
    $(`tab-${x}`).setAttribute("aria-selected", x === t ? "true" : "false");
    ($(`panel-${x}`) as HTMLElement).hidden = x !== t;
  }
  saveState();
}

function saveState(): void {
  history.replaceState(null, "", formatState(st));
}

// ---------------------------------------------------------------------------------------------
// The task's circuit

async function openTask(task: string | null): Promise<void> {
  tv = null;
  lastEval = null;
  $("graph").replaceChildren();
  $("graph-head").replaceChildren();
  $("panel-intervene").replaceChildren();
  $("panel-node").replaceChildren(h("p", { class: "hint" }, "Select a node in the graph."));
  if (!task) {
    $("graph").append(noCircuit(null));
    return;
  }
  saveState();
  const name = circuitFile(task);
  const bytes = L.circuits.includes(task) ? await L.src.runFile(name) : null;
  if (!bytes) {
    $("graph").append(noCircuit(task));
    return;
  }
  let circuit: Circuit;
  try {
    circuit = parseCircuitText(new TextDecoder().decode(bytes), `${L.src.cfg.run}/${name}`);
  } catch (e) {
    $("graph").append(h("div", { class: "fatal", role: "alert" }, h("p", {}, errText(e))));
    return;
  }
  try {
    const info = await L.client.call("setCircuit", circuit, 8);
    const full = await L.client.call("evaluateFull");
    tv = { circuit, info, full, extraEdges: new Map() };
  } catch (e) {
    $("graph").append(h("div", { class: "fatal", role: "alert" }, h("p", {}, errText(e))));
    return;
  }
  renderGraphHead();
  await renderGraph();
  renderIntervene();
  if (st.selected) await renderNode(st.selected);
  if (st.prompt) runPrompt().catch((e) => showError(errText(e)));
  await reevaluate();
}

function noCircuit(task: string | null): HTMLElement {
  const cmd = task
    ? `deno task prune --model ${L.src.cfg.run} --task ${task}`
    : `deno task prune --model ${L.src.cfg.run} --all`;
  return h(
    "div",
    { class: "notice", role: "status" },
    h(
      "p",
      {},
      task
        ? `${L.src.cfg.run}/${circuitFile(task)}: no circuit for ${task} yet.`
        : "This run has no circuits yet.",
    ),
    h("p", {}, "Make it with: ", h("code", {}, cmd)),
    h("p", {}, "The prompt box, training curves and eval table work without a circuit."),
  );
}

/** The node set the slider and the toggles give: ids kept, and ids drawn. */
function nodeSets(): { kept: string[]; drawn: string[]; base: Set<string> } {
  const c = tv!.circuit;
  const circuitIds = c.nodes.map((n) => n.id);
  const base = new Set(st.k === null ? circuitIds : c.ranking.slice(0, st.k));
  const kept = [...new Set([...base, ...st.added])].filter((id) => !st.ablated.has(id));
  const drawn = [...new Set([...circuitIds, ...base, ...st.added, ...st.pinned])];
  return { kept, drawn, base };
}

function renderGraphHead(): void {
  const c = tv!.circuit;
  const maxK = Math.max(c.ranking.length, c.nodes.length);
  const k = st.k ?? c.nodes.length;
  const slider = h("input", {
    type: "range",
    id: "k-slider",
    min: 0,
    max: maxK,
    step: 1,
    value: k,
    "aria-label": "nodes kept by rank (k)",
    oninput: (e: Event) => {
      const v = Number((e.target as HTMLInputElement).value);
      st.k = v === c.nodes.length && st.k === null ? null : v;
      $("k-value").textContent = kText(v);
      changed(true);
    },
  });
  const reset = h("button", {
    onclick: () => {
      st.k = null;
      st.ablated.clear();
      st.added.clear();
      renderGraphHead();
      changed(true);
    },
  }, "Reset to the circuit");
  const head = $("graph-head");
  head.replaceChildren(
    h(
      "h2",
      { id: "graph-title" },
      `${c.task}: ${c.nodes.length} nodes, ${c.edges.length} edges (${c.method} masks, ` +
        `${c.ablation} ablation, task loss ${fmt(c.losses.circuit_calibrated, LOSS_DIGITS)})`,
    ),
    h(
      "div",
      { class: "slider-row" },
      h("label", { for: "k-slider" }, "k "),
      slider,
      h("span", { id: "k-value" }, kText(k)),
      reset,
    ),
    c.curve.length > 0
      ? curveChart(c.curve, c.target, k, Math.min(760, head.clientWidth || 760))
      : h("p", { class: "hint" }, "The circuit file has no loss-vs-k curve."),
    h(
      "p",
      { class: "legend" },
      "Node colour: loss change when ablated alone (",
      h("span", { class: "sw pos" }, "needed"),
      " / ",
      h("span", { class: "sw neg" }, "harmful"),
      "). Edges: ",
      h("span", { class: "sw epos" }, "positive"),
      " / ",
      h("span", { class: "sw eneg" }, "negative"),
      " weight, width ∝ |weight|. ",
      h("span", { class: "sw thread" }, "resid c"),
      ": residual channel c, from the node that writes it to the later nodes that read or " +
        "write it. Keys on a focused node: Enter selects, x ablates or keeps, p pins.",
    ),
  );
}

function kText(k: number): string {
  const c = tv!.circuit;
  const pt = c.curve.find((p) => p.k === k);
  const file = pt ? ` · file: ${fmt(pt.loss_calibrated, LOSS_DIGITS)} (pruning pairs)` : "";
  return `${k} of ${c.ranking.length} ranked${k === c.nodes.length ? " (the circuit)" : ""}${file}`;
}

/** Edges among the drawn nodes: the file's, and from the weights for nodes it lacks. */
async function drawnEdges(drawn: string[]): Promise<GraphEdge[]> {
  const c = tv!.circuit;
  const inFile = new Set(c.nodes.map((n) => n.id));
  if (!drawn.some((id) => !inFile.has(id))) return c.edges;
  const key = [...drawn].sort().join(",");
  let extra = tv!.extraEdges.get(key);
  if (!extra) {
    const all = await L.client.call("edgesAmong", drawn);
    extra = all.filter((e) => !inFile.has(e.source) || !inFile.has(e.target));
    tv!.extraEdges.set(key, extra);
  }
  return [...c.edges, ...extra];
}

/** The drawn graph and its node set (a toggle within it only restyles). */
let drawnGraph: { svg: SVGSVGElement; key: string } | null = null;

async function renderGraph(): Promise<void> {
  const c = tv!.circuit;
  const { kept, drawn } = nodeSets();
  const keptSet = new Set(kept);
  const inFile = new Set(c.nodes.map((n) => n.id));
  const delta = new Map(c.nodes.map((n) => [n.id, n.delta]));
  const nodes = drawn.map((id) => ({
    id,
    delta: delta.get(id) ?? null,
    inCircuit: inFile.has(id),
    kept: keptSet.has(id),
    pinned: st.pinned.has(id),
  }));
  const drawnKey = `${c.task}\n${[...drawn].sort().join(",")}`;
  if (drawnGraph?.key === drawnKey && drawnGraph.svg.isConnected) {
    restyleGraph(drawnGraph.svg, nodes, st.selected);
    return;
  }
  const edges = await drawnEdges(drawn);
  const view = await drawGraph({
    nodes,
    edges,
    dHead: L.info.dims.D,
    nLayer: L.info.dims.L,
    selected: st.selected,
  });
  view.svg.addEventListener("click", (e) => {
    const g = (e.target as Element).closest("[data-node-id]");
    if (g) selectNode(g.getAttribute("data-node-id")!);
  });
  view.svg.addEventListener("keydown", (e) => {
    const g = (e.target as Element).closest("[data-node-id]");
    if (!g) return;
    const id = g.getAttribute("data-node-id")!;
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      selectNode(id);
    } else if (e.key === "x") toggleNode(id);
    else if (e.key === "p") togglePin(id);
  });
  const focused = document.activeElement?.getAttribute?.("data-node-id");
  $("graph").replaceChildren(view.svg);
  drawnGraph = { svg: view.svg, key: drawnKey };
  if (focused) {
    (document.querySelector(`#graph [data-node-id="${focused}"]`) as SVGElement | null)?.focus();
  }
}

/** Something about the node set changed: redraw and re-evaluate. */
function changed(timed: boolean): void {
  if (timed) toggleStart = performance.now();
  saveState();
  // The worker starts first; the page redraws while it computes.
  reevaluate().catch((e) => showError(errText(e)));
  renderGraph().catch((e) => showError(errText(e)));
  if (st.selected) renderNodeHeader(st.selected);
}

function toggleNode(id: string): void {
  const { base } = nodeSets();
  if (base.has(id) || st.added.has(id)) {
    if (st.ablated.has(id)) st.ablated.delete(id);
    else if (st.added.has(id)) st.added.delete(id);
    else st.ablated.add(id);
  } else {
    st.ablated.delete(id);
    st.added.add(id);
  }
  changed(true);
}

function togglePin(id: string): void {
  if (st.pinned.has(id)) st.pinned.delete(id);
  else st.pinned.add(id);
  changed(false);
  renderIntervene();
}

function selectNode(id: string): void {
  st.selected = id;
  saveState();
  renderGraph().catch((e) => showError(errText(e)));
  selectTab("node");
  renderNode(id).catch((e) => showError(errText(e)));
}

// ---------------------------------------------------------------------------------------------
// Live evaluation

/**
 * Re-evaluates the current node set: first the quick estimate on the first pairs (labelled as
 * such), then the exact number on every evaluation pair. A newer toggle overtakes both: where the
 * page is isolated the worker stops the older evaluation between batches; elsewhere the page
 * waits for it and then evaluates the newest state once.
 */
async function reevaluate(): Promise<void> {
  if (!tv) return;
  const gen = ++evalGen;
  if (cancelFlag) {
    Atomics.store(cancelFlag, 0, gen);
    await evaluateState(gen);
    return;
  }
  if (evalBusy) {
    evalDirty = true;
    return;
  }
  evalBusy = true;
  try {
    do {
      evalDirty = false;
      await evaluateState(evalGen);
    } while (evalDirty);
  } finally {
    evalBusy = false;
  }
}

async function evaluateState(gen: number): Promise<void> {
  const { kept } = nodeSets();
  const start = toggleStart;
  const info = tv!.info;
  const ask = async (estimate: boolean): Promise<CircuitEval | null> => {
    try {
      const r = await L.client.call("evaluate", kept, { estimate, generation: gen });
      return gen === evalGen ? r : null;
    } catch (e) {
      if (e instanceof WorkerError && e.cancelled) return null;
      throw e;
    }
  };
  const shown = async (r: CircuitEval) => {
    lastEval = r;
    renderLive();
    await new Promise((res) => requestAnimationFrame(() => res(null)));
    return performance.now() - start;
  };
  let est: CircuitEval | null = null, estMs = 0;
  if (info.estimatePairs < info.pairs) {
    est = await ask(true);
    if (!est) return;
    estMs = await shown(est);
    if (start > 0) {
      $("latency").textContent = `estimate ${estMs.toFixed(0)} ms · exact…`;
    }
  }
  const r = await ask(false);
  if (!r) return;
  const exactMs = await shown(r);
  if (start > 0 && toggleStart === start) {
    timings.push({
      estimate: est ? estMs : 0,
      exact: exactMs,
      workerEstimate: est?.ms ?? 0,
      workerExact: r.ms,
      blocksRun: r.blocksRun,
      kept: r.kept,
    });
    $("latency").textContent = (est ? `estimate ${estMs.toFixed(0)} ms · ` : "") +
      `exact ${exactMs.toFixed(0)} ms (model ${r.ms.toFixed(0)} ms, ` +
      `${(100 * r.blocksRun).toFixed(0)}% of blocks rerun)`;
    toggleStart = 0;
  }
}

function renderIntervene(): void {
  if (!tv) return;
  const c = tv.circuit;
  const panel = $("panel-intervene");
  const addInput = h("input", {
    id: "add-node",
    type: "text",
    placeholder: "e.g. 0.mlp.post_act.12",
    "aria-label": "node id to add",
    spellcheck: "false",
  });
  const addNode = () => {
    const id = addInput.value.trim();
    if (!parseNodeId(id)) {
      showError(`'${id}': not a node id "{layer}.{location}.{index}"`);
      return;
    }
    L.client.call("nodeMeanOf", id, c.ablation).then(() => {
      st.ablated.delete(id);
      if (!nodeSets().base.has(id)) st.added.add(id);
      addInput.value = "";
      changed(true);
      renderIntervene();
    }).catch((e) => showError(errText(e)));
  };
  panel.replaceChildren(
    h("h2", {}, `${c.task}`),
    h(
      "p",
      { class: "small" },
      `${c.nodes.length} nodes, ${c.edges.length} edges · ${c.method} masks · ${c.ablation} ablation · ` +
        `target ${c.target} · ${tv.info.pairs} evaluation pairs (seed ${c.pairs.eval_seed})`,
    ),
    h(
      "table",
      { class: "numbers" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, ""),
          h("th", {}, "task loss"),
          h("th", {}, "raw"),
          h("th", {}, "accuracy"),
        ),
      ),
      h(
        "tbody",
        {},
        h(
          "tr",
          {},
          h("th", {}, "full model"),
          h("td", {}, fmt(tv.full.loss, LOSS_DIGITS)),
          h("td", {}, "—"),
          h("td", { id: "full-acc" }, accText(tv.full.accuracy, tv.full.ties)),
        ),
        h(
          "tr",
          {},
          h("th", {}, "circuit (file)"),
          h("td", {}, fmt(c.losses.circuit_calibrated, LOSS_DIGITS)),
          h("td", {}, fmt(c.losses.circuit, LOSS_DIGITS)),
          h("td", {}, "—"),
        ),
        h(
          "tr",
          { class: "live", id: "live-row" },
          h("th", {}, "now ", h("span", { id: "live-kept" })),
          h("td", { id: "live-loss", "data-testid": "live-loss" }, "…"),
          h("td", { id: "live-raw" }, "…"),
          h("td", { id: "live-acc" }, "…"),
        ),
      ),
    ),
    h("p", { id: "live-note", class: "small", "aria-live": "polite" }),
    h(
      "p",
      { class: "small" },
      `Task loss: mean binary cross-entropy over the two candidates (nats), calibrated with the ` +
        `circuit's scale ${fmt(c.calibration.scale)} and shift ${fmt(c.calibration.shift)}; ` +
        `ablated nodes take their ${c.ablation === "mean" ? "pretraining mean" : "zero"}. ` +
        `Necessity (circuit ablated): ${fmt(c.losses.ablated, LOSS_DIGITS)}; random circuits: ` +
        (c.losses.random.draws > 0
          ? `${fmt(c.losses.random.mean, LOSS_DIGITS)} ± ${fmt(c.losses.random.sd, LOSS_DIGITS)}`
          : "not measured"),
    ),
    h("h3", {}, "Per example: P(correct)"),
    h("div", { id: "examples" }),
    h("h3", {}, "Changes"),
    h("div", { id: "changes" }),
    h(
      "div",
      { class: "row" },
      addInput,
      h("button", { onclick: addNode }, "Add node"),
    ),
    h("h3", {}, "Pinned"),
    h("div", { id: "pinned" }),
    h("h3", {}, "Download"),
    h(
      "div",
      { class: "row" },
      h(
        "button",
        { id: "download-kept", onclick: () => download("kept") },
        "Kept nodes as a circuit file",
      ),
      h("button", {
        id: "download-pinned",
        onclick: () => download("pinned"),
        disabled: st.pinned.size === 0,
      }, "Pinned nodes as a circuit file"),
    ),
    h("p", { id: "download-status", class: "small", "aria-live": "polite" }),
  );
  renderChanges();
  if (lastEval) renderLive();
}

/** An accuracy as printed: ties (P(correct) exactly 1/2) count half and are named. */
function accText(accuracy: number, ties: number): string {
  return `${(100 * accuracy).toFixed(1)}%` + (ties > 0 ? ` (${ties} ties at 50%, ½ each)` : "");
}

function chip(id: string, action: string, fn: () => void): HTMLElement {
  return h(
    "span",
    { class: "chip" },
    h("button", { class: "link", onclick: () => selectNode(id) }, id),
    h("button", { class: "small-btn", onclick: fn, "aria-label": `${action} ${id}` }, action),
  );
}

function renderChanges(): void {
  const box = document.getElementById("changes");
  if (!box) return;
  const abl = [...st.ablated], add = [...st.added];
  box.replaceChildren(
    abl.length || add.length
      ? h(
        "div",
        {},
        ...abl.map((id) =>
          chip(id, "keep", () => {
            st.ablated.delete(id);
            changed(true);
            renderChanges();
          })
        ),
        ...add.map((id) =>
          chip(id, "remove", () => {
            st.added.delete(id);
            changed(true);
            renderChanges();
          })
        ),
      )
      : h("p", { class: "hint" }, "No node toggled. Click a node, then Ablate; or add one by id."),
  );
  const pins = document.getElementById("pinned");
  if (pins) {
    pins.replaceChildren(
      st.pinned.size
        ? h("div", {}, ...[...st.pinned].map((id) => chip(id, "unpin", () => togglePin(id))))
        : h("p", { class: "hint" }, "No pinned nodes (Pin in a node's panel, or p on a node)."),
    );
  }
}

function renderLive(): void {
  if (!tv || !lastEval) return;
  const r = lastEval;
  const set = (id: string, text: string) => {
    const el = document.getElementById(id);
    if (el) el.textContent = text;
  };
  // An estimate is marked in the numbers themselves, not only in the note below them.
  const approx = r.exact ? "" : "≈ ";
  set("live-loss", approx + fmt(r.loss, LOSS_DIGITS));
  document.getElementById("live-loss")?.setAttribute("data-value", String(r.loss));
  document.getElementById("live-row")?.setAttribute("data-exact", r.exact ? "1" : "0");
  set("live-raw", approx + fmt(r.lossRaw, LOSS_DIGITS));
  set("live-acc", approx + accText(r.accuracy, r.ties));
  set("live-kept", `(${r.kept} kept)`);
  set(
    "live-note",
    r.exact
      ? `On all ${r.pairs} evaluation pairs, as deno task prune computes it.`
      : `Estimate on the first ${r.pairs} of ${tv.info.pairs} evaluation pairs; the exact ` +
        `number follows.`,
  );
  renderChanges();
  const ex = document.getElementById("examples");
  if (!ex) return;
  const rows = tv.info.examples.flatMap((p, k) =>
    [0, 1].map((m) => {
      const prompt = p.prompts[m];
      const tail = prompt.length > 24 ? "…" + prompt.slice(-24) : prompt;
      const pf = tv!.full.pCorrect[2 * k + m], pc = r.pCorrect[2 * k + m];
      return h(
        "tr",
        {},
        h("td", { class: "prompt" }, h("code", {}, showToken(tail))),
        h("td", {}, h("code", {}, showToken(p.answers[m]))),
        h("td", {}, bar(pf)),
        h("td", {}, bar(pc)),
      );
    })
  );
  ex.replaceChildren(
    h(
      "table",
      { class: "examples" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "prompt (end)"),
          h("th", {}, "answer"),
          h("th", {}, "full"),
          h("th", {}, "now"),
        ),
      ),
      h("tbody", {}, ...rows),
    ),
  );
}

function bar(p: number): HTMLElement {
  return h(
    "span",
    { class: "bar", title: `${(100 * p).toFixed(1)}%` },
    h("span", { class: "fill", style: `width:${(100 * p).toFixed(1)}%` }),
    h("span", { class: "barv" }, `${(100 * p).toFixed(1)}%`),
  );
}

// ---------------------------------------------------------------------------------------------
// Download

async function download(which: "kept" | "pinned"): Promise<void> {
  if (!tv) return;
  const c = tv.circuit;
  const ids = which === "kept" ? nodeSets().kept : [...st.pinned];
  const status = $("download-status");
  if (ids.length === 0) {
    status.textContent = "No nodes to write.";
    return;
  }
  status.textContent = `Measuring ${ids.length} nodes as deno task prune measures a circuit ` +
    "(live numbers wait until it is done)…";
  const out = await L.client.subgraph(ids, which, (phase, done, total) => {
    status.textContent = `Measuring ${ids.length} nodes: ${phase} ${done}` +
      (total > 0 ? `/${total}` : "");
  });
  // The file must read back exactly as the CLI reads circuit files.
  const text = JSON.stringify(out, null, 1) + "\n";
  parseCircuitText(text, "the downloaded circuit");
  const a = h("a", {
    href: URL.createObjectURL(new Blob([text], { type: "application/json" })),
    download: `${c.task}.${which}.json`,
  });
  document.body.append(a);
  a.click();
  a.remove();
  status.textContent =
    `Wrote ${c.task}.${which}.json: ${out.nodes.length} nodes, ${out.edges.length} edges, ` +
    `loss ${fmt(out.losses.circuit_calibrated, LOSS_DIGITS)} with its own calibration ` +
    `(scale ${fmt(out.calibration.scale)}, shift ${fmt(out.calibration.shift)}, fitted on the ` +
    `pruning pairs), ${fmt(out.time_s, 3)} s.`;
}

// ---------------------------------------------------------------------------------------------
// Node panel

function renderNodeHeader(id: string): void {
  const box = document.getElementById("node-head");
  if (!box || !tv) return;
  const ref = parseNodeId(id)!;
  const n = tv.circuit.nodes.find((x) => x.id === id);
  const { kept } = nodeSets();
  const isKept = kept.includes(id);
  box.replaceChildren(
    h("h2", {}, id),
    h(
      "p",
      { class: "small" },
      `layer ${ref.layer} · ${locationSpec(ref.location).label}` +
        (ref.location.startsWith("attn.") && ref.location.length === 6
          ? ` · head ${Math.floor(ref.index / L.info.dims.D)}, channel ${ref.index % L.info.dims.D}`
          : ""),
    ),
    h(
      "p",
      {},
      n
        ? `In the circuit · delta ${fmt(n.delta, LOSS_DIGITS)} · mean ${fmt(n.mean)}`
        : "Not in the circuit file",
      ` · now ${isKept ? "kept" : "ablated"}`,
    ),
    h(
      "div",
      { class: "row" },
      h("button", { id: "toggle-node", onclick: () => toggleNode(id) }, isKept ? "Ablate" : "Keep"),
      h(
        "button",
        { id: "pin-node", onclick: () => togglePin(id) },
        st.pinned.has(id) ? "Unpin" : "Pin",
      ),
    ),
  );
}

let nodeSeq = 0;

async function renderNode(id: string): Promise<void> {
  if (!tv) return;
  const seq = ++nodeSeq;
  const panel = $("panel-node");
  const ref = parseNodeId(id);
  if (!ref) return;
  const edges = await drawnEdges(nodeSets().drawn);
  if (seq !== nodeSeq) return;
  const inE = edges.filter((e) => e.target === id);
  const outE = edges.filter((e) => e.source === id);
  const edgeList = (es: typeof inE, other: "source" | "target") =>
    es.length
      ? h(
        "ul",
        { class: "edges-list" },
        ...[...es].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).map((e) =>
          h(
            "li",
            {},
            h("button", { class: "link", onclick: () => selectNode(e[other]) }, e[other]),
            h("span", { class: e.weight >= 0 ? "wpos" : "wneg" }, ` ${fmt(e.weight)}`),
          )
        ),
      )
      : h("p", { class: "hint" }, "none among the drawn nodes");
  const numbers = h("input", { type: "checkbox", id: "show-numbers" });
  panel.replaceChildren(
    h("div", { id: "node-head" }),
    h(
      "div",
      { class: "cols" },
      h("div", {}, h("h3", {}, `Incoming (${inE.length})`), edgeList(inE, "source")),
      h("div", {}, h("h3", {}, `Outgoing (${outE.length})`), edgeList(outE, "target")),
    ),
    h("label", { class: "small" }, numbers, " print values under tokens"),
    h("h3", {}, "On the task's two prompt classes"),
    h("div", { id: "node-task" }, h("p", { class: "hint" }, "computing…")),
    h("h3", {}, "Pretraining snippets by quantile"),
    h("div", { id: "node-snippets" }, h("p", { class: "hint" }, "computing…")),
    ref.location === "attn.q" || ref.location === "attn.k" || ref.location === "attn.v"
      ? h("div", {}, h("h3", {}, "Attention"), h("div", { id: "node-attn" }))
      : "",
  );
  renderNodeHeader(id);
  const showNumbers = () => numbers.checked;
  const [onTask, snippets] = [
    await L.client.call("nodeOnTask", id, 3),
    await L.client.call("nodeSnippets", id, 2),
  ];
  if (seq !== nodeSeq) return;
  const drawTask = () => {
    const scale = absMax(...onTask.pairs.flatMap((p) => p.acts), ...onTask.meanFromEnd);
    const depth = onTask.meanFromEnd[0].length;
    const pos = Array.from({ length: depth }, (_, j) => `${j - depth}`);
    const a = [...onTask.meanFromEnd[0]].reverse(), b = [...onTask.meanFromEnd[1]].reverse();
    const answers = tv!.info.examples[0]?.answers ?? ["A", "B"];
    $("node-task").replaceChildren(
      h(
        "p",
        { class: "small" },
        `Mean activation at the last ${depth} positions over the first ${onTask.meanPairs} pairs ` +
          `(class A answers ${JSON.stringify(answers[0])}, class B ${JSON.stringify(answers[1])}):`,
      ),
      h("div", { class: "heat-label" }, "A"),
      tokenHeat(pos, a, scale, { numbers: true, label: "class A mean" }),
      h("div", { class: "heat-label" }, "B"),
      tokenHeat(pos, b, scale, { numbers: true, label: "class B mean" }),
      h("div", { class: "heat-label" }, "A − B"),
      tokenHeat(pos, a.map((v, i) => v - b[i]), scale, { numbers: true, label: "difference" }),
      ...onTask.pairs.flatMap((p, k) => [
        h("div", { class: "heat-label" }, `pair ${k + 1} A`),
        tokenHeat(p.prompts[0].text, p.acts[0], scale, { numbers: showNumbers() }),
        h("div", { class: "heat-label" }, `pair ${k + 1} B`),
        tokenHeat(p.prompts[1].text, p.acts[1], scale, { numbers: showNumbers() }),
      ]),
    );
    const scaleS = absMax([snippets.max, snippets.min]);
    const groups = new Map<number, typeof snippets.snippets>();
    for (const sn of snippets.snippets) {
      groups.set(sn.quantile, [...(groups.get(sn.quantile) ?? []), sn]);
    }
    $("node-snippets").replaceChildren(
      h(
        "p",
        { class: "small" },
        `${snippets.tokens} tokens of ${snippets.source}; nonzero on ${
          (100 * snippets.nonzero).toFixed(1)
        }%; range ${fmt(snippets.min)} … ${fmt(snippets.max)}.`,
      ),
      ...[...groups].flatMap(([q, list]) => [
        h("div", { class: "heat-label" }, q === 1 ? "top" : q === 0 ? "bottom" : `q ${q}`),
        ...list.map((sn) =>
          h(
            "div",
            { class: "snippet" },
            tokenHeat(sn.tokens, sn.acts, scaleS, {
              mark: sn.at,
              numbers: showNumbers(),
              label: `snippet at quantile ${q}, value ${fmt(sn.value)}`,
            }),
            h("span", { class: "small" }, ` ${fmt(sn.value)}`),
          )
        ),
      ]),
    );
  };
  drawTask();
  numbers.addEventListener("change", drawTask);
  if (document.getElementById("node-attn")) await renderAttention(id, seq);
}

async function renderAttention(id: string, seq: number): Promise<void> {
  if (!tv) return;
  const ex = tv.info.examples[0];
  const choices = [
    ...(ex ? [ex.prompts[0], ex.prompts[1]] : []),
    ...(st.prompt ? [st.prompt] : []),
  ];
  if (choices.length === 0) return;
  const select = h(
    "select",
    { "aria-label": "prompt for the attention pattern" },
    ...choices.map((p, i) =>
      h(
        "option",
        { value: i },
        `${i < 2 && ex ? `example ${i ? "B" : "A"}` : "your prompt"}: …${p.slice(-40)}`,
      )
    ),
  );
  const out = h("div", { class: "cols" });
  const draw = async () => {
    const v = await L.client.call("attention", id, choices[Number(select.value)]);
    if (seq !== nodeSeq) return;
    out.replaceChildren(
      matrixHeat(v.tokens, v.headPattern, {
        signed: false,
        title: `head ${v.head} attention (probabilities)`,
      }),
      v.channelScores
        ? matrixHeat(v.tokens, v.channelScores, {
          signed: true,
          title: `this channel's score q·k/√d (query × key)`,
        })
        : h(
          "p",
          { class: "hint" },
          "A value channel has no score of its own; its head's pattern is on the left.",
        ),
    );
  };
  select.addEventListener("change", () => draw().catch((e) => showError(errText(e))));
  $("node-attn").replaceChildren(select, out);
  await draw();
}

// ---------------------------------------------------------------------------------------------
// Prompt

function renderPromptPanel(): void {
  const area = h("textarea", {
    id: "prompt-text",
    rows: 5,
    "aria-label": "prompt",
    spellcheck: "false",
    placeholder: "def f(x):\n    return x + ",
  }) as HTMLTextAreaElement;
  area.value = st.prompt;
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      runPrompt().catch((err) => showError(errText(err)));
    }
  });
  $("panel-prompt").replaceChildren(
    h("h2", {}, "Your prompt"),
    area,
    h(
      "div",
      { class: "row" },
      h("button", {
        id: "run-prompt",
        onclick: () => runPrompt().catch((e) => showError(errText(e))),
      }, "Next token (Ctrl+Enter)"),
    ),
    h("div", { id: "prompt-out" }),
  );
}

async function runPrompt(): Promise<void> {
  const area = document.getElementById("prompt-text") as HTMLTextAreaElement | null;
  if (!area) return;
  st.prompt = area.value;
  saveState();
  if (!st.prompt) return;
  const kept = tv ? nodeSets().kept : null;
  const v = await L.client.call("prompt", st.prompt, kept, 10);
  const table = (title: string, list: { token: string; p: number }[]) =>
    h(
      "div",
      {},
      h("h3", {}, title),
      h(
        "table",
        { class: "dist" },
        h(
          "tbody",
          {},
          ...list.map((t) =>
            h("tr", {}, h("td", {}, h("code", {}, showToken(t.token))), h("td", {}, bar(t.p)))
          ),
        ),
      ),
    );
  $("prompt-out").replaceChildren(
    h(
      "p",
      { class: "small" },
      `${v.tokens.length} tokens (with the leading <|endoftext|>)${
        v.truncated ? ", cut to n_ctx" : ""
      }:`,
    ),
    tokenHeat(v.tokens, v.tokens.map(() => 0), 1, { label: "prompt tokens" }),
    h(
      "div",
      { class: "cols" },
      table("Full model", v.full),
      v.circuit
        ? table(`Circuit now (${nodeSets().kept.length} nodes, raw logits)`, v.circuit)
        : h("p", { class: "hint" }, "No circuit open."),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Training and eval

function renderTraining(): void {
  const panel = $("panel-training");
  const rows = L.metrics;
  if (rows.length === 0) {
    panel.replaceChildren(
      h("p", { class: "notice" }, `${L.src.cfg.run}/metrics.jsonl: none or empty.`),
    );
    return;
  }
  const w = 420;
  const last = rows[rows.length - 1];
  panel.replaceChildren(
    h("h2", {}, "Training"),
    h("p", { class: "small" }, `${rows.length} logged steps, last step ${last.step}.`),
    metricsChart(rows, ["train/xent", "val/xent"], "cross-entropy (nats/token)", w) ?? "",
    metricsChart(rows, ["L0", "L0_non_embed"], "nonzero weights (L0)", w) ?? "",
    metricsChart(rows, ["lr"], "learning rate", w) ?? "",
  );
}

function renderEvalPanel(): void {
  const pairs = h("input", {
    type: "number",
    id: "eval-pairs",
    min: 1,
    max: 2048,
    value: 50,
    "aria-label": "pairs per task",
  });
  const button = h("button", { id: "run-eval" }, "Compute the eval table");
  const out = h("div", { id: "eval-out" });
  button.addEventListener("click", async () => {
    button.disabled = true;
    const n = Math.max(1, Math.min(2048, Math.floor(Number(pairs.value) || 50)));
    const body = h("tbody", {});
    out.replaceChildren(
      h(
        "table",
        { class: "numbers eval" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", {}, "task"),
            h("th", {}, "loss"),
            h("th", {}, "accuracy"),
            h("th", {}, "solved"),
            h("th", {}, ""),
          ),
        ),
        body,
      ),
    );
    let solved = 0, measured = 0;
    try {
      for (const t of TASKS) {
        const r = await L.client.call("evalTask", t.name, n);
        if (r.measurable) measured++;
        if (r.solved) solved++;
        body.append(
          h(
            "tr",
            {},
            h("td", {}, t.name),
            h("td", {}, r.loss === null ? "—" : fmt(r.loss, LOSS_DIGITS)),
            h("td", {}, r.accuracy === null ? "—" : `${(100 * r.accuracy).toFixed(1)}%`),
            h("td", {}, r.measurable ? (r.solved ? "yes" : "no") : "not measurable"),
            h(
              "td",
              {},
              L.circuits.includes(t.name)
                ? h("button", {
                  class: "link",
                  onclick: () => {
                    ($("task") as HTMLSelectElement).value = t.name;
                    st = { ...parseState(""), task: t.name, tab: "intervene" };
                    selectTab("intervene");
                    openTask(t.name).catch((e) => showError(errText(e)));
                  },
                }, "circuit")
                : "",
            ),
          ),
        );
      }
      out.append(
        h(
          "p",
          { class: "small" },
          `${solved} of ${measured} measurable tasks solved (loss < 0.15), ${n} pairs each, computed in this page (same code as deno task eval).`,
        ),
      );
    } catch (e) {
      showError(errText(e));
    } finally {
      button.disabled = false;
    }
  });
  $("panel-eval").replaceChildren(
    h("h2", {}, "Eval table"),
    h(
      "p",
      { class: "small" },
      "The full model on every task's held-out pairs (EVAL_SEED), computed here with the code of deno task eval.",
    ),
    h("div", { class: "row" }, h("label", {}, "pairs per task ", pairs), button),
    out,
  );
}

addEventListener("hashchange", () => {
  const next = parseState(location.hash);
  if (formatState(next) === formatState(st)) return;
  const taskChanged = next.task !== st.task;
  st = next;
  if (taskChanged) openTask(st.task).catch((e) => showError(errText(e)));
  else {
    selectTab(st.tab);
    changed(false);
  }
});

boot().catch((e) => {
  const msg = errText(e);
  console.error(msg);
  fatal(msg);
});
