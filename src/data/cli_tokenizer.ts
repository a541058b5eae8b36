/**
 * `thinwire tokenizer`: trains the byte-level BPE tokenizer (docs/method.md §2) on the embedded corpus
 * or on the .py files under --data, writes it as JSON, and reports its compression.
 */
import { commandFlags, intFlag } from "../cli_flags.ts";
import { checkWritable, writeAtomic } from "../util/write_atomic.ts";
import { TRAIN_SEED, VAL_SEED } from "./corpus/index.ts";
import { loadPyFiles } from "./pyfiles.ts";
import { takeChars } from "./take_chars.ts";
import { corpusPrefix, DEFAULT_TRAIN_CHARS, DEFAULT_VOCAB, Tokenizer } from "./tokenizer.ts";

const HELP = `usage: deno task tokenizer [flags]

Trains a byte-level BPE tokenizer (256 bytes + merges + <|endoftext|> last) with the paper's
pre-split regex, deterministically, and writes it as JSON.

  --out FILE      where to write (default: tokenizer.json)
  --vocab N       vocabulary size (default ${DEFAULT_VOCAB})
  --data DIR      train on the .py files under DIR (default: the embedded corpus)
  --chars N       characters of text to train on (default ${DEFAULT_TRAIN_CHARS})`;

export async function tokenizerCommand(argv: string[]): Promise<number> {
  const values = commandFlags("tokenizer", HELP, {
    out: { type: "string" },
    vocab: { type: "string" },
    data: { type: "string" },
    chars: { type: "string" },
  }, argv);
  if (!values) return 0;
  const vocab = intFlag("vocab", values.vocab, DEFAULT_VOCAB, 258, 65536);
  const chars = intFlag("chars", values.chars, DEFAULT_TRAIN_CHARS, 1000);
  const out = values.out ?? "tokenizer.json";
  await checkWritable(out, "--out");
  const t0 = performance.now();
  let train: Iterable<string>, held: string[];
  if (values.data) {
    const files = await loadPyFiles(values.data);
    train = takeChars(files.train, chars);
    held = [...takeChars(files.val, 1 << 20)];
  } else {
    train = corpusPrefix(TRAIN_SEED, chars);
    held = [...corpusPrefix(VAL_SEED, 1 << 20)];
  }
  const tok = Tokenizer.train(train, vocab);
  const bytes = held.reduce((a, d) => a + new TextEncoder().encode(d).length, 0);
  const tokens = held.reduce((a, d) => a + tok.encode(d).length, 0);
  await writeAtomic(out, JSON.stringify(tok.toJSON(), null, 2) + "\n");
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  console.log(
    `wrote ${out}: ${tok.name}, ${tok.vocabSize} tokens, ` +
      `${(bytes / Math.max(tokens, 1)).toFixed(2)} bytes/token on held-out text (${s} s)`,
  );
  return 0;
}
