/**
 * `thinwire logits`: what a trained model computes for one prompt. Prints the top next-token
 * candidates with their probabilities; with --out, writes the logits of every position and every
 * named activation (src/export/activations.ts, the reference's hook names) to a safetensors file,
 * as TransformerLens's `run_with_cache` would hand them over, without Python.
 */
import {
  commandFlags,
  COMPUTE_FLAGS,
  computeFlags,
  computeUsage,
  intFlag,
  numberFlag,
  openModelFlag,
  required,
} from "../cli_flags.ts";
import { EOT_TOKEN, type Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";
import { encodeSafetensors } from "../model/safetensors.ts";
import { checkWritable, writeAtomic } from "../util/write_atomic.ts";
import { activationTensors } from "./activations.ts";
import { DEFAULT_MAX_GB, logitsBatch } from "./cli_logits_batch.ts";

const USAGE = `usage: deno task logits --model DIR (--prompt TEXT | --tokens 1,2,3) [options]
       deno task logits --model DIR --batch FILE.jsonl --out FILE.safetensors [options]

Runs a trained model on one prompt and prints the most likely next tokens; with --batch, runs
every row of a file in one process and writes their logits and activations.

  --model DIR     run folder (config.json, tokenizer.json, model.safetensors)   required
  --prompt TEXT   text to encode; ${EOT_TOKEN} is put before it, as in training and eval
  --tokens IDS    token ids, comma-separated, used as given
  --top N         candidates to print (default 10)
  --out FILE      also write logits and every activation to FILE (safetensors, layout below)
  --batch FILE    JSON lines, one row each: "a prompt", {"prompt": "..."}, [token ids] or
                  {"tokens": [ids]} (other keys ignored; blank lines skipped). Needs --out
  --patterns      with --batch: also the attention patterns (R·L·H·T² floats: often the bulk)
  --max-gb X      with --batch: refuse an output over X GiB (default ${DEFAULT_MAX_GB})
${computeUsage(15, "1; with --batch, all cores")}
  --help          this text

A prompt longer than the model's context (n_ctx) is cut from the left, with a note.

--out FILE holds float32 tensors, token-major like the reference's hook_recorder() at batch 1
(batch axis dropped); T tokens, V vocab, C d_model, P d_pos_emb, H heads of D, M d_mlp:
  logits                          [T, V]
  {i}.resid_in, {i}.resid_mid     [T, C]     final_resid [T, C]
  {i}.attn.act_in, mlp.act_in     [T, C+P]
  {i}.attn.q, .k, .v, .y          [T, H*D]
  {i}.attn.resid_delta            [T, C]     {i}.mlp.resid_delta [T, C]
  {i}.mlp.post_act                [T, M]
  {i}.attn.pattern                [H, T, T]  (thinwire's; not a reference hook)
and metadata "tokens" (the ids, JSON) and "format" ("thinwire-activations-1").

With --batch, R rows padded to the longest one's T tokens: the same names with the row axis
first (logits [R, T, V], {i}.resid_in [R, T, C], …, {i}.attn.pattern [R, H, T, T] with
--patterns), zeros past a row's length, plus tokens [R, T] (ids; -1 as padding), lengths [R]
and truncated [R] (tokens cut from the left to fit n_ctx), all float32; metadata "format"
("thinwire-activations-batch-1") and "rows". Each row's values are bit for bit what the
one-prompt path writes for it. Rows run B at a time (similar lengths together), written as
they are done: memory stays at one batch.`;

/** --tokens "1, 2,3" → ids; each must be an integer in 0..V-1. */
function parseTokens(s: string, V: number): number[] {
  const parts = s.split(",").map((p) => p.trim());
  if (parts.length === 0 || parts.every((p) => p === "")) {
    throw new UserError("logits: --tokens needs at least one token id");
  }
  return parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new UserError(`logits: --tokens: '${p}' is not a token id`);
    const id = Number(p);
    if (id >= V) throw new UserError(`logits: token id ${id} is out of range (vocab 0..${V - 1})`);
    return id;
  });
}

