/**
 * A run folder for the viewer's tests: the tiny preset trained for real (`train --preset tiny`),
 * its node means and a circuit for single_double_quote written in the circuit-file format.
 *
 * The circuit is not a pruned one: its nodes are, per layer and location, the channels whose
 * last-token activation differs most between the pair's two prompts, ranked by that difference;
 * every number in the file (losses, deltas, the curve, edges) is then computed from the model
 * with the viewer's engine, so the file is internally consistent and passes parseCircuit.
 */
import { corpusSource } from "../src/data/dataset.ts";
import { TRAIN_SEED } from "../src/data/corpus/index.ts";
import { LOCATIONS, nodeId, parseNodeId } from "../src/model/nodes.ts";
import { type Circuit, parseCircuit } from "../src/run/circuit.ts";
import { encodeMeans } from "../src/run/format.ts";
import { Engine, nodeBuffer, type RunFiles } from "../src/view/engine.ts";
import { EVAL_SEED, makePairs, PRUNE_SEED, TASKS } from "../tasks/index.ts";

const ROOT = new URL("../", import.meta.url).pathname;
export const FIXTURE_TASK = "single_double_quote";

/** The run's files as the engine takes them. */
export async function runFiles(dir: string): Promise<RunFiles> {
  const json = async (f: string) => JSON.parse(await Deno.readTextFile(`${dir}/${f}`));
  let means: Uint8Array | null = null;
  try {
    means = await Deno.readFile(`${dir}/means.safetensors`);
  } catch {
    means = null;
  }
  return {
    run: dir,
    config: await json("config.json"),
    tokenizer: await json("tokenizer.json"),
    model: await Deno.readFile(`${dir}/model.safetensors`),
    means,
  };
}

