import { loadRun } from "../src/run/run_dir.ts";
import { PairScorer, taskItems } from "../src/eval/task_eval.ts";
import { EVAL_SEED, getTask } from "../tasks/index.ts";
import { passTokens } from "../src/run/open.ts";
const r = await loadRun("/tmp/tw_q1", { backend: Deno.args[0] as "cpu" | "webgpu", threads: 1 });
const built = taskItems(r.tokenizer, getTask("else_elif"), EVAL_SEED, 8);
if (built.note !== null) throw 1;
const sc = new PairScorer(r.model, r.tokenizer, 16, passTokens(r, true));
let dl = 0, dlms = 0;
const orig = r.be.download.bind(r.be);
r.be.download = (...x) => {
  const t = performance.now();
  orig(...x);
  dl++;
  dlms += performance.now() - t;
};
for (let i = 0; i < 4; i++) {
  const t0 = performance.now();
  dl = 0;
  dlms = 0;
  const s = sc.score(built.items);
  console.log(
    i,
    (performance.now() - t0).toFixed(0),
    "ms",
    dl,
    "downloads",
    dlms.toFixed(0),
    "ms waiting",
    s.meanLoss,
  );
}
r.close();