/** A token as readable text: a JSON string, or b"…" with \xNN where its bytes are not UTF-8. */
export function showToken(tok: Tokenizer, id: number): string {
  if (id === tok.eot) return EOT_TOKEN;
  const bytes = tok.tokenBytes(id);
  try {
    return JSON.stringify(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    let s = "";
    for (const b of bytes) {
      s += b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c
        ? String.fromCharCode(b)
        : `\\x${b.toString(16).padStart(2, "0")}`;
    }
    return `b"${s}"`;
  }
}

/** Runs `logits` with its own arguments; returns the exit code (problems are thrown as UserError). */
export async function logitsCommand(argv: string[]): Promise<number> {
  const v = commandFlags("logits", USAGE, {
    model: { type: "string" },
    prompt: { type: "string" },
    tokens: { type: "string" },
    top: { type: "string" },
    out: { type: "string" },
    batch: { type: "string" },
    patterns: { type: "boolean" },
    "max-gb": { type: "string" },
    ...COMPUTE_FLAGS,
  }, argv);
  if (!v) return 0;
  required("logits", v.model, "--model DIR");
  if (v.batch !== undefined) {
    const other = (["prompt", "tokens", "top"] as const).filter((k) => v[k] !== undefined);
    if (other.length > 0) {
      throw new UserError(`logits: --batch runs the file's rows; not with --${other.join(", --")}`);
    }
    return await logitsBatch({
      model: v.model!,
      batch: v.batch,
      out: required("logits", v.out, "--out FILE (with --batch)"),
      patterns: !!v.patterns,
      maxGb: numberFlag("max-gb", v["max-gb"], DEFAULT_MAX_GB, (x) => x > 0, "a size in GiB > 0"),
      ...computeFlags(v),
    });
  }
  for (const k of ["patterns", "max-gb"] as const) {
    if (v[k] !== undefined) throw new UserError(`logits: --${k} goes with --batch FILE`);
  }
  if ((v.prompt === undefined) === (v.tokens === undefined)) {
    throw new UserError("logits: give exactly one of --prompt TEXT and --tokens IDS");
  }
  if (v.prompt === "") throw new UserError("logits: --prompt is empty");
  const top = intFlag("top", v.top, 10);
  const compute = computeFlags(v, 1);
  if (v.out) await checkWritable(v.out, "--out");

  const run = await openModelFlag("logits", v.model, compute);
  try {
    const { model, tokenizer: tok } = run;
    const V = model.d.V, nCtx = model.cfg.nCtx;
    let ids = v.prompt !== undefined
      ? [tok.eot, ...tok.encode(v.prompt)]
      : parseTokens(v.tokens!, V);
    if (ids.length > nCtx) {
      console.error(
        `note: the prompt is ${ids.length} tokens and the model's context ${nCtx}: ` +
          `kept the last ${nCtx}`,
      );
      ids = ids.slice(ids.length - nCtx);
    }
    const T = ids.length;
    model.forward(Int32Array.from(ids), null, 1, T);
    model.downloadActs();
    const all = model.be.arena.f32(model.acts.logits, V * T);
    const last = new Float64Array(V);
    for (let i = 0; i < V; i++) last[i] = all[i * T + T - 1];
    const max = last.reduce((a, b) => Math.max(a, b), -Infinity);
    let z = 0;
    for (const x of last) z += Math.exp(x - max);
    const order = Array.from(last.keys()).sort((a, b) => last[b] - last[a] || a - b)
      .slice(0, Math.min(top, V));

    const text = tok.decode(ids);
    const shown = text.length > 60 ? "…" + text.slice(-60) : text;
    console.log(`${T} token(s); next token after ${JSON.stringify(shown)}:`);
    console.log("  rank     prob     logit     id  token");
    order.forEach((id, r) => {
      const p = Math.exp(last[id] - max) / z;
      console.log(
        `${String(r + 1).padStart(6)}  ${(p * 100).toFixed(2).padStart(6)}%  ` +
          `${last[id].toFixed(3).padStart(8)}  ${String(id).padStart(5)}  ${showToken(tok, id)}`,
      );
    });

    if (v.out) {
      const bytes = encodeSafetensors(activationTensors(model), {
        format: "thinwire-activations-1",
        tokens: JSON.stringify(ids),
      });
      await writeAtomic(v.out, bytes);
      console.error(`wrote logits and activations of ${T} token(s) → ${v.out}`);
    }
  } finally {
    run.close();
  }
  return 0;
}
