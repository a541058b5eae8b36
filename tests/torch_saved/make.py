"""Writes the files in this folder with torch itself, for tests/import_test.ts: what torch.save
really writes, read by thinwire's TypeScript reader without Python in the test run.

    python3 tests/torch_saved/make.py      (Debian: apt-get install python3-torch)

- assorted.pt (pickle protocol 2, torch.save's default) and assorted_p4.pt (protocol 4: other
  opcodes), a state dict of float32, float16 and bfloat16 tensors, a strided view, two tensors
  sharing a storage, a 0-d tensor and a Parameter; assorted.json: each tensor's dtype, shape and
  values as float32.
- gpt_tiny/: a circuit_sparsity model folder (beeg_config.json, final_model.pt) written by
  tests/circuit_sparsity/make_reference.py: float16 weights, AbsTopK at GPTConfig's default four
  places, added learned positions, attention sink; gpt_tiny.logits.safetensors: the reference's
  logits for the prompts in gpt_tiny.prompts.json.
- bad/: files torch.save wrote that are not a model's state dict: a list, a training checkpoint
  ({"model": state_dict}), an int64 tensor, a pickle naming os.system (never called: the
  reader refuses the name), and the legacy pre-1.6 format.
- tiny.tiktoken and tiny.encoder.json: thinwire's default tokenizer cut to the model's 263 ranks,
  as tiktoken ranks and as GPT-2's encoder.json (bytes_to_unicode written out here, from GPT-2's
  encoder.py).

The files are committed; rerun this only to change them (torch 1.13.1 wrote the committed ones).
"""

import base64
import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VOCAB = 264


def assorted():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(5, 6, generator=g)
    sd = {
        "f32": torch.randn(3, 4, generator=g),
        "f16": torch.randn(7, generator=g).half(),
        "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "view": base.t()[1:4, ::2],
        "shared": base,
        "scalar": torch.tensor(-2.5),
        "special": torch.tensor([0.0, -0.0, 3e-6, -65504.0]).half(),
    }
    sd["param"] = torch.nn.Parameter(torch.randn(2, 2, generator=g))
    torch.save(sd, os.path.join(HERE, "assorted.pt"))
    torch.save(sd, os.path.join(HERE, "assorted_p4.pt"), pickle_protocol=4)
    expected = {
        k: {
            "dtype": str(v.dtype).replace("torch.", ""),
            "shape": list(v.shape),
            "values": v.detach().float().reshape(-1).tolist(),
        }
        for k, v in sd.items()
    }
    with open(os.path.join(HERE, "assorted.json"), "w") as f:
        json.dump(expected, f)


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tokenizer():
    with open(os.path.join(ROOT, "src", "data", "tokenizer_default.json")) as f:
        ranks = json.load(f)["ranks"]
    kept = sorted(((r, b) for b, r in ranks.items() if r < VOCAB - 1))
    with open(os.path.join(HERE, "tiny.tiktoken"), "w") as f:
        for r, b in kept:
            f.write(f"{b} {r}\n")
    b2u = bytes_to_unicode()
    enc = {"".join(b2u[x] for x in base64.b64decode(b)): r for r, b in kept}
    enc["<|endoftext|>"] = VOCAB - 1
    with open(os.path.join(HERE, "tiny.encoder.json"), "w") as f:
        json.dump(enc, f)


def gpt_tiny():
    prompts = [[VOCAB - 1, 10, 200, 33, 7, 260, 99, 120], [5, 6]]
    with open(os.path.join(HERE, "gpt_tiny.prompts.json"), "w") as f:
        json.dump(prompts, f)
    config = {
        "block_size": 16,
        "vocab_size": VOCAB,
        "n_layer": 2,
        "n_head": 2,
        "d_head": 16,
        "d_model": 32,
        "d_mlp": 64,
        "rms_norm": True,
        "tied_unembed": False,
        "afrac": 0.25,
        "sink": True,
    }
    subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "tests", "circuit_sparsity", "make_reference.py"),
            os.path.join(HERE, "gpt_tiny"),
            json.dumps(config),
            os.path.join(HERE, "gpt_tiny.prompts.json"),
            os.path.join(HERE, "gpt_tiny.logits.safetensors"),
            "--dtype",
            "float16",
            "--seed",
            "1",
        ],
        check=True,
    )


def bad():
    d = os.path.join(HERE, "bad")
    os.makedirs(d, exist_ok=True)
    t = {"w": torch.ones(2)}
    torch.save([torch.ones(2)], os.path.join(d, "list.pt"))
    torch.save({"model": t, "step": 3}, os.path.join(d, "checkpoint.pt"))
    torch.save({"w": torch.arange(3)}, os.path.join(d, "int64.pt"))
    torch.save({"w": torch.ones(2), "hook": os.system}, os.path.join(d, "global.pt"))
    torch.save(t, os.path.join(d, "legacy.pt"), _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    bad()
    assorted()
    tokenizer()
    gpt_tiny()
