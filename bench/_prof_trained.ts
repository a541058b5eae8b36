// scratch: trained checkpoint vs init, same config, kernel split of sparse steps
import { Backend } from "../src/backend/backend.ts";
import { decodeSafetensors } from "../src/model/safetensors.ts";
import { readRunConfig, RunDir } from "../src/run/run_dir.ts";
import { StepRunner } from "../src/train/step.ts";
import { isDenseGradStep } from "../src/train/kept_grads.ts";
import { corpusSource } from "../src/data/dataset.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { TRAIN_SEED } from "../src/data/corpus/index.ts";
import { splitBatch } from "../src/data/dataset.ts";
const dir = Deno.args[0], threads = Number(Deno.args[1] ?? 1);
const run = new RunDir(dir);
const rc = await readRunConfig(run);
rc.train.steps += 1000;
const tok = loadDefaultTokenizer();
const src = corpusSource(tok, TRAIN_SEED + 1);
const B = rc.train.batchSize, T = rc.model.nCtx, N = B * T;
const x = new Int32Array(N), y = new Int32Array(N);
splitBatch(src.nextBatch(B, T), B, T, x, y);
const bytes = await Deno.readFile(run.checkpoint);
const f = decodeSafetensors(bytes, run.checkpoint);
const step0 = Number(f.metadata.step);
for (const mode of ["trained", "init"]) {
  const be = await Backend.create({ threads });
  const r = new StepRunner(be, rc);
  if (mode === "trained") {
    const n = r.model.layout.total;
    be.arena.f32(r.model.params, n).set(f.tensors.get("params")!.data);
    be.arena.f32(r.adamM, n).set(f.tensors.get("adam_m")!.data);
    be.arena.f32(r.adamV, n).set(f.tensors.get("adam_v")!.data);
  } else r.model.init(1);
  r.model.refresh(true);
  let s = mode === "trained" ? step0 : step0 - 1;
  r.step(x, y, s++); // init: prunes to target
  const tot = new Map<string, number>();
  let ms = 0, k = 0;
  for (let i = 0; i < 4; i++) {
    while (isDenseGradStep(s, rc)) s++;
    be.profile = new Map();
    const t0 = performance.now();
    r.step(x, y, s++);
    ms += performance.now() - t0; k++;
    for (const [n, e] of be.profile) tot.set(n, (tot.get(n) ?? 0) + e.ms);
    be.profile = null;
  }
  const top = [...tot].sort((a, b) => b[1] - a[1]).slice(0, 14);
  console.log(mode, (ms / k).toFixed(0), "ms/sparse step;", top.map(([n, v]) => `${n} ${(v / k).toFixed(0)}`).join(", "));
  be.close();
}
