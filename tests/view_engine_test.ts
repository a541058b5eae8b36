/**
 * The viewer's fast path to the CLI's numbers (src/prune/layer_cache.ts): scoring the same items again
 * under masks that differ in a few nodes, with each batch resumed at the first block whose nodes
 * changed, gives the same bits as a full pass (MaskedScorer.score), with and without frozen
 * norms and position embeddings; and frozen-norm scoring does not depend on what ran before.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import {
  PairScorer,
  type PromptItem,
  type PromptScores,
  taskItems,
} from "../src/eval/task_eval.ts";
import { Model } from "../src/model/model.ts";
import { MaskedScorer } from "../src/prune/masked_scorer.ts";
import { PRESETS } from "../src/train/presets.ts";
import { LayerCache } from "../src/prune/layer_cache.ts";
import { EVAL_SEED, getTask } from "../tasks/index.ts";

const tok = loadDefaultTokenizer();

function items(pairs: number): PromptItem[] {
  const t = taskItems(tok, getTask("indent_for"), EVAL_SEED, pairs);
  assert.equal(t.note, null);
  return (t as { items: PromptItem[] }).items;
}

async function withModel(
  dPosEmb: number,
  fn: (model: Model, scorer: PairScorer, means: Float32Array) => void,
): Promise<void> {
  const be = await Backend.create();
  try {
    const cfg = {
      ...PRESETS.tiny.model,
      nLayer: 3,
      baseDModel: 32,
      baseDMlp: 64,
      nCtx: 128,
      dPosEmb,
    };
    const model = new Model(be, cfg);
    model.init(11);
    model.refresh(true);
    // Small batches, so the items run in several batches of different lengths.
    const scorer = new PairScorer(model, tok, 64, 3 * 128);
    const means = Float32Array.from({ length: model.nodes.total }, (_, i) => 0.01 * (i % 7) - 0.03);
    fn(model, scorer, means);
  } finally {
    be.close();
  }
}

function sameBits(a: PromptScores, b: PromptScores, what: string): void {
  assert.deepEqual(a.losses, b.losses, `${what}: losses`);
  assert.deepEqual(a.diff, b.diff, `${what}: diff`);
  assert.equal(a.meanLoss, b.meanLoss, `${what}: meanLoss`);
}

for (const dPosEmb of [0, 8]) {
  for (const freezeNorm of [false, true]) {
    Deno.test(`resumed passes give the full pass's bits (freeze_norm ${freezeNorm}, d_pos_emb ${dPosEmb})`, async () => {
      await withModel(dPosEmb, (model, scorer, means) => {
        const its = items(12);
        const fresh = new MaskedScorer(model, scorer, means, freezeNorm);
        const live = new MaskedScorer(model, scorer, means, freezeNorm);
        const cache = new LayerCache(model, () => live.mask, freezeNorm);
        const off = model.nodes.offsets;
        const base = new Set<number>();
        for (let i = 0; i < model.nodes.total; i += 5) base.add(i);
        // Toggles in the last, the first and a middle layer, a repeat, and several at once.
        const steps: [string, (s: Set<number>) => void][] = [
          ["first pass", () => {}],
          ["toggle in layer 2", (s) => s.delete(off[2]["mlp.post_act"] + 5)],
          ["toggle in layer 0", (s) => s.add(off[0]["attn.q"] + 1)],
          ["same mask", () => {}],
          ["toggle in layer 1", (s) => s.add(off[1]["attn.resid_delta"] + 2)],
          ["layers 1 and 2", (s) => {
            s.delete(off[1]["attn.resid_delta"] + 2);
            s.add(off[2]["mlp.act_in"]);
          }],
        ];
        const kept = new Set(base);
        let lastShare = 1;
        for (const [what, change] of steps) {
          change(kept);
          fresh.keepOnly(kept);
          live.keepOnly(kept);
          cache.resetCounts();
          const got = live.score(its, true, cache);
          sameBits(got, fresh.score(its), what);
          lastShare = cache.blocksRun / cache.blocksFull;
          if (what === "first pass" || what === "toggle in layer 0") assert.equal(lastShare, 1);
          if (what === "toggle in layer 2" || what === "same mask") {
            assert.equal(lastShare, 1 / 3, `${what}: only the last block reruns`);
          }
        }
        assert.equal(lastShare, 2 / 3);
        // The plain model in between (other activations) changes nothing the cache keeps.
        fresh.score(its, false);
        kept.add(off[2]["attn.v"] + 3);
        fresh.keepOnly(kept);
        live.keepOnly(kept);
        sameBits(live.score(its, true, cache), fresh.score(its), "after a plain pass");
      });
    });
  }
}

Deno.test("frozen-norm scores do not depend on what ran before", async () => {
  const run = async (first: "plain" | "ablated") => {
    let out = NaN;
    await withModel(0, (model, scorer) => {
      const its = items(6);
      const ms = new MaskedScorer(model, scorer, null, true);
      ms.mask.fill(1);
      for (let i = 0; i < ms.n; i += 3) ms.mask[i] = 0;
      // A plain pass first sizes the activations without the raw copies an ablation keeps.
      ms.score(its, first === "ablated");
      out = ms.score(its).meanLoss;
    });
    return out;
  };
  assert.equal(await run("plain"), await run("ablated"));
});
