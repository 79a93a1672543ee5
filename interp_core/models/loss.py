"""Next-token loss straight from the residual stream: a fused unembed + cross-entropy.

``linear_cross_entropy(x, W_U, b_U, targets)`` equals
``F.cross_entropy(x @ W_U + b_U, targets)`` without ever holding all [rows, d_vocab]
logits. It walks the rows in chunks, and for each chunk computes the logits, the softmax,
the loss and (when a gradient is wanted) the chunk's gradients at once, while the chunk is
still in cache. At a vocabulary of 8,192 the fp32 logits of a 32 x 128 batch are 130 MB,
and the plain path makes about six passes over them in memory (bias add, slice copy,
log-softmax, its backward, the NLL backward's zeros, the slice's zero-padded gradient).
The idea is Liger-Kernel's fused linear cross-entropy, written with plain torch ops.

Two sizes bound the memory: a *chunk* (rows whose logits are made at once) and a *block*
(rows whose logit gradients are kept for one ``W_U`` gradient product: that product is
much faster with many rows at a time than summed over small chunks). Both are a few MB to
a few tens of MB on CPU, independent of the batch.

Under autocast the products run in the autocast dtype (as ``x @ W_U`` would) and the
softmax in fp32 (as autocast's ``cross_entropy`` would). The gradient is computed in the
forward pass, so the result supports ``backward()`` but not double backward.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

CHUNK_ELEMENTS = {"cpu": 2**21, "cuda": 2**26}
"""Logits per chunk (rows x d_vocab). On CPU 2M fp32 logits (8 MB) stay in cache while the
chunk's softmax and gradients are made; on CUDA the chunk only bounds memory (256 MB fp32)
and few, large chunks keep kernel launches few."""
BLOCK_ELEMENTS = {"cpu": 2**23, "cuda": 2**26}
"""Logit gradients kept for one ``W_U`` gradient product (32 MB fp32 on CPU)."""
FUSED_MIN_VOCAB = 512
"""Below this vocabulary the logits are small and the plain path is faster (fewer ops:
0.5 ms less per 32 x 128 batch at a vocabulary of 65, measured on CPU)."""


def _onednn_fp32() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(
            torch.ops.mkldnn, "_linear_pointwise"
        )
    except (AttributeError, RuntimeError):
        return False


ONEDNN_FP32 = _onednn_fp32()
"""Whether fp32 products on CPU go through oneDNN (see :func:`_linear`)."""


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``x @ weight.T + bias`` for x [rows, in] and weight [out, in].

    fp32 on CPU goes through oneDNN's inner product when torch has it: torch's fp32 ``mm``
    calls MKL, which on the lab's AMD sandbox runs about 2.2x slower (measured on the
    unembedding shapes; see bench/RESULTS.md). bf16 ``mm`` already uses oneDNN.
    """
    if ONEDNN_FP32 and x.device.type == "cpu" and x.dtype == torch.float32:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


