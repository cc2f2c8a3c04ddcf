"""Softmax attention over many keys, computed one block of queries at a time.

Pyramid attention matches every query patch against every key patch of every pyramid level.
The score matrix has ``N x L`` entries (``L`` is about 3.3 N for the default pyramid), so
it is never built whole: the softmax is per query, so query blocks are independent and exact.

Tensors use the column layout that ``unfold``/``fold`` produce, which lets every matrix
product read its operands without a copy:

* ``queries``: ``B x d x N``  (one column per query patch)
* ``keys``:    ``B x d x L``  (normalised key patches)
* ``values``:  ``B x e x L``
* result:      ``B x e x N``
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["attend", "block_rows_for_budget", "DEFAULT_BLOCK_BYTES"]

#: Default memory for one block of scores (the backward pass holds two such blocks).
DEFAULT_BLOCK_BYTES = 128 * 2**20


def block_rows_for_budget(n_queries: int, n_keys: int, element_bytes: int,
                          budget_bytes: int, buffers: int = 1) -> int:
    """How many query rows fit in ``budget_bytes`` when each row holds ``n_keys`` scores.

    Blocks are taken per sample, so the batch size does not enter the budget.

    >>> block_rows_for_budget(10_000, 1_000, 4, 400_000)
    100
    >>> block_rows_for_budget(10, 1_000, 4, 400_000)
    10
    """
    per_row = max(1, n_keys) * element_bytes * buffers
    return int(max(1, min(n_queries, budget_bytes // per_row)))


class _BlockwiseAttention(torch.autograd.Function):
    """Exact softmax attention with a backward pass that recomputes scores block by block.

    A block of scores is kept as ``L x rows`` (one column per query): the matching product
    ``keys^T @ queries`` then has the long dimension first, which runs markedly faster
    on CPU BLAS than the ``rows x L`` orientation, and the aggregation ``values @ probs``
    lands directly in the output's column layout.
    """

    @staticmethod
    def forward(ctx, queries, keys, values, scale, budget_bytes):  # noqa: D102
        batch, _, n_queries = queries.shape
        n_keys = keys.shape[2]
        out = queries.new_empty(batch, values.shape[1], n_queries)
        logsumexp = queries.new_empty(batch, n_queries)
        rows = block_rows_for_budget(n_queries, n_keys, queries.element_size(),
                                     budget_bytes)
        for b in range(batch):
            keys_rows = keys[b].t().contiguous()  # L x d
            for start in range(0, n_queries, rows):
                stop = min(start + rows, n_queries)
                # Scaling the few queries is cheaper than scaling the L x rows scores.
                scores = torch.mm(keys_rows, queries[b, :, start:stop] * scale)
                col_max = scores.amax(dim=0, keepdim=True)
                scores.sub_(col_max).exp_()
                col_sum = scores.sum(dim=0, keepdim=True)
                # Normalising after the product costs e divisions per query instead of L.
                out[b, :, start:stop] = torch.mm(values[b], scores).div_(col_sum)
                logsumexp[b, start:stop] = (col_max + col_sum.log()).squeeze(0)
        ctx.save_for_backward(queries, keys, values, out, logsumexp)
        ctx.scale = scale
        ctx.budget_bytes = budget_bytes
        return out

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        queries, keys, values, out, logsumexp = ctx.saved_tensors
        scale = ctx.scale
        batch, _, n_queries = queries.shape
        n_keys = keys.shape[2]
        need_q, need_k, need_v = ctx.needs_input_grad[:3]
        grad_q = torch.zeros_like(queries) if need_q else None
        grad_k = torch.zeros_like(keys) if need_k else None
        grad_v = torch.zeros_like(values) if need_v else None
        # d softmax: dS = P * (dP - colsum(dO * O)), P recomputed from the saved logsumexp.
        delta = (grad_out * out).sum(dim=1)
        rows = block_rows_for_budget(n_queries, n_keys, queries.element_size(),
                                     ctx.budget_bytes, buffers=2)
        for b in range(batch):
            keys_rows = keys[b].t().contiguous()
            for start in range(0, n_queries, rows):
                stop = min(start + rows, n_queries)
                q_block = queries[b, :, start:stop]
                g_block = grad_out[b, :, start:stop]
                probs = torch.mm(keys_rows, q_block * scale)
                probs.sub_(logsumexp[b, None, start:stop]).exp_()
                if need_v:
                    grad_v[b].addmm_(g_block, probs.t())
                if need_q or need_k:
                    grad_scores = torch.mm(values[b].t(), g_block)
                    grad_scores.sub_(delta[b, None, start:stop]).mul_(probs)
                    if need_q:
                        grad_q[b, :, start:stop] = torch.mm(keys[b], grad_scores).mul_(scale)
                    if need_k:
                        grad_k[b].addmm_(q_block, grad_scores.t(), alpha=scale)
        return grad_q, grad_k, grad_v, None, None


def _split_high_low(t: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    high = t.to(dtype)
    low = (t - high.to(t.dtype)).to(dtype)
    return high, low


def _attend_split_precision(queries, keys, values, scale, budget_bytes):
    """Low-precision attention whose scores keep about 16 mantissa bits.

    Queries and keys (float32) are split into high and low halves in the values' dtype;
    ``[qh, qh, ql] . [kh, kl, kh] = qh.kh + qh.kl + ql.kh`` recovers the float32 product to
    about 2^-16 relative while running on low-precision matrix units. The softmax and the
    accumulation happen in float32 inside ``scaled_dot_product_attention``; only the
    aggregation of values sees bfloat16/float16 probabilities.
    """
    low = values.dtype
    q_high, q_low = _split_high_low(queries.transpose(1, 2), low)
    k_high, k_low = _split_high_low(keys.transpose(1, 2), low)
    q3 = torch.cat([q_high, q_high, q_low], dim=-1)
    k3 = torch.cat([k_high, k_low, k_high], dim=-1)
    v = values.transpose(1, 2)
    width = max(q3.shape[-1], v.shape[-1])
    # Fused CPU kernels need one head size for queries, keys and values: pad with zeros.
    q3 = F.pad(q3, (0, width - q3.shape[-1]))
    k3 = F.pad(k3, (0, width - k3.shape[-1]))
    v_padded = F.pad(v, (0, width - v.shape[-1]))
    n_queries, n_keys = q3.shape[1], k3.shape[1]
    rows = block_rows_for_budget(n_queries, n_keys, 4, budget_bytes, buffers=2)
    blocks = []
    for start in range(0, n_queries, rows):
        block = F.scaled_dot_product_attention(
            q3[:, None, start:start + rows], k3[:, None], v_padded[:, None], scale=scale)
        blocks.append(block[:, 0, :, : v.shape[-1]])
    return torch.cat(blocks, dim=1).transpose(1, 2)


def attend(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scale: float,
           budget_bytes: int = DEFAULT_BLOCK_BYTES) -> torch.Tensor:
    """``values @ softmax(scale * keys^T queries)`` in column layout, blockwise and exact.

    Float32/float64 inputs take the exact blockwise kernel (memory-frugal forward and
    backward). When ``values`` are bfloat16/float16 while ``queries``/``keys`` are float32,
    the split-precision low-precision kernel is used.

    Args:
        queries: ``B x d x N``.
        keys: ``B x d x L`` (already normalised).
        values: ``B x e x L``.
        scale: softmax scale (10 in the paper).
        budget_bytes: memory allowed for one block of scores.

    Returns:
        ``B x e x N`` tensor in the dtype of ``values``.

    >>> q, k, v = torch.randn(1, 4, 5), torch.randn(1, 4, 7), torch.randn(1, 3, 7)
    >>> full = v[0] @ torch.softmax(2.0 * k[0].t() @ q[0], dim=0)
    >>> torch.allclose(attend(q, k, v, 2.0)[0], full, atol=1e-6)
    True
    """
    if values.dtype in (torch.bfloat16, torch.float16):
        return _attend_split_precision(queries, keys, values, scale, budget_bytes)
    if not math.isfinite(scale):
        raise ValueError(f"softmax scale must be finite, got {scale}")
    return _BlockwiseAttention.apply(queries, keys, values.to(queries.dtype), float(scale),
                                     int(budget_bytes))