/** Trains the tiny preset into `dir` (about ten seconds on two cores). */
export async function trainTiny(dir: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}cli.ts`, "train", "--preset", "tiny", "--out", dir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`train failed: ${new TextDecoder().decode(out.stderr)}`);
}

/** Writes means.safetensors: each node's mean over 64 rows of pretraining text. */
export async function writeMeans(dir: string, e: Engine): Promise<void> {
  const T = e.rc.model.nCtx, R = 64;
  const batch = corpusSource(e.tok, TRAIN_SEED).nextBatch(R, T);
  const sums = new Float64Array(e.model.nodes.total);
  const ids = Array.from({ length: e.model.nodes.total }, (_, i) => i);
  const refs = ids.map((i) => {
    for (let l = e.model.d.L - 1; l >= 0; l--) {
      for (let j = LOCATIONS.length - 1; j >= 0; j--) {
        const loc = LOCATIONS[j].name, o = e.model.nodes.offsets[l][loc];
        if (o <= i) return { layer: l, location: loc, index: i - o };
      }
    }
    throw new Error(`node ${i}`);
  });
  for (let r = 0; r < R; r++) {
    const row = Int32Array.from(batch.subarray(r * (T + 1), r * (T + 1) + T));
    e.model.forward(row, null, 1, T);
    for (const i of ids) {
      const ref = refs[i];
      const { ptr, row: k } = nodeBuffer(e.model.acts.layers[ref.layer], ref, e.model.d.HD);
      const v = e.be.arena.f32(ptr + 4 * k * T, T);
      for (let t = 0; t < T; t++) sums[i] += v[t];
    }
  }
  const mean = Float32Array.from(sums, (s) => s / (R * T));
  await Deno.writeFile(
    `${dir}/means.safetensors`,
    encodeMeans({ mean, weightsSha256: e.weightsSha256, tokens: R * T, data: "corpus" }),
  );
}

/** Builds the circuit file for `task` from the model in `dir` (means must exist). */
export async function writeCircuit(
  dir: string,
  e: Engine,
  task = FIXTURE_TASK,
  perLocation = 3,
  evalPairs = 24,
): Promise<Circuit> {
  const t = TASKS.find((x) => x.name === task)!;
  const { C, M, HD } = e.model.d;
  const width = { C, M, HD };
  // Contrast of each node's last-token activation between the pair's two prompts.
  const score = new Float64Array(e.model.nodes.total);
  const all: string[] = [];
  for (let l = 0; l < e.model.d.L; l++) {
    for (const loc of LOCATIONS) {
      const w = loc.width({ ...e.model.d, ...width });
      for (let i = 0; i < w; i++) all.push(nodeId({ layer: l, location: loc.name, index: i }));
    }
  }
  for (const p of makePairs(t, PRUNE_SEED, 16)) {
    const last: Float32Array[] = [];
    for (const prompt of p.prompts) {
      const seq = [e.tok.eot, ...e.tok.encode(prompt)];
      e.model.forward(Int32Array.from(seq), null, 1, seq.length);
      const v = new Float32Array(all.length);
      all.forEach((id, i) => {
        const ref = parseNodeId(id)!;
        const { ptr, row } = nodeBuffer(e.model.acts.layers[ref.layer], ref, HD);
        v[i] = e.be.arena.f32(ptr + 4 * (row * seq.length + seq.length - 1), 1)[0];
      });
      last.push(v);
    }
    for (let i = 0; i < all.length; i++) score[i] += Math.abs(last[0][i] - last[1][i]);
  }
  const chosen: string[] = [];
  for (let l = 0; l < e.model.d.L; l++) {
    for (const loc of LOCATIONS) {
      const ids = all.map((id, i) => [id, score[i]] as const).filter(([id]) =>
        id.startsWith(`${l}.${loc.name}.`)
      );
      ids.sort((a, b) => b[1] - a[1]);
      chosen.push(...ids.slice(0, perLocation).filter(([, s]) => s > 0).map(([id]) => id));
    }
  }
  const ranking = [...chosen].sort((a, b) => score[all.indexOf(b)] - score[all.indexOf(a)]);
  const base: Circuit = {
    format: "thinwire.circuit",
    version: 1,
    thinwire: "view-test-fixture",
    model: {
      run: dir.split("/").pop()!,
      weights_sha256: e.weightsSha256,
      config: e.rc.model,
    },
    task,
    target: 0.15,
    method: "attribution",
    ablation: "mean",
    freeze_norm: false,
    seed: 0,
    hyperparameters: { note: "test fixture: nodes by last-token contrast, not pruned" },
    pairs: { prune_seed: PRUNE_SEED, eval_seed: EVAL_SEED, prune_pairs: 16, eval_pairs: evalPairs },
    nodes: [],
    edges: [],
    counts: Object.fromEntries(LOCATIONS.map((l) => [l.name, 0])) as Circuit["counts"],
    losses: {
      full: 0,
      circuit: 0,
      circuit_calibrated: 0,
      ablated: 0,
      random: { mean: 0, sd: 0, draws: 0 },
    },
    calibration: { scale: 1, shift: 0 },
    curve: [],
    ranking,
    examples: [],
    time_s: 0,
    timing: {},
  };
  e.setCircuit(base);
  const full = e.evaluateFull();
  const circ = e.evaluate(chosen);
  const allIds = all;
  const keptSet = new Set(chosen);
  const ablated = e.evaluate(allIds.filter((id) => !keptSet.has(id)));
  const means = e.nodeMeans!;
  const nodes = chosen.map((id) => {
    const ref = parseNodeId(id)!;
    const without = e.evaluate(chosen.filter((x) => x !== id));
    return { id, ...ref, mean: means[e.nodeIndexOf(id)], delta: without.loss - circ.loss };
  });
  const curve = [];
  for (let k = 1; k <= ranking.length; k++) {
    const r = e.evaluate(ranking.slice(0, k));
    curve.push({ k, loss: r.lossRaw, loss_calibrated: r.loss });
  }
  const counts = { ...base.counts };
  for (const n of nodes) counts[n.location]++;
  const examples = e.setCircuit(base).examples.slice(0, 3).map((x, k) => ({
    prompts: x.prompts,
    answers: x.answers,
    p_full: [full.pCorrect[2 * k], full.pCorrect[2 * k + 1]] as [number, number],
    p_circuit: [circ.pCorrect[2 * k], circ.pCorrect[2 * k + 1]] as [number, number],
  }));
  const c: Circuit = {
    ...base,
    nodes,
    edges: e.edgesAmong(chosen),
    counts,
    losses: {
      full: full.loss,
      circuit: circ.lossRaw,
      circuit_calibrated: circ.loss,
      ablated: ablated.loss,
      random: { mean: 0, sd: 0, draws: 0 },
    },
    curve,
    examples,
  };
  parseCircuit(c, "fixture");
  await Deno.mkdir(`${dir}/circuits`, { recursive: true });
  await Deno.writeTextFile(`${dir}/circuits/${task}.json`, JSON.stringify(c, null, 1) + "\n");
  return c;
}

/** A complete viewer fixture in a fresh temp dir: trained tiny run, means, one circuit. */
export async function makeViewRun(wasm: Uint8Array): Promise<{ dir: string; circuit: Circuit }> {
  const dir = await Deno.makeTempDir({ prefix: "thinwire-view-" });
  await trainTiny(dir);
  let e = await Engine.open(await runFiles(dir), { wasm, threads: 1, shared: true });
  try {
    await writeMeans(dir, e);
  } finally {
    e.close();
  }
  e = await Engine.open(await runFiles(dir), { wasm, threads: 1, shared: true });
  try {
    return { dir, circuit: await writeCircuit(dir, e) };
  } finally {
    e.close();
  }
}

if (import.meta.main) {
  const wasm = await Deno.readFile(`${ROOT}build/thinwire.wasm`);
  const r = await makeViewRun(wasm);
  console.log(`${r.dir}: ${r.circuit.nodes.length} nodes, ${r.circuit.edges.length} edges`);
}