def _rows(sizes: dict[str, int], n_rows: int, d_vocab: int, device_type: str) -> int:
    elements = sizes.get(device_type, sizes["cpu"])
    return max(1, min(n_rows, elements // d_vocab))


def _slices(stop: int, size: int) -> list[slice]:
    return [slice(i, min(stop, i + size)) for i in range(0, stop, size)]


def _softmax(logits: torch.Tensor, out: torch.Tensor | None) -> torch.Tensor:
    """fp32 softmax over the vocabulary; fp32 logits write it straight into ``out``."""
    if out is not None and logits.dtype == torch.float32 and out.dtype == torch.float32:
        return torch.ops.aten._softmax.out(logits, 1, False, out=out)
    return torch.softmax(logits, dim=1, dtype=torch.float32)


def _nll(probs: torch.Tensor, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """-log softmax(logits)[target] per row [chunk], from the softmax already computed.

    ``-log probs[target]`` would be inf where that probability underflows fp32, so use
    ``logsumexp = max logit - log(max prob)``: the largest probability is at least
    1 / d_vocab and never underflows. No branch, so no device sync on CUDA.
    """
    lse = logits.amax(1).float() - probs.amax(1).log()  # [chunk]
    return lse - logits.gather(1, target.unsqueeze(1)).squeeze(1).float()  # [chunk]


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``x @ weight + bias``; the gradients are made in ``forward``."""

    @staticmethod
    def forward(ctx, x, weight, bias, targets, compute_dtype):
        n_rows, d_vocab, device = x.shape[0], weight.shape[1], x.device
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        xc = x.to(compute_dtype)  # [rows, d_model]
        wc = weight.to(compute_dtype)  # [d_model, d_vocab]
        wc_t = wc.t().contiguous()  # [d_vocab, d_model]
        bc = bias.to(compute_dtype)  # [d_vocab]
        loss = torch.zeros((), dtype=torch.float32, device=device)
        grad_x = torch.empty_like(xc) if need_x else None  # [rows, d_model]
        grad_w = torch.zeros(wc.shape, dtype=torch.float32, device=device) if need_w else None
        grad_b = torch.zeros(bc.shape, dtype=torch.float32, device=device) if need_b else None
        chunk = _rows(CHUNK_ELEMENTS, n_rows, d_vocab, device.type)
        block = max(chunk, _rows(BLOCK_ELEMENTS, n_rows, d_vocab, device.type)) // chunk * chunk
        for first in range(0, n_rows, block):
            size = min(block, n_rows - first)
            # The block's logit gradients [block, d_vocab], kept for one product with x.
            kept = xc.new_empty((size, d_vocab)) if need_w else None
            for local in _slices(size, chunk):  # rows within the block
                rows = slice(first + local.start, first + local.stop)
                part = None if kept is None else kept[local]  # [chunk, d_vocab]
                logits = _linear(xc[rows], wc_t, bc)  # [chunk, d_vocab]
                probs = _softmax(logits, out=part)  # [chunk, d_vocab], fp32
                loss += _nll(probs, logits, targets[rows]).sum()
                if not (need_x or need_w or need_b):
                    continue
                hit = torch.arange(local.stop - local.start, device=device)  # [chunk]
                probs[hit, targets[rows]] -= 1.0  # rows * d loss / d logits = softmax - onehot
                if need_b:
                    grad_b += probs.sum(0)
                if probs.dtype != compute_dtype:  # to bf16, into the kept block if there is one
                    probs = probs.to(compute_dtype) if part is None else part.copy_(probs)
                if need_x:
                    grad_x[rows] = _linear(probs, wc, None)  # [chunk, d_model]
            if need_w:  # x.T @ grad_logits over the block's rows: [d_model, d_vocab]
                grad_w += _linear(xc[first : first + size].t().contiguous(), kept.t(), None)
        scale = 1.0 / n_rows
        ctx.dtypes = (x.dtype, weight.dtype, bias.dtype)
        ctx.grads = [None if g is None else g.mul_(scale) for g in (grad_x, grad_w, grad_b)]
        return loss * scale

    @staticmethod
    def backward(ctx, grad_loss):
        grads = [None if g is None else g * grad_loss for g in ctx.grads]
        return *[None if g is None else g.to(t) for g, t in zip(grads, ctx.dtypes)], None, None


def linear_cross_entropy(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Mean cross-entropy of the logits ``x @ weight + bias`` against ``targets``.

    Args:
        x: residual stream rows [rows, d_model] (already through ``ln_final``).
        weight: the unembedding ``W_U`` [d_model, d_vocab].
        bias: the unembedding bias ``b_U`` [d_vocab].
        targets: int64 token ids [rows].

    Returns:
        A float32 scalar, equal to ``F.cross_entropy(x @ weight + bias, targets)`` up to
        float rounding.

    Examples:
        >>> loss = linear_cross_entropy(resid.reshape(-1, d_model), W_U, b_U, next_tokens)
        >>> loss.backward()
    """
    device_type = x.device.type
    if torch.is_autocast_enabled(device_type):
        compute_dtype = torch.get_autocast_dtype(device_type)
    else:
        compute_dtype = torch.promote_types(x.dtype, weight.dtype)
    if x.shape[0] == 0 or weight.shape[1] < FUSED_MIN_VOCAB:
        return F.cross_entropy(torch.addmm(bias, x, weight).float(), targets)
    with torch.autocast(device_type, enabled=False):
        return _LinearCrossEntropy.apply(x, weight, bias, targets, compute_dtype)
