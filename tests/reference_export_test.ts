/**
 * Opt-in: the reference's own code loads `export --format reference` and computes what thinwire
 * computes. Trains two tiny runs (without and with learned positions), exports them, runs
 * tests/circuit_sparsity/check.py (openai/circuit_sparsity's load_model and GPT, transcribed
 * beside it; with CIRCUIT_SPARSITY_SRC=<checkout> also the upstream module itself) on a set of
 * prompts, and compares its logits and every hook it records with thinwire's forward and the
 * `logits --out` tensors of the same names.
 *
 * Needs a Python 3 with torch (Debian: apt-get install python3-torch): THINWIRE_PYTHON if set,
 * else the first of python3, /usr/bin/python3 that imports torch. Without one it prints one line
 * saying so and the test is ignored.
 */
import assert from "node:assert/strict";
import { activationTensors } from "../src/export/activations.ts";
import { exportCommand } from "../src/export/cli_export.ts";
import { decodeSafetensors } from "../src/model/safetensors.ts";
import { loadRun } from "../src/run/run_dir.ts";
import { type RunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import { train } from "../src/train/trainer.ts";
import { findTorchPython, noTorchLine } from "../src/util/torch_python.ts";

const CHECK = new URL("./circuit_sparsity/check.py", import.meta.url).pathname;

const py = await findTorchPython();
if (!py.exe) {
  console.log(`skip: ${noTorchLine("reference_export_test", py.tried)}`);
}

/** Prompts: Python snippets through the tokenizer, a full-context one, and arbitrary ids. */
function prompts(encode: (s: string) => number[], eot: number, nCtx: number): number[][] {
  const texts = [
    "def add(a, b):\n    return a + b\n",
    "for i in range(10):\n    if i % 2 == 0:\n        print(i)\n",
    "x = \"hello\"\ny = 'world'\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n",
    "import os\nfiles = [f for f in os.listdir('.') if f.endswith('.py')]\n",
    "while True:\n    break\n",
  ];
  const out = texts.map((t) => [eot, ...encode(t)].slice(0, nCtx));
  const long: number[] = [eot];
  for (let i = 0; long.length < nCtx; i++) long.push(...encode(texts[i % texts.length]));
  out.push(long.slice(0, nCtx));
  out.push([eot]);
  out.push(Array.from({ length: 23 }, (_, i) => (i * 389 + 7) % eot));
  return out;
}

function maxAbs(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

for (const P of [0, 8]) {
  Deno.test({
    name: `reference code loads the export and agrees with thinwire (d_pos_emb ${P})`,
    ignore: !py.exe,
    fn: async () => {
      const dir = await Deno.makeTempDir({ prefix: "thinwire-refcheck-" });
      try {
        const rc: RunConfig = {
          model: { ...PRESETS.tiny.model, dPosEmb: P },
          train: { ...PRESETS.tiny.train, steps: 40, evalEvery: 40, saveEvery: 40 },
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
        const r = await loadRun(`${dir}/run`, { threads: 1 });
        let ps: number[][];
        const ours: Map<string, Float32Array>[] = [];
        try {
          ps = prompts((s) => r.tokenizer.encode(s), r.tokenizer.eot, rc.model.nCtx);
          for (const ids of ps) {
            r.model.forward(Int32Array.from(ids), null, 1, ids.length);
            ours.push(new Map(activationTensors(r.model).map((t) => [t.name, t.data])));
          }
        } finally {
          r.close();
        }
        await Deno.writeTextFile(`${dir}/prompts.json`, JSON.stringify(ps));

        const upstream = Deno.env.get("CIRCUIT_SPARSITY_SRC");
        const variants = upstream ? [[], ["--upstream", upstream]] : [[]];
        for (const extra of variants) {
          const out = `${dir}/ref_out.safetensors`;
          const res = await new Deno.Command(py.exe!, {
            args: [CHECK, `${dir}/ref`, `${dir}/prompts.json`, out, ...extra],
            stdout: "piped",
            stderr: "piped",
          }).output();
          const text = new TextDecoder().decode(res.stdout) + new TextDecoder().decode(res.stderr);
          assert.equal(res.code, 0, text);
          const theirs = decodeSafetensors(await Deno.readFile(out), out).tensors;
          let logitDiff = 0, hookDiff = 0, hooks = 0;
          ps.forEach((_, j) => {
            const mine = ours[j];
            const refNames = [...theirs.keys()].filter((n) => n.startsWith(`${j}.`));
            // Every hook the reference records is in `logits --out` under the same name and shape.
            const ourRef = [...mine.keys()].filter((n) => !n.endsWith(".attn.pattern"));
            assert.deepEqual(refNames.map((n) => n.slice(`${j}.`.length)).sort(), ourRef.sort());
            for (const n of refNames) {
              const name = n.slice(`${j}.`.length);
              const d = maxAbs(theirs.get(n)!.data, mine.get(name)!);
              if (name === "logits") logitDiff = Math.max(logitDiff, d);
              else hookDiff = Math.max(hookDiff, d), hooks++;
            }
          });
          const line = text.trim().split("\n").pop();
          console.log(
            `${line}\n  d_pos_emb ${P}: max |logit difference| ${
              logitDiff.toExponential(2)
            } over ` +
              `${ps.length} prompts; max |hook difference| ${
                hookDiff.toExponential(2)
              } over ${hooks} tensors`,
          );
          // float32 rounding: a few ulp of logits of size ~10, through two blocks.
          assert.ok(logitDiff < 1e-4, `logits differ by ${logitDiff}`);
          assert.ok(hookDiff < 1e-4, `hooks differ by ${hookDiff}`);
        }
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  });
}
