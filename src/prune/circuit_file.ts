/**
 * A search result (src/prune/prune.ts) as a circuit file (src/run/circuit.ts): node references,
 * the edges among the kept nodes, the settings under the file's names and the example pairs.
 */
import { nodeAt } from "../model/nodes.ts";
import { type Circuit, encodeCircuit } from "../run/circuit.ts";
import type { OpenRun } from "../run/open.ts";
import { EVAL_SEED, PRUNE_SEED } from "../../tasks/index.ts";
import { circuitEdges } from "./edges.ts";
import type { CircuitResult } from "./prune.ts";
import { hyperparamsJson, type PruneSettings, trainPairs } from "./settings.ts";
import type { TaskData } from "./task_data.ts";

/** The circuit file of a search result. */
export function circuitJson(
  r: OpenRun,
  data: TaskData,
  res: CircuitResult,
  st: PruneSettings,
  opts: {
    prunePairs: number;
    evalPairs: number;
    meansTokens: number;
    means: Float32Array | null;
    timeS: number;
    /** Seeds searched from (`--restarts`): recorded when more than one. */
    restarts?: number;
  },
): Circuit {
  const ref = (i: number) => nodeAt(r.model.d, r.model.nodes, i);
  const maxK = res.curve.reduce((m, p) => Math.max(m, p.k), res.kept.length);
  const loss2 = (x: Float32Array, k: number): [number, number] => [x[2 * k], x[2 * k + 1]];
  return encodeCircuit({
    model: { run: r.name, weights_sha256: r.weightsSha256, config: r.rc.model },
    task: data.task.name,
    settings: {
      target: st.target,
      method: st.method,
      ablation: st.ablation,
      freeze_norm: st.freezeNorm,
      seed: st.seed,
      hyperparameters: {
        ...hyperparamsJson(st.hp),
        logit_scale: res.logitScale,
        means_tokens: opts.meansTokens,
        random_draws: st.randomDraws,
        random_pairs: Math.min(st.randomPairs, opts.evalPairs),
        delta_pairs: Math.min(st.deltaPairs, opts.evalPairs),
        bisect_pairs: Math.min(st.bisectPairs, opts.prunePairs),
        mask_pairs: Math.min(trainPairs(st), opts.prunePairs),
        check_pairs: Math.max(0, opts.prunePairs - trainPairs(st)),
        check_margin: st.checkMargin,
        ...((opts.restarts ?? 1) > 1 ? { restarts: opts.restarts! } : {}),
      },
    },
    pairs: {
      prune_seed: PRUNE_SEED,
      eval_seed: EVAL_SEED,
      prune_pairs: opts.prunePairs,
      eval_pairs: opts.evalPairs,
    },
    nodes: res.kept.map((i, j) => ({
      ref: ref(i),
      mean: opts.means ? opts.means[i] : 0,
      delta: res.deltas[j] ?? 0,
    })),
    edges: circuitEdges(r.model, res.kept),
    losses: { ...res.losses, pruning: res.pruningLosses },
    calibration: res.calibration,
    curve: res.curve,
    ranking: res.ranking.slice(0, maxK).map(ref),
    examples: data.evalPairs.slice(0, 4).map((q, k) => ({
      prompts: q.prompts,
      answers: q.answers,
      fullLosses: loss2(res.fullLosses, k),
      circuitLosses: loss2(res.circuitLosses, k),
    })),
    timeS: opts.timeS,
    timing: res.timing,
  });
}
