/**
 * The run folder's contract, as pure functions over bytes and parsed JSON: the file names, and
 * the parse (with cross-checks) and encode of every file. No I/O, so the browser viewer parses a
 * run exactly as the CLI does; src/run/run_dir.ts puts Deno's file system on top.
 *
 *   config.json                 model + training config, tokenizer name, seed, versions
 *   model.safetensors           weights, reference names and [out,in] layouts
 *   tokenizer.json              the BPE tokenizer
 *   metrics.jsonl               one line per logged step
 *   loss.svg                    training curves
 *   state/checkpoint.safetensors  params + Adam moments + step and data position, for --resume
 *   means.safetensors           each node's pretraining mean (pruning), with the weights' hash
 *   circuits/<task>.json        a pruned circuit (src/run/circuit.ts, docs/circuit-format.md)
 *   circuits/summary.json       `prune --all`'s table
 */
import { Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";
import type { ModelConfig } from "../model/config.ts";
import { paramLayout } from "../model/params.ts";
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from "../model/safetensors.ts";
import { MODEL_FIELDS, OPTIONAL_MODEL_FIELDS, type RunConfig } from "./config.ts";

/** File names inside a run folder. */
export const RUN_FILES = {
  config: "config.json",
  model: "model.safetensors",
  tokenizer: "tokenizer.json",
  metrics: "metrics.jsonl",
  lossSvg: "loss.svg",
  stateDir: "state",
  checkpoint: "state/checkpoint.safetensors",
  means: "means.safetensors",
  circuitsDir: "circuits",
  summary: "circuits/summary.json",
} as const;

/** A circuit file's name inside the run folder. */
export function circuitFile(task: string): string {
  return `${RUN_FILES.circuitsDir}/${task}.json`;
}

/** One row of metrics.jsonl: step plus whatever the trainer logged (train/xent, val/xent, L0…). */
export type MetricsRow = Record<string, number>;

/** The tokenizer name config.json records (null when absent). */
export function configTokenizerName(j: unknown): string | null {
  const t = (j as { tokenizer?: unknown } | null)?.tokenizer;
  return typeof t === "string" ? t : null;
}

/** Parses tokenizer.json and checks it against the config (vocab size, recorded name). */
export function parseTokenizer(
  json: unknown,
  rc: RunConfig,
  recordedName: string | null,
  where: string,
): Tokenizer {
  let tok: Tokenizer;
  try {
    tok = Tokenizer.fromJSON(json);
  } catch (e) {
    if (e instanceof UserError) {
      throw new UserError(`${where}: ${e.message.replace(/^tokenizer file: /, "")}`);
    }
    throw e;
  }
  if (tok.vocabSize !== rc.model.vocabSize) {
    throw new UserError(
      `${where}: has ${tok.vocabSize} tokens but config.json's model expects ` +
        `${rc.model.vocabSize}`,
    );
  }
  if (recordedName !== null && recordedName !== tok.name) {
    throw new UserError(`${where}: is ${tok.name} but the model was trained with ${recordedName}`);
  }
  return tok;
}

/** model.safetensors bytes for these tensors (reference names and layouts). */
export function encodeModelFile(tensors: NamedTensor[], cfg: ModelConfig): Uint8Array {
  return encodeSafetensors(tensors, {
    format: "pt",
    // Sorted keys: the bytes (and the golden hash) must not depend on how the config was built.
    thinwire_config: JSON.stringify(cfg, Object.keys(cfg).sort()),
  });
}

/**
 * Parses model.safetensors and checks it holds exactly the tensors the config implies, each of
 * the right shape, and that its embedded config (if any) agrees with config.json.
 */
export function parseModelFile(
  bytes: Uint8Array,
  cfg: ModelConfig,
  where: string,
): Map<string, NamedTensor> {
  const f = decodeSafetensors(bytes, where);
  const bad = (why: string): never => {
    throw new UserError(`${where}: ${why}`);
  };
  const embedded = f.metadata.thinwire_config;
  if (embedded !== undefined) {
    let saved: Record<string, unknown> | null = null;
    try {
      saved = JSON.parse(embedded);
    } catch {
      bad("metadata thinwire_config is not valid JSON");
    }
    const keys = [...Object.keys(MODEL_FIELDS), ...OPTIONAL_MODEL_FIELDS] as (keyof ModelConfig)[];
    for (const k of keys) {
      if (JSON.stringify(saved?.[k]) !== JSON.stringify(cfg[k])) {
        bad(
          `saved with model.${k} = ${JSON.stringify(saved?.[k])} but config.json says ` +
            `${JSON.stringify(cfg[k])} (files from different runs?)`,
        );
      }
    }
  }
  const layout = paramLayout(cfg);
  const expected = new Set(layout.specs.map((s) => s.name));
  for (const spec of layout.specs) {
    const t = f.tensors.get(spec.name);
    if (!t) bad(`tensor ${spec.name} is missing (config.json implies it)`);
    if (t!.shape.length !== spec.shape.length || t!.shape.some((d, i) => d !== spec.shape[i])) {
      bad(
        `tensor ${spec.name} has shape [${t!.shape.join(", ")}], config.json implies ` +
          `[${spec.shape.join(", ")}]`,
      );
    }
  }
  const extra = [...f.tensors.keys()].filter((n) => !expected.has(n));
  if (extra.length > 0) {
    const names = extra.slice(0, 3).map((n) => JSON.stringify(n.slice(0, 80))).join(", ");
    bad(
      `unexpected tensor(s) ${names}${extra.length > 3 ? ` and ${extra.length - 3} more` : ""} ` +
        `that config.json does not imply`,
    );
  }
  return f.tensors;
}

/** metrics.jsonl rows; a damaged line (a cut last line after a crash) is skipped. */
export function parseMetrics(text: string): MetricsRow[] {
  const rows: MetricsRow[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line);
      if (typeof r === "object" && r !== null && typeof r.step === "number") rows.push(r);
    } catch {
      // A line cut by a crash: the rows before it are still good.
    }
  }
  return rows;
}

/** Node means for pruning, and what they were computed from. */
export interface NodeMeans {
  /** Mean of each node (model-wide node order, src/model/nodes.ts) over `tokens` tokens. */
  mean: Float32Array;
  /** SHA-256 of the model.safetensors they were computed with. */
  weightsSha256: string;
  tokens: number;
  /** The pretraining data: "corpus" or the --data folder. */
  data: string;
}

/** means.safetensors bytes. */
export function encodeMeans(m: NodeMeans): Uint8Array {
  return encodeSafetensors([{ name: "node_mean", shape: [m.mean.length], data: m.mean }], {
    weights_sha256: m.weightsSha256,
    tokens: String(m.tokens),
    data: m.data,
  });
}

/**
 * Parses means.safetensors; null (not an error: the caller recomputes) when the file is damaged,
 * from other weights, or of the wrong size.
 */
export function parseMeans(
  bytes: Uint8Array,
  nodes: number,
  weightsSha256: string,
): NodeMeans | null {
  try {
    const f = decodeSafetensors(bytes, RUN_FILES.means);
    const t = f.tensors.get("node_mean");
    const tokens = Number(f.metadata.tokens);
    if (!t || t.data.length !== nodes || f.metadata.weights_sha256 !== weightsSha256) return null;
    if (!Number.isInteger(tokens) || tokens <= 0) return null;
    if (t.data.some((x) => !Number.isFinite(x))) return null;
    return { mean: t.data, weightsSha256, tokens, data: f.metadata.data ?? "" };
  } catch {
    return null;
  }
}
