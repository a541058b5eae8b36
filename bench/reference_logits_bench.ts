/**
 * A model the reference's code built, imported: how close its logits are to the reference's, and
 * what opening it costs. Reads a run folder (`deno task import --format reference`) and what
 * tests/circuit_sparsity/make_reference.py wrote beside the model folder (its prompts and the
 * reference's logits on them). docs/import.md, "The released models": a 406M-parameter model
 * with linear weights at density 1/256, over the old import limit, measured with
 *
 *   echo '[[263,10,200,33,7,260,99,120],[5]]' > /tmp/big/prompts.json
 *   python3 tests/circuit_sparsity/make_reference.py /tmp/big/ref \
 *     '{"block_size":1024,"vocab_size":264,"n_layer":8,"rms_norm":true,"n_head":128,"d_head":16,
 *       "d_model":2048,"d_mlp":8192,"tied_unembed":false,"afrac":0.25,
 *       "afrac_loctypes":"attn_in,attn_out,mlp_in,mlp_out,mlp_neuron,attn_v,attn_k,attn_q",
 *       "enable_bigram_table":true,"learnable_bigram_table":true}' \
 *     /tmp/big/prompts.json /tmp/big/logits.safetensors --density 0.00390625
 *   deno task import --format reference --from /tmp/big/ref --out /tmp/big/run \
 *     --tokenizer tests/torch_saved/tiny.tiktoken --n-ctx 64
 *   deno run -A --config bench/bench.json bench/reference_logits_bench.ts --model /tmp/big/run \
 *     --prompts /tmp/big/prompts.json --logits /tmp/big/logits.safetensors [--threads 2]
 */
import { parseArgs } from "node:util";
import { exitOnUserError } from "../src/cli_flags.ts";
import { UserError } from "../src/errors.ts";
import { logitDiff } from "../tests/reference_logits.ts";

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: "string" },
      prompts: { type: "string" },
      logits: { type: "string" },
      threads: { type: "string", default: "2" },
    },
    strict: true,
  });
  if (!values.model || !values.prompts || !values.logits) {
    throw new UserError("--model RUN, --prompts FILE and --logits FILE are required");
  }
  const prompts: number[][] = JSON.parse(await Deno.readTextFile(values.prompts));
  const d = await logitDiff(values.model, prompts, values.logits, Number(values.threads));
  console.log(
    `${values.model}: opened in ${(d.openMs / 1000).toFixed(1)} s into ` +
      `${(d.openedBytes / 2 ** 20).toFixed(1)} MiB of the arena; max |logit difference| ` +
      `${d.worst.toExponential(2)} (max |logit| ${d.size.toFixed(1)}); per prompt ` +
      d.perPrompt.map((x, j) => `${j}: ${x.toExponential(2)} (${prompts[j].length} tokens)`).join(
        ", ",
      ),
  );
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    exitOnUserError(e);
  }
}
