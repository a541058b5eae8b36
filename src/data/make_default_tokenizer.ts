/**
 * Regenerates src/data/tokenizer_default.json from the corpus (run after the corpus changes):
 *   npx -y deno@2.9.6 run -A src/data/make_default_tokenizer.ts
 * tests/tokenizer_test.ts checks that the committed file is what this writes.
 */
import { trainDefaultTokenizer } from "./tokenizer.ts";

const t0 = performance.now();
const tok = trainDefaultTokenizer();
const path = new URL("./tokenizer_default.json", import.meta.url);
const tmp = new URL(`./tokenizer_default.json.${Deno.pid}.tmp`, import.meta.url);
await Deno.writeTextFile(tmp, JSON.stringify(tok.toJSON(), null, 2) + "\n");
await Deno.rename(tmp, path);
const s = ((performance.now() - t0) / 1000).toFixed(1);
console.log(`wrote ${path.pathname}: ${tok.name} (${s} s)`);
