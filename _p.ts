import { Engine } from "./src/view/engine.ts";
import { runFiles } from "./tests/view_fixture.ts";
import { parseCircuit } from "./src/run/circuit.ts";
const wasm = Deno.readFileSync("build/thinwire.wasm");
for (const threads of [1, 2]) {
const e = await Engine.open(await runFiles("/tmp/small"), { wasm, threads, shared: true });
const c = parseCircuit(JSON.parse(Deno.readTextFileSync("/tmp/small/circuits/single_double_quote.json")), "c");
e.setCircuit(c);
const ids = c.nodes.map(n => n.id);
e.evaluate(ids);
e.be.profile = new Map();
let t = performance.now();
for (let i = 0; i < 3; i++) e.evaluate(ids.slice(i));
console.log(threads, "ablated eval ms", (performance.now() - t) / 3);
if (threads === 1) for (const [k, v] of [...e.be.profile].sort((a, b) => b[1].ms - a[1].ms).slice(0, 6)) console.log(k.padEnd(28), v.calls, (v.ms/3).toFixed(1));
e.be.profile = null;
e.close();
}
