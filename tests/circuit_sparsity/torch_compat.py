"""Two torch functions the reference model code calls, for torch versions that predate them.

openai/circuit_sparsity's gpt.py uses ``torch.nn.RMSNorm`` (torch >= 2.4) and
``F.scaled_dot_product_attention(..., scale=)`` (torch >= 2.1). Debian 12 ships torch 1.13, so
``install()`` adds both where they are missing, written from their documented definitions:

- RMSNorm (torch docs, ``torch.nn.RMSNorm``; ATen's composite ``rms_norm``):
  ``y = x * rsqrt(mean(x**2, last dims) + eps) * weight``, ``eps=None`` meaning
  ``torch.finfo(x.dtype).eps``.
- scaled_dot_product_attention (torch docs' "equivalent to" reference code):
  ``softmax(q @ k^T * scale + bias) @ v``, bias -inf above the diagonal for ``is_causal`` and
  the additive float ``attn_mask`` otherwise.

Where torch has them, nothing is replaced. ``installed()`` says what was added.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

_added = []


class RMSNorm(nn.Module):
    def __init__(self, normalized_shape, eps=None, elementwise_affine=True):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(normalized_shape)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(self.normalized_shape)) if elementwise_affine else None

    def forward(self, x):
        eps = torch.finfo(x.dtype).eps if self.eps is None else self.eps
        dims = tuple(range(-len(self.normalized_shape), 0))
        y = x * torch.rsqrt(x.pow(2).mean(dims, keepdim=True) + eps)
        return y * self.weight if self.weight is not None else y


def scaled_dot_product_attention(
    q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None
):
    assert dropout_p == 0.0, "inference only"
    L, S = q.size(-2), k.size(-2)
    scale_factor = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    bias = torch.zeros(L, S, dtype=q.dtype, device=q.device)
    if is_causal:
        keep = torch.ones(L, S, dtype=torch.bool, device=q.device).tril(diagonal=0)
        bias = bias.masked_fill(keep.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            bias = bias.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            bias = attn_mask + bias
    w = q @ k.transpose(-2, -1) * scale_factor
    w = torch.softmax(w + bias, dim=-1)
    return w @ v


def _version():
    major, minor = torch.__version__.split(".")[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def install():
    if not hasattr(nn, "RMSNorm"):
        nn.RMSNorm = RMSNorm
        _added.append("nn.RMSNorm")
    if _version() < (2, 1):
        F.scaled_dot_product_attention = scaled_dot_product_attention
        _added.append("F.scaled_dot_product_attention")


def installed():
    return list(_added)
