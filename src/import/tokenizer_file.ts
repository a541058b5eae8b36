/**
 * `import --tokenizer FILE`: another program's BPE rank table as a thinwire Tokenizer. Three
 * formats, told apart by their contents:
 *
 *   tiktoken ranks   lines "<base64 token bytes> <rank>" (tiktoken's load_tiktoken_bpe)
 *   encoder.json     GPT-2's {token: id} with bytes mapped to printable characters (the file
 *                    circuit_sparsity's tinypython_2k is built from, with its vocab.bpe)
 *   tokenizer.json   a thinwire run's tokenizer
 *
 * The ranks are the token ids; `<|endoftext|>` comes after them (tinypython_2k: 2047). The
 * pre-split pattern is thinwire's, which is tinypython_2k's too: the files hold none.
 */
import { EOT_TOKEN, Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";

export type TokenizerFormat = "tiktoken ranks" | "encoder.json" | "thinwire tokenizer.json";

/** GPT-2's bytes_to_unicode, inverted: the character that stands for each byte → the byte. */
function unicodeToByte(): Map<string, number> {
  const bs: number[] = [];
  for (const [a, b] of [[0x21, 0x7e], [0xa1, 0xac], [0xae, 0xff]]) {
    for (let x = a; x <= b; x++) bs.push(x);
  }
  const map = new Map<string, number>();
  for (const b of bs) map.set(String.fromCharCode(b), b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) map.set(String.fromCharCode(256 + n++), b);
  return map;
}

/** tokens[rank] from (bytes, rank) pairs: ranks 0..n-1, each once. */
function byRank(pairs: [Uint8Array, number][], bad: (why: string) => never): Uint8Array[] {
  const tokens: Uint8Array[] = new Array(pairs.length);
  for (const [b, r] of pairs) {
    if (!Number.isInteger(r) || r < 0 || r >= pairs.length) {
      bad(`rank ${r} is not in 0..${pairs.length - 1}`);
    }
    if (tokens[r] !== undefined) bad(`rank ${r} appears twice`);
    tokens[r] = b;
  }
  return tokens;
}

/** Parses a rank-table file (any of the three formats); `where` names it in errors. */
export function parseTokenizerFile(
  bytes: Uint8Array,
  where: string,
): { tokenizer: Tokenizer; format: TokenizerFormat } {
  const bad = (why: string): never => {
    throw new UserError(`${where}: ${why}`);
  };
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return bad("not a text file (want tiktoken ranks, an encoder.json or a tokenizer.json)");
  }
  const named = (e: unknown): never => {
    if (e instanceof UserError) bad(e.message.replace(/^tokenizer( file)?: /, ""));
    throw e;
  };
  if (text.trimStart().startsWith("{")) {
    let j: unknown;
    try {
      j = JSON.parse(text);
    } catch {
      return bad("not valid JSON");
    }
    if (typeof j !== "object" || j === null || Array.isArray(j)) bad("not a JSON object");
    const o = j as Record<string, unknown>;
    if ("ranks" in o && "pat_str" in o) {
      try {
        return { tokenizer: Tokenizer.fromJSON(o), format: "thinwire tokenizer.json" };
      } catch (e) {
        return named(e);
      }
    }
    // encoder.json: specials are not ranks (tiktoken's data_gym loader drops these two too).
    const toByte = unicodeToByte();
    const pairs: [Uint8Array, number][] = [];
    let eot: number | null = null;
    for (const [k, v] of Object.entries(o)) {
      if (typeof v !== "number") {
        bad(`${JSON.stringify(k)} maps to ${JSON.stringify(v)}, not an id`);
      }
      if (k === EOT_TOKEN || k === "<|startoftext|>") {
        if (k === EOT_TOKEN) eot = v as number;
        continue;
      }
      const b = Uint8Array.from(
        k,
        (c) => toByte.get(c) ?? bad(`token ${JSON.stringify(k)} is not in GPT-2's byte alphabet`),
      );
      pairs.push([b, v as number]);
    }
    const tokens = byRank(pairs, bad);
    if (eot !== null && eot !== tokens.length) {
      bad(`${EOT_TOKEN} is ${eot}, but thinwire puts it after the ${tokens.length} ranks`);
    }
    try {
      return { tokenizer: Tokenizer.fromRanks(tokens), format: "encoder.json" };
    } catch (e) {
      return named(e);
    }
  }
  const pairs: [Uint8Array, number][] = [];
  const lines = text.split("\n");
  lines.forEach((raw, n) => {
    const line = raw.trim();
    if (line === "") return;
    const m = /^([A-Za-z0-9+/]+={0,2}) (\d+)$/.exec(line);
    if (!m) bad(`line ${n + 1} is not "<base64 token> <rank>"`);
    let bin: string;
    try {
      bin = atob(m![1]);
    } catch {
      return bad(`line ${n + 1}: not base64`);
    }
    if (bin.length === 0) bad(`line ${n + 1}: an empty token`);
    pairs.push([Uint8Array.from(bin, (c) => c.charCodeAt(0)), Number(m![2])]);
  });
  if (pairs.length === 0) bad("holds no ranks");
  try {
    return { tokenizer: Tokenizer.fromRanks(byRank(pairs, bad)), format: "tiktoken ranks" };
  } catch (e) {
    return named(e);
  }
}
