/**
 * Pruning models with a planted circuit (tests/planted.ts) at the default settings: for each shape
 * and sureness, whether the planted nodes are exactly what comes back, the circuit's size, its
 * losses on the pruning pairs and on held-out pairs, and the time. Also checks that the planted set
 * is the necessary one (it meets the target alone; without any one of its nodes it does not).
 *
 *   deno run -A --config bench/bench.json bench/planted_bench.ts [--threads N] [--shape S]
 *     [--loss L,...] [--k-coef K] [--lr LR] [--steps S] [--noise X] [--set-point X] [--seed N]
 *     [--ef E] [--layers L] [--density P]
 *
 * --noise and --set-point are prune's --mask-noise and --loss-set-point; --seed draws other
 * distractor weights; --ef widens the model (d_model 64·E: 704·E nodes a layer), --layers adds
 * layers of distractors after the circuit's two, --density thins the blocks' distractor weights
 * (4 layers at ef 8 and density 1/64: the `paper` preset's 22,528 nodes, at its first density).
 * docs/prune.md, "Planted circuits", has the table that chose the defaults.
 */
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
import { nodeAt, nodeId } from "../src/model/nodes.ts";
import { formatBytes } from "../src/model/memory.ts";
import { circuitEdges } from "../src/prune/edges.ts";
import { MaskedScorer } from "../src/prune/masked_scorer.ts";
import { findCircuit } from "../src/prune/prune.ts";
import { circuitSearchSettings, DEFAULT_HP, PRUNE_DEFAULTS } from "../src/prune/settings.ts";
import { PLANTED_SHAPES, plantedModel, type PlantedShape } from "../tests/planted.ts";

export async function main(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      threads: { type: "string" },
      shape: { type: "string" },
      loss: { type: "string" },
      "k-coef": { type: "string" },
      lr: { type: "string" },
      steps: { type: "string" },
      noise: { type: "string" },
      seed: { type: "string" },
      ef: { type: "string" },
      layers: { type: "string" },
      density: { type: "string" },
      "set-point": { type: "string" },
    },
    strict: true,
  });
  const threads = Number(values.threads ?? (navigator.hardwareConcurrency || 1));
  const shapes = values.shape ? [values.shape as PlantedShape] : PLANTED_SHAPES;
  const losses = (values.loss ?? "0.05,1e-3,1e-5").split(",").map(Number);
  const hp = { ...DEFAULT_HP };
  if (values["k-coef"]) hp.kCoef = Number(values["k-coef"]);
  if (values.lr) hp.lr = Number(values.lr);
  if (values.steps) hp.steps = Number(values.steps);
  if (values.noise) hp.maskNoise = Number(values.noise);
  if (values["set-point"]) hp.lossSetPoint = Number(values["set-point"]);
  const opts = {
    ef: Number(values.ef ?? 1),
    layers: Number(values.layers ?? 2),
    density: values.density?.includes("/") // "1/64" or 0.015625
      ? values.density.split("/").map(Number).reduce((a, b) => a / b)
      : Number(values.density ?? 1),
  };
  const be = await Backend.create({ threads });
  console.log(
    `\n## Planted circuits, ${be.threads} thread(s), k_coef ${hp.kCoef}, lr ${hp.lr}, ${hp.steps} steps, mask noise ${hp.maskNoise}, loss set point ${hp.lossSetPoint}, ${opts.layers} layers, ef ${opts.ef}, distractor density ${opts.density}\n`,
  );
  console.log(
    "| shape | full loss | nodes | planted | exact | kept | edges | cal. bisect / check pairs | cal. eval pairs | collapses | time |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  try {
    for (const shape of shapes) {
      for (const fullLoss of losses) {
        const mark = be.arena.mark();
        try {
          const t00 = performance.now();
          const p = plantedModel(be, shape, fullLoss, Number(values.seed ?? 1), opts);
          console.error(
            `built in ${((performance.now() - t00) / 1000).toFixed(1)} s, arena ${
              formatBytes(be.arena.used)
            } in use`,
          );
          const model = p.model;
          const ms = new MaskedScorer(model, p.scorer, p.means, false);
          const pool = p.items(PRUNE_DEFAULTS.prunePairs, 11);
          const evalItems = p.items(PRUNE_DEFAULTS.evalPairs, 12);
          const st = circuitSearchSettings(hp);
          // The planted set is necessary: alone it meets the target, without any node it fails.
          const cal = (kept: number[]) => {
            ms.keepOnly(kept);
            return ms.measure(evalItems).cal;
          };
          const alone = cal(p.planted);
          const without = p.planted.map((i) => cal(p.planted.filter((j) => j !== i)));
          const t0 = performance.now();
          const res = findCircuit(ms, { pool, evalItems }, st);
          const s = (performance.now() - t0) / 1000;
          const exact = JSON.stringify(res.kept) === JSON.stringify(p.planted);
          const name = (i: number) => nodeId(nodeAt(model.d, model.nodes, i));
          const edges = circuitEdges(model, res.kept).length;
          console.log(
            `| ${shape} | ${
              p.fullLoss.toExponential(1)
            } | ${model.nodes.total} | ${p.planted.length} (alone ${
              alone.toFixed(3)
            }, min without ${Math.min(...without).toFixed(3)}) | ${
              exact ? "yes" : "**no**"
            } | ${res.kept.length} | ${edges} | ${
              res.pruningLosses.bisect.circuit_calibrated.toFixed(3)
            } / ${res.pruningLosses.check?.circuit_calibrated.toFixed(3) ?? "-"} | ${
              res.losses.circuit_calibrated.toFixed(3)
            } | ${res.collapses.map((c) => c.kCoef).join(" ")} | ${s.toFixed(1)} s |`,
          );
          if (!exact && res.kept.length <= 40) {
            console.log(`    kept: ${res.kept.map(name).join(" ")}`);
          }
        } finally {
          be.arena.restore(mark);
        }
      }
    }
  } finally {
    be.close();
  }
}

if (import.meta.main) await main(Deno.args);
