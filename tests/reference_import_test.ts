/**
 * Opt-in: models the reference's own code builds and torch saves import into thinwire computing
 * what the reference computes. For each config below (the features the released models use, and
 * the GPTConfig defaults they leave out), tests/circuit_sparsity/make_reference.py builds the
 * reference's GPT, redraws its weights at unit scale, saves it with torch.save and runs
 * load_model on the folder; thinwire imports the folder and its logits must match to float32
 * rounding. Then the round trip: thinwire trains, exports, the reference loads that and torch
 * saves it again, and the import gives back thinwire's model.safetensors byte for byte.
 *
 * Needs a Python 3 with torch (Debian: apt-get install python3-torch): THINWIRE_PYTHON if set,
 * else the first of python3, /usr/bin/python3 that imports torch. Without one it prints one line
 * saying so and the tests are ignored.
 */
import assert from "node:assert/strict";
import { exportCommand } from "../src/export/cli_export.ts";
import { importCommand } from "../src/import/cli_import.ts";
import { PRESETS } from "../src/train/presets.ts";
import type { RunConfig } from "../src/run/config.ts";
import { train } from "../src/train/trainer.ts";
import { sha256Hex } from "../src/util/sha256.ts";
import { findTorchPython, noTorchLine } from "../src/util/torch_python.ts";
import { logitDiff } from "./reference_logits.ts";

const MAKE = new URL("./circuit_sparsity/make_reference.py", import.meta.url).pathname;
/** thinwire's default tokenizer cut to 263 ranks (tests/torch_saved/make.py). */
const RANKS = new URL("./torch_saved/tiny.tiktoken", import.meta.url).pathname;
const V = 264, BLOCK = 32;

const py = await findTorchPython();
if (!py.exe) console.log(`skip: ${noTorchLine("reference_import_test", py.tried)}`);

const ALL8 = "attn_in,attn_out,mlp_in,mlp_out,mlp_neuron,attn_v,attn_k,attn_q";
const BASE = { block_size: BLOCK, vocab_size: V, n_layer: 2, rms_norm: true };

/** [what, beeg_config.json fields, make_reference.py flags]. */
const CASES: [string, Record<string, unknown>, string[]][] = [
  [
    "the sweep models' regime: AbsTopK at all eight, bigram, added positions",
    {
      ...BASE,
      n_head: 2,
      d_head: 16,
      d_model: 32,
      d_mlp: 128,
      tied_unembed: false,
      afrac: 0.25,
      afrac_loctypes: ALL8,
      enable_bigram_table: true,
      learnable_bigram_table: true,
    },
    [],
  ],
  [
    "with the attention sink, float16, positions zeroed",
    {
      ...BASE,
      n_head: 4,
      d_head: 8,
      d_model: 32,
      d_mlp: 64,
      tied_unembed: false,
      afrac: 0.25,
      afrac_loctypes: ALL8,
      enable_bigram_table: true,
      sink: true,
    },
    ["--dtype", "float16", "--zero-wpe"],
  ],
  [
    "GPTConfig's defaults: AbsTopK at four places, tied, d_pos_emb, no biases, saved with flash=False, bfloat16",
    { ...BASE, n_head: 2, d_model: 32, afrac: 0.5, d_pos_emb: 8, bias: false },
    ["--dtype", "bfloat16", "--save-without-flash"],
  ],
  [
    "dense, n_mlp, sinusoidal positions",
    {
      ...BASE,
      n_head: 2,
      d_model: 32,
      n_mlp: 96,
      tied_unembed: false,
      d_pos_emb: 4,
      sinusoidal_cat_pos_emb: true,
      use_tied_aux_matrix: false,
      sink: true,
    },
    [],
  ],
  [
    "AbsTopK at two places only",
    {
      ...BASE,
      n_head: 2,
      d_head: 16,
      d_model: 32,
      d_mlp: 64,
      tied_unembed: false,
      afrac: 0.5,
      afrac_loctypes: "attn_v,mlp_neuron",
      sink: true,
    },
    ["--seed", "3"],
  ],
];

