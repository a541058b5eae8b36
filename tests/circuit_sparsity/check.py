"""Loads a `deno task export --format reference` folder with the reference's own loader and writes
what its model computes, for tests/reference_export_test.ts to compare with thinwire's forward.

    python3 check.py EXPORT_DIR PROMPTS_JSON OUT_FILE [--upstream REPO_DIR]

PROMPTS_JSON is a list of token-id lists. OUT_FILE (safetensors, float32) gets, for prompt j,
`{j}.logits` [T, V] and every tensor the reference's hook_recorder() records, `{j}.{hook}`, with
the batch axis of 1 dropped. Before any forward it checks that final_model.pt holds exactly the
model's state-dict keys with their shapes: load_model uses strict=False, which would hide a
missing tensor (left at its random init) or a misnamed one (ignored). Prints one line per
problem and exits 1 on any.

By default the transcription beside this file is used (gpt.py, hook_utils.py, kernels.py);
--upstream imports circuit_sparsity.inference.gpt from a checkout of openai/circuit_sparsity
instead, standing in blobfile and tiktoken (which load_model only uses to read local files).
"""

import json
import os
import struct
import sys
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import torch_compat  # noqa: E402

torch_compat.install()


def import_reference(upstream):
    if upstream is None:
        import gpt
        import hook_utils

        return gpt, hook_utils
    bf = types.ModuleType("blobfile")
    bf.join = os.path.join
    sys.modules.setdefault("blobfile", bf)
    try:
        import tiktoken.load  # noqa: F401
    except ImportError:
        tk = types.ModuleType("tiktoken")
        tl = types.ModuleType("tiktoken.load")

        def read_file_cached(path):
            with open(path, "rb") as f:
                return f.read()

        tl.read_file_cached = read_file_cached
        tk.load = tl
        sys.modules["tiktoken"] = tk
        sys.modules["tiktoken.load"] = tl
    sys.path.insert(0, os.path.abspath(upstream))
    from circuit_sparsity.inference import gpt, hook_utils

    return gpt, hook_utils


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main(argv):
    upstream = None
    if "--upstream" in argv:
        i = argv.index("--upstream")
        upstream = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    export_dir, prompts_file, out_file = argv
    gpt, hook_utils = import_reference(upstream)
    torch.manual_seed(0)

    model = gpt.load_model(export_dir, flash=True, cuda=False)
    sd = torch.load(os.path.join(export_dir, "final_model.pt"), weights_only=True, map_location="cpu")
    expected = model.state_dict()
    problems = [f"missing from final_model.pt: {k} {list(v.shape)}" for k, v in expected.items() if k not in sd]
    problems += [f"not in the reference model: {k}" for k in sd if k not in expected]
    problems += [
        f"shape of {k}: {list(sd[k].shape)} in the file, {list(v.shape)} in the model"
        for k, v in expected.items()
        if k in sd and sd[k].shape != v.shape
    ]
    for p in problems:
        print(p)
    if problems:
        return 1

    with open(prompts_file) as f:
        prompts = json.load(f)
    out = []
    with torch.no_grad():
        for j, ids in enumerate(prompts):
            idx = torch.tensor([ids], dtype=torch.long)
            with hook_utils.hook_recorder() as rec:
                logits, _, _ = model(idx)
            out.append((f"{j}.logits", logits[0]))
            out += [(f"{j}.{name}", t[0]) for name, t in rec.items()]
    write_safetensors(out_file, out)
    added = torch_compat.installed()
    print(
        f"reference ({'upstream ' + upstream if upstream else 'transcription'}, torch {torch.__version__}"
        + (f", added {', '.join(added)}" if added else "")
        + f"): {len(prompts)} prompt(s), {len(expected)} state-dict tensors"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
