# sample_top_k from openai/circuit_sparsity's circuit_sparsity/inference/kernels.py (commit
# 8a029a3711b6), verbatim: gpt.py's init of sparse c_proj weights imports it.
# MIT License per that project's pyproject.toml; (c) the circuit_sparsity authors.
import torch


def sample_top_k(n: int, k: int, shape: tuple[int, ...]) -> torch.Tensor:
    del shape  # kept for API compatibility
    x = torch.randn(n)
    inds = torch.topk(x.abs(), k=k).indices
    vals = x[inds]
    return vals