function prompts(): number[][] {
  const full = Array.from({ length: BLOCK }, (_, i) => (i * 97 + 11) % (V - 1));
  return [[V - 1, 10, 200, 33, 7, 260, 99, 120], full, [5], [V - 1, ...full.slice(0, 12)]];
}

async function python(args: string[]): Promise<string> {
  const res = await new Deno.Command(py.exe!, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(res.stdout) + new TextDecoder().decode(res.stderr);
  assert.equal(res.code, 0, text);
  return text.trim().split("\n").pop()!;
}

for (const [what, config, flags] of CASES) {
  Deno.test({
    name: `reference import: torch's file of the reference's model gives its logits (${what})`,
    ignore: !py.exe,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "thinwire-refimport-" });
      try {
        const ps = prompts();
        await Deno.writeTextFile(`${dir}/prompts.json`, JSON.stringify(ps));
        const line = await python([
          MAKE,
          `${dir}/ref`,
          JSON.stringify(config),
          `${dir}/prompts.json`,
          `${dir}/logits.safetensors`,
          ...flags,
        ]);
        assert.equal(
          await importCommand([
            "--format",
            "reference",
            "--from",
            `${dir}/ref`,
            "--out",
            `${dir}/run`,
            "--tokenizer",
            RANKS,
          ]),
          0,
        );
        const { worst: d, size } = await logitDiff(`${dir}/run`, ps, `${dir}/logits.safetensors`);
        console.log(
          `${line}\n  max |logit difference| ${d.toExponential(2)} over ${ps.length} prompts ` +
            `(max |logit| ${size.toFixed(1)})`,
        );
        assert.ok(d < 1e-4, `logits differ by ${d}`);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name:
    "reference import: train → export → the reference loads it, torch saves it → import is the same run",
  ignore: !py.exe,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "thinwire-refimport-" });
    try {
      const rc: RunConfig = {
        model: {
          ...PRESETS.tiny.model,
          afracLoctypes: ["attn_in", "attn_k", "mlp_neuron", "mlp_out"],
          addPosEmb: true,
        },
        train: { ...PRESETS.tiny.train, steps: 20, evalEvery: 20, saveEvery: 20 },
      };
      await train({ out: `${dir}/run`, rc, threads: 1, resume: false, quiet: true });
      assert.equal(
        await exportCommand([
          "--model",
          `${dir}/run`,
          "--format",
          "reference",
          "--out",
          `${dir}/ref`,
        ]),
        0,
      );
      const ps = prompts().map((p) => p.map((t) => t % 2047).slice(0, rc.model.nCtx));
      await Deno.writeTextFile(`${dir}/prompts.json`, JSON.stringify(ps));
      const line = await python([
        MAKE,
        `${dir}/saved`,
        "--from-export",
        `${dir}/ref`,
        `${dir}/prompts.json`,
        `${dir}/logits.safetensors`,
      ]);
      // The tokenizer export wrote beside the model, given explicitly (torch's folder lacks it).
      assert.equal(
        await importCommand([
          "--format",
          "reference",
          "--from",
          `${dir}/saved`,
          "--out",
          `${dir}/back`,
          "--tokenizer",
          `${dir}/ref/tokenizer.json`,
        ]),
        0,
      );
      const sha = async (p: string) => await sha256Hex(await Deno.readFile(p));
      assert.equal(
        await sha(`${dir}/back/model.safetensors`),
        await sha(`${dir}/run/model.safetensors`),
      );
      const { worst: d, size } = await logitDiff(`${dir}/back`, ps, `${dir}/logits.safetensors`);
      console.log(
        `${line}\n  round trip: same model.safetensors; max |logit difference| ` +
          `${d.toExponential(2)} (max |logit| ${size.toFixed(1)})`,
      );
      assert.ok(d < 1e-4, `logits differ by ${d}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
