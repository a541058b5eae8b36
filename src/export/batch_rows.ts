/**
 * The rows of `logits --batch FILE`: JSON lines, one row each, as prompts or token ids.
 *
 *   "x = 1"                      a prompt: <|endoftext|> then its tokens (as --prompt)
 *   {"prompt": "x = 1", ...}     the same; other keys (an id of yours) are ignored
 *   [2047, 87, 12]               token ids, used as given (as --tokens)
 *   {"tokens": [2047, 87], ...}  the same
 *
 * Blank lines are skipped: row i is the i-th non-blank line. A row longer than the model's
 * context keeps its last n_ctx tokens, as the one-prompt path does.
 */
import type { Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";

export interface BatchRow {
  /** The file's line number (1-based), for messages. */
  line: number;
  /** Token ids after truncation: at most n_ctx, at least one. */
  ids: number[];
  /** Tokens cut from the left to fit the context. */
  truncated: number;
}

/**
 * Parses the text of a --batch file into rows; the first bad line is a one-line UserError naming
 * `file` and the line number. `V`: vocabulary size (ids must be below it).
 */
export function parseBatchRows(
  text: string,
  file: string,
  tok: Tokenizer,
  V: number,
  nCtx: number,
): BatchRow[] {
  const rows: BatchRow[] = [];
  const lines = text.split("\n");
  lines.forEach((raw, i) => {
    const line = i + 1;
    const s = raw.trim();
    if (s === "") return;
    const bad = (why: string): never => {
      throw new UserError(`${file}: line ${line}: ${why}`);
    };
    let j: unknown;
    try {
      j = JSON.parse(s);
    } catch {
      bad("not valid JSON (each line is a JSON string, an array of token ids, or an object)");
    }
    let ids: number[];
    if (typeof j === "string") {
      ids = prompt(j, tok, bad);
    } else if (Array.isArray(j)) {
      ids = tokenIds(j, V, bad);
    } else if (typeof j === "object" && j !== null) {
      const o = j as Record<string, unknown>;
      if (("prompt" in o) === ("tokens" in o)) bad('give exactly one of "prompt" and "tokens"');
      if ("prompt" in o) {
        if (typeof o.prompt !== "string") bad('"prompt" is not a string');
        ids = prompt(o.prompt as string, tok, bad);
      } else {
        if (!Array.isArray(o.tokens)) bad('"tokens" is not an array of token ids');
        ids = tokenIds(o.tokens as unknown[], V, bad);
      }
    } else {
      bad(`a JSON ${j === null ? "null" : typeof j} is neither a prompt nor token ids`);
    }
    const truncated = Math.max(0, ids!.length - nCtx);
    rows.push({ line, ids: truncated > 0 ? ids!.slice(truncated) : ids!, truncated });
  });
  if (rows.length === 0) throw new UserError(`${file}: no rows (one JSON value per line)`);
  return rows;
}

function prompt(text: string, tok: Tokenizer, bad: (why: string) => never): number[] {
  if (text === "") bad("empty prompt");
  return [tok.eot, ...tok.encode(text)];
}

function tokenIds(a: unknown[], V: number, bad: (why: string) => never): number[] {
  if (a.length === 0) bad("no token ids");
  return a.map((x, k) => {
    if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x >= V) {
      bad(`token ${k + 1} (${JSON.stringify(x)}) is not a token id in 0..${V - 1}`);
    }
    return x as number;
  });
}
