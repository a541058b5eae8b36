/**
 * Regenerates src/data/tokenizer_default.json from the corpus (run after the corpus changes):
 *   npx -y deno@2.9.6 run -A src/data/make_default_tokenizer.ts
 * tests/tokenizer_test.ts checks that the committed file is what this writes.
 */
import { writeAtomic } from "../util/write_atomic.ts";
import { trainDefaultTokenizer } from "./tokenizer.ts";

const t0 = performance.now();
const tok = trainDefaultTokenizer();
const path = new URL("./tokenizer_default.json", import.meta.url).pathname;
await writeAtomic(path, JSON.stringify(tok.toJSON(), null, 2) + "\n");
const s = ((performance.now() - t0) / 1000).toFixed(1);
console.log(`wrote ${path}: ${tok.name} (${s} s)`);
