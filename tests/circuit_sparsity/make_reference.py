"""Writes a circuit_sparsity model folder with torch itself, and what the reference computes on it,
for `deno task import --format reference` to be checked against (tests/reference_import_test.ts,
tests/import_test.ts's committed fixture).

    python3 make_reference.py OUT_DIR CONFIG_JSON PROMPTS_JSON LOGITS_OUT
        [--dtype float32|float16|bfloat16] [--save-without-flash] [--zero-wpe] [--seed N]
        [--density D]
    python3 make_reference.py OUT_DIR --from-export DIR PROMPTS_JSON LOGITS_OUT

OUT_DIR gets beeg_config.json (CONFIG_JSON's fields only: the rest are GPTConfig's defaults, as
for the released models) and final_model.pt = torch.save(model.state_dict()) of the reference's
GPT(config), its weights redrawn (below), cast to --dtype. --save-without-flash builds the model
with flash=False, whose state dict also holds the causal-mask buffers; --zero-wpe zeroes wpe (as
the training code initialises it). LOGITS_OUT (safetensors)
gets `{j}.logits` [T, V] for each prompt j, computed by the reference's own
`load_model(OUT_DIR, flash=True, cuda=False)` from the written folder.

--from-export loads DIR (a `deno task export --format reference` folder) with load_model and
saves that model's state dict with torch.save instead: torch's own writing of thinwire's weights.

The weights: GPT's init is N(0, 0.02), where every AbsTopK choice and logit is tiny; they are
redrawn at unit scale (Linear weights N(0, 1/fan_in) with 3 in 4 zeroed, as a sparse model has
them, or all but a fraction D with --density D; biases, norm weights, sink logits, positions and
the bigram table nonzero), so a mapping mistake anywhere shows in the logits.
"""

import json
import math
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_compat  # noqa: E402

torch_compat.install()
import gpt  # noqa: E402
from check import write_safetensors  # noqa: E402


def redraw(model, g, density):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2 and name.endswith("weight") and "wte" not in name and "wpe" not in name:
                w = torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1])
                p.copy_(w * (torch.rand(p.shape, generator=g) < density))
            elif name.endswith("wte.weight") or name.endswith("wpe.weight"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif name == "bigram_table":
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
            elif name.endswith("sink_logit"):
                p.copy_(torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
            else:  # norm weights
                p.copy_(0.5 + torch.rand(p.shape, generator=g))


def main(argv):
    opts = {"--dtype": "float32", "--seed": "0", "--from-export": None, "--density": "0.25"}
    flags = {"--save-without-flash": False, "--zero-wpe": False}
    rest = []
    i = 0
    while i < len(argv):
        if argv[i] in opts:
            opts[argv[i]] = argv[i + 1]
            i += 2
        elif argv[i] in flags:
            flags[argv[i]] = True
            i += 1
        else:
            rest.append(argv[i])
            i += 1
    src = opts["--from-export"]
    if src is None:
        out_dir, config_json, prompts_file, logits_out = rest
        cfg = json.loads(config_json)
    else:
        out_dir, prompts_file, logits_out = rest
        with open(os.path.join(src, "beeg_config.json")) as f:
            cfg = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "beeg_config.json"), "w") as f:
        json.dump(cfg, f)

    if src is None:
        flash = not flags["--save-without-flash"]
        # load_model's renames, which GPTConfig itself does not know.
        fields = dict(cfg)
        if "n_mlp" in fields:
            fields["d_mlp"] = fields.pop("n_mlp")
        fields.pop("use_tied_aux_matrix", None)
        config = gpt.GPTConfig(**fields, flash=flash, grad_checkpointing=False)
        g = torch.Generator().manual_seed(int(opts["--seed"]))
        model = gpt.GPT(config)
        redraw(model, g, float(opts["--density"]))
        if flags["--zero-wpe"]:
            with torch.no_grad():
                model.transformer.wpe.weight.zero_()
    else:
        model = gpt.load_model(src, flash=True, cuda=False)
    dtype = getattr(torch, opts["--dtype"])
    sd = {k: v.to(dtype) for k, v in model.state_dict().items()}
    torch.save(sd, os.path.join(out_dir, "final_model.pt"))

    ref = gpt.load_model(out_dir, flash=True, cuda=False)
    with open(prompts_file) as f:
        prompts = json.load(f)
    out = []
    with torch.no_grad():
        for j, ids in enumerate(prompts):
            logits, _, _ = ref(torch.tensor([ids], dtype=torch.long))
            out.append((f"{j}.logits", logits[0]))
    write_safetensors(logits_out, out)
    print(f"reference model ({len(sd)} tensors, {opts['--dtype']}), {len(prompts)} prompt(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
