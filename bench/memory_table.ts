/**
 * The table of docs/memory.md: what a model of each width needs of the 2 GiB WebAssembly memory
 * for each command, from the sizes the model allocates (src/model/memory.ts). An opened model's
 * sparse linear weights are packed (compressed forms only: src/run/open.ts); their nonzeros are
 * the preset's top-k counts at the end of the anneal. Arithmetic only: nothing is allocated.
 * Run: deno run -A bench/memory_table.ts [--batch B]
 *
 * `--open DIR` (repeatable) measures instead: the arena in use once each run folder is opened as
 * every command opens it; `--random-ef E` does so for a random model of width E at the small
 * preset's densities (cut to its target counts by the sparse start's top-k), written to a temporary
 * folder.
 *   deno run -A bench/memory_table.ts --open runs/small-s1 --random-ef 8
 */
import { parseArgs } from "node:util";
import { dims } from "../src/model/config.ts";
import {
  ARENA_BYTES,
  formatBytes,
  inferenceBytes,
  openedWeightBytes,
  SCRATCH_RESERVE,
  trainingBytes,
} from "../src/model/memory.ts";
import { activationBytes } from "../src/model/model.ts";
import { SPARSE_DENSITY } from "../src/model/linear.ts";
import { linearWeights, paramFloats, paramLayout, targetDensity } from "../src/model/params.ts";
import { PRESETS } from "../src/train/presets.ts";
import { loadRun } from "../src/run/run_dir.ts";
import { pruneAtInit } from "../src/train/sparse_anneal.ts";
import { makeRandomRun } from "../tests/run_fixture.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    batch: { type: "string" },
    open: { type: "string", multiple: true },
    "random-ef": { type: "string" },
  },
});
if (values.open || values["random-ef"]) {
  await measureOpened(values.open ?? [], values["random-ef"]);
  Deno.exit(0);
}
const B = Number(values.batch ?? 16);
const rows: string[][] = [];
for (const ef of [1, 2, 4, 8]) {
  const cfg = { ...PRESETS.small.model, ef };
  const d = dims(cfg), T = cfg.nCtx, params = paramFloats(cfg);
  // The linear weights an opened model packs: those the sparse products take.
  const packed = new Map<string, number>();
  for (const s of linearWeights(paramLayout(cfg))) {
    const density = targetDensity(s.cls, PRESETS.small.train.pfrac, ef);
    if (density < SPARSE_DENSITY) packed.set(s.name, Math.round(density * s.size));
  }
  const weights = openedWeightBytes(cfg, packed);
  const left = ARENA_BYTES - weights - SCRATCH_RESERVE;
  const fit = (raw: boolean) => Math.floor(left / activationBytes(d, 1, T, raw));
  const train = trainingBytes(cfg, B, T);
  rows.push([
    `ef ${ef} (d_model ${d.C}, d_mlp ${d.M})`,
    `${(params / 1e6).toFixed(1)}M`,
    train <= ARENA_BYTES ? formatBytes(train) : `${formatBytes(train)}: refused`,
    formatBytes(inferenceBytes(cfg, 1, weights)),
    `${Math.min(B, fit(false))} of ${B}`,
    `${Math.min(B, fit(true))} of ${B}`,
    formatBytes(inferenceBytes(cfg, Math.min(B, fit(true)), weights)),
  ]);
}
const head = [
  "model (4 layers, n_ctx 128)",
  "parameters",
  `train (batch ${B})`,
  "open (eval, prune, view, logits)",
  "eval rows per pass",
  "prune rows per pass",
  "prune at those rows",
];
console.log(`| ${head.join(" | ")} |\n|${head.map(() => "---").join("|")}|`);
for (const r of rows) console.log(`| ${r.join(" | ")} |`);

/** Prints the arena in use once each run is opened (and a random one of width `randomEf`). */
async function measureOpened(dirs: string[], randomEf?: string): Promise<void> {
  const show = async (dir: string, what = dir) => {
    const r = await loadRun(dir);
    const m = r.model;
    console.log(
      `${what}: ${(r.be.arena.used / 2 ** 20).toFixed(1)} MiB of the arena in use once opened; ` +
        `${m.storedFloats} of its ${m.layout.total} parameters stored dense`,
    );
    r.close();
  };
  for (const dir of dirs) await show(dir);
  if (randomEf === undefined) return;
  const rc = structuredClone(PRESETS.small);
  rc.model.ef = Number(randomEf);
  // Cut to the target counts as a run starting sparse at the target is at init (its top-k).
  const annealFrom = targetDensity("block", rc.train.pfrac, rc.model.ef);
  const start = { ...rc, train: { ...rc.train, annealFrom } };
  const dir = await makeRandomRun(rc, "thinwire-memory-", 1, (m) => pruneAtInit(m.be, m, start));
  try {
    await show(dir, `a random width-${randomEf} model at the small preset's densities`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
