"""PyTorch peer of bench/train_bench.ts: the method's training step (docs/method.md §2) on the reference's
own model code (tests/circuit_sparsity/gpt.py, openai/circuit_sparsity's inference/gpt.py), timed
on the CPU, for the bench to interleave with thinwire's steps.

    python3 bench/torch_peer.py SPEC_JSON

SPEC_JSON (written by train_bench.ts from thinwire's own tables, so nothing here restates a size):
  threads            torch.set_num_threads
  models[]           one per shape:
    config           the reference GPTConfig fields (src/export/reference.ts referenceConfig)
    batch, lr, beta1, beta2, eps, weight_decay, protect_j, seed
    params[]         thinwire's parameter table: name, shape, cls, axis, k (kept count at the
                     target L0; k = size for dense tensors), decay

Then one request per stdin line, one JSON line of answer per request on stdout:
  {"model": i, "steps": n}   runs n steps of model i, answers {"ms": [per step ...]}
First line out: {"torch", "blas_info", "blas_loaded", "threads", "models": [...]} once every model
is built and has taken one untimed step (which also applies top-k at the target L0), or
{"error": "..."} and exit 1. EOF on stdin ends it.

The step, as src/train/step.ts at R = 1: forward and cross-entropy, backward (dense weight
gradients), global gradient RMS normalised to 1 (g /= rms + 1e-5), Adam (torch.optim.Adam,
bias-corrected, no coupled decay), magnitude top-k of every sparsified tensor to its target count
(block matrices first protect the j largest |w| of every neuron: c_fc and c_attn rows, c_proj
columns, as the reference's apply_topk_), then decoupled weight decay x *= 1 - lr * wd on the
tensors thinwire decays. The lr is constant (the schedule costs nothing here). The products stay
dense torch matmuls: zeros cost what nonzeros cost, which is what a user of torch on a CPU gets.
"""

import contextlib
import json
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "circuit_sparsity"))


def loaded_blas():
    """Paths of the BLAS/LAPACK shared libraries this process has mapped, symlinks resolved."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if re.search(r"blas|lapack|mkl", os.path.basename(path), re.I):
                libs.add(os.path.realpath(path))
    return sorted(libs)


class Peer:
    def __init__(self, torch, gpt, spec):
        self.torch = torch
        torch.manual_seed(spec["seed"])
        cfg = dict(spec["config"], flash=True, grad_checkpointing=False)
        # GPT() prints its parameter count; stdout carries only the JSON answers.
        with contextlib.redirect_stdout(sys.stderr):
            self.model = gpt.GPT(gpt.GPTConfig(**cfg))
        self.model.train()
        named = dict(self.model.named_parameters())
        table = {p["name"]: p for p in spec["params"]}
        # Without learned positions the reference still adds wpe; thinwire has no such tensor
        # (its export writes zeros), so it stays zero and untrained here.
        if cfg.get("d_pos_emb") is None:
            wpe = named.pop("transformer.wpe.weight")
            with torch.no_grad():
                wpe.zero_()
            wpe.requires_grad_(False)
        missing = [n for n in table if n not in named]
        extra = [n for n in named if n not in table]
        shapes = [n for n in table if n in named and list(named[n].shape) != table[n]["shape"]]
        if missing or extra or shapes:
            raise ValueError(
                f"parameter tables differ: not in the reference {missing}, not in thinwire {extra}, "
                f"shapes differ {shapes}"
            )
        self.params = [named[n] for n in table]
        self.n_total = sum(p.numel() for p in self.params)
        self.topk = [(named[n], p) for n, p in table.items() if p["k"] < named[n].numel()]
        self.decay = [named[n] for n, p in table.items() if p["decay"]]
        self.lr, self.wd, self.j = spec["lr"], spec["weight_decay"], spec["protect_j"]
        self.opt = torch.optim.Adam(
            self.params,
            lr=self.lr,
            betas=(spec["beta1"], spec["beta2"]),
            eps=spec["eps"],
            weight_decay=0.0,
            foreach=True,
        )
        V, B, T = cfg["vocab_size"], spec["batch"], cfg["block_size"]
        g = torch.Generator().manual_seed(7)
        self.inputs = torch.randint(0, V, (B, T), generator=g)
        self.targets = torch.randint(0, V, (B, T), generator=g)

    def top_k(self, w, p):
        torch = self.torch
        a = w.abs()
        if p["axis"] != "none" and self.j > 0:
            dim = 1 if p["axis"] == "row" else 0
            a.scatter_(dim, a.topk(self.j, dim=dim, sorted=False).indices, float("inf"))
        keep = a.view(-1).topk(p["k"], sorted=False).indices
        mask = torch.zeros(w.numel(), dtype=torch.bool)
        mask[keep] = True
        w.mul_(mask.view_as(w))

    def step(self):
        torch = self.torch
        self.opt.zero_grad(set_to_none=False)
        _, loss, _ = self.model(self.inputs, self.targets)
        loss.backward()
        grads = [p.grad for p in self.params]
        with torch.no_grad():
            sumsq = torch.stack([g.pow(2).sum() for g in grads]).sum()
            rms = (sumsq / self.n_total).sqrt().item()
            torch._foreach_mul_(grads, 1.0 / (rms + 1e-5))
            self.opt.step()
            for w, p in self.topk:
                self.top_k(w, p)
            for w in self.decay:
                w.mul_(1 - self.lr * self.wd)
        return loss.item()


def main(argv):
    out = sys.stdout
    try:
        import torch

        import torch_compat

        torch_compat.install()
        import gpt

        with open(argv[0]) as f:
            spec = json.load(f)
        torch.set_num_threads(spec["threads"])
        peers = [Peer(torch, gpt, m) for m in spec["models"]]
        losses = [p.step() for p in peers]
        blas_info = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
        print(
            json.dumps(
                {
                    "torch": torch.__version__,
                    "blas_info": blas_info.group(1) if blas_info else None,
                    "blas_loaded": loaded_blas(),
                    "threads": torch.get_num_threads(),
                    "compat": torch_compat.installed(),
                    "models": [{"params": p.n_total, "loss": l} for p, l in zip(peers, losses)],
                }
            ),
            file=out,
            flush=True,
        )
    except Exception as e:  # the bench prints this one line and goes on without the peer
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), file=out, flush=True)
        return 1
    for line in sys.stdin:
        req = json.loads(line)
        peer = peers[req["model"]]
        ms = []
        for _ in range(req["steps"]):
            t0 = time.perf_counter()
            peer.step()
            ms.append((time.perf_counter() - t0) * 1000)
        print(json.dumps({"ms": ms}), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
