/**
 * `thinwire logits --batch FILE --out OUT`: logits and every named activation of many rows in one
 * process and one safetensors file (src/export/batch_rows.ts reads the rows,
 * src/export/batch_activations.ts runs and writes them). For comparing a model against other code
 * (the reference's PyTorch model, TransformerLens, one's own analysis) on thousands of prompts.
 */
import type { BackendKind } from "../backend/backend.ts";
import { openModelFlag } from "../cli_flags.ts";
import { UserError } from "../errors.ts";
import { formatDuration, Progress } from "../util/progress.ts";
import { batchLayout, writeBatchActivations } from "./batch_activations.ts";
import { parseBatchRows } from "./batch_rows.ts";
import { passTokens } from "../run/open.ts";

/** The default --max-gb: a file Python's safetensors.torch.load_file reads into memory at once. */
export const DEFAULT_MAX_GB = 4;

export interface BatchArgs {
  model: string;
  batch: string;
  out: string;
  patterns: boolean;
  /** Refuse an output larger than this many GiB. */
  maxGb: number;
  threads: number;
  /** What to compute on (default "cpu"). */
  backend?: BackendKind;
}

const GIB = 1024 ** 3;

/** Runs the batch; returns the exit code. Every problem a user can cause is a one-line UserError. */
export async function logitsBatch(a: BatchArgs): Promise<number> {
  let text: string;
  try {
    text = await Deno.readTextFile(a.batch);
  } catch (e) {
    throw new UserError(
      `logits: --batch ${a.batch}: cannot be read (${(e as Error).message.split("\n")[0]})`,
    );
  }
  const run = await openModelFlag("logits", a.model, { threads: a.threads, backend: a.backend });
  try {
    const { model, tokenizer: tok } = run;
    const nCtx = model.cfg.nCtx;
    const rows = parseBatchRows(text, a.batch, tok, model.d.V, nCtx);
    const layout = batchLayout(model, rows, a.patterns);
    const limit = a.maxGb * GIB;
    if (layout.bytes > limit) {
      const header = layout.bytes - layout.R * layout.rowBytes;
      const fit = Math.max(1, Math.floor((limit - header) / layout.rowBytes));
      const without = layout.patternBytes > 0
        ? ` (${gib(layout.bytes - layout.patternBytes)} without --patterns)`
        : "";
      throw new UserError(
        `logits: the output would be ${gib(layout.bytes)}${without} for ${layout.R} rows of up ` +
          `to ${layout.T} tokens, over the ${a.maxGb} GiB limit: split ${a.batch} into files of ` +
          `at most ${fit} rows, or raise --max-gb`,
      );
    }
    const cut = rows.filter((r) => r.truncated > 0);
    if (cut.length > 0) {
      console.error(
        `note: ${cut.length} row(s) longer than the model's context (${nCtx} tokens) keep their ` +
          `last ${nCtx} (the first: line ${cut[0].line}); \`truncated\` holds how many each lost`,
      );
    }
    const progress = new Progress("logits", rows.length, "row");
    const t0 = performance.now();
    try {
      await writeBatchActivations(model, rows, tok.eot, a.out, {
        patterns: a.patterns,
        tokensPerBatch: passTokens(run, false),
        onRows: (done) => progress.update(done),
      });
    } catch (e) {
      if (e instanceof UserError || !(e instanceof Deno.errors.NotFound || isFsError(e))) throw e;
      throw new UserError(
        `logits: --out ${a.out}: cannot write (${(e as Error).message.split("\n")[0]})`,
      );
    }
    const s = (performance.now() - t0) / 1000;
    const tokens = rows.reduce((n, r) => n + r.ids.length, 0);
    console.error(
      `wrote logits and activations of ${rows.length} row(s), ${tokens} tokens (padded to ` +
        `${layout.T}), ${gib(layout.bytes)} → ${a.out} in ${formatDuration(s)} ` +
        `(${(rows.length / Math.max(s, 1e-9)).toFixed(1)} rows/s)`,
    );
  } finally {
    run.close();
  }
  return 0;
}

/** A file-system error of Deno's (permission, a missing folder, a full disk, …). */
function isFsError(e: unknown): boolean {
  return Object.values(Deno.errors).some((E) => e instanceof E);
}

function gib(bytes: number): string {
  return bytes >= GIB / 10
    ? `${(bytes / GIB).toFixed(2)} GiB`
    : `${(bytes / 1024 ** 2).toFixed(1)} MiB`;
}
