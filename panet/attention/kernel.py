"""Softmax attention over many keys, computed one block of queries at a time.

Pyramid attention matches every query patch against every key patch of every pyramid level.
The score matrix has ``N x L`` entries (``L`` is about 3.3 N for the default pyramid). The
softmax is per query, so query blocks are independent and exact: a forward pass holds one
block at a time, and only training keeps all blocks (when they fit in ``keep_bytes``).

Tensors use the column layout that ``unfold``/``fold`` produce, which lets every matrix
product read its operands without a copy:

* ``queries``: ``B x d x N``  (one column per query patch)
* ``keys``:    ``B x d x L``  (normalised key patches)
* ``values``:  ``B x e x L``
* result:      ``B x e x N``
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F

__all__ = ["attend", "attend_sdpa", "block_rows", "DEFAULT_BLOCK_BYTES", "CACHE_BLOCK_BYTES",
           "DEFAULT_KEEP_BYTES"]

#: Upper bound of the memory of one block of scores (the backward pass holds two blocks).
DEFAULT_BLOCK_BYTES = 128 * 2**20
#: Preferred size of one block on CPU: the passes over a block (max, exp, sum, product
#: with the gradient) then run in cache instead of memory, about 3-6x faster each.
CACHE_BLOCK_BYTES = 8 * 2**20
#: Blocks narrower than this many queries make the accumulating products slow.
MIN_BLOCK_ROWS = 128
#: When training, the exponentiated scores of the whole batch are kept for the backward
#: pass if they fit in this many bytes (saves recomputing the matching: 1/10 of the flops).
DEFAULT_KEEP_BYTES = 2 * 2**30


def block_rows(n_queries: int, n_keys: int, element_bytes: int, budget_bytes: int,
               cache_bytes: int = CACHE_BLOCK_BYTES) -> int:
    """Queries per block: about ``cache_bytes`` of scores (at least ``MIN_BLOCK_ROWS``
    queries), never more than ``budget_bytes`` allows, at least one, at most all.

    >>> block_rows(10_000, 1_000, 4, 10**9, cache_bytes=400_000)
    128
    >>> block_rows(10_000, 1_000, 4, 400_000, cache_bytes=4_000_000)
    100
    >>> block_rows(10, 1_000, 4, 10**9)
    10
    """
    per_row = max(1, n_keys) * element_bytes
    rows = min(max(MIN_BLOCK_ROWS, cache_bytes // per_row), budget_bytes // per_row)
    return int(max(1, min(n_queries, rows)))


class _BlockwiseAttention(torch.autograd.Function):
    """Exact softmax attention, one block of queries at a time, forward and backward.

    A block of scores is kept as ``L x rows`` (one column per query): the matching product
    ``keys^T @ queries`` then has the long dimension first, which runs markedly faster on
    CPU BLAS than ``rows x L``, and ``values @ probs`` lands in the output's column layout.
    A block spans ``group`` images (batched products): one on CPU, where a block sized for
    the cache is fastest, and as many as the memory allows on a GPU, where each product is
    a kernel launch and a loop over the images would make the launches, not the
    arithmetic, the cost of a training step.

    Matching and softmax are computed in the queries' dtype (float32 or float64). Values
    may be bfloat16/float16: the exponentials are then rounded to that dtype (and kept so),
    and the aggregation and all four products of the backward pass run in it, with float32
    accumulation; only the matching product stays in float32 (see ``_low_precision_block``).
    (Under ``train.precision: tf32`` on a GPU the float32 products round their operands to
    TF32, as every float32 matrix product of that process does.)

    The backward pass either reuses the exponentiated scores kept by the forward pass
    (when ``keep`` was granted: training sizes, where they fit) or recomputes them.
    """

    @staticmethod
    def forward(ctx, queries, keys, values, scale, budget_bytes, keep, group):  # noqa: D102
        # Products here pick their own dtypes; autocast (which the engine may also restore
        # for the backward pass) must not recast them.
        with torch.autocast(queries.device.type, enabled=False):
            return _BlockwiseAttention._forward(ctx, queries, keys, values, scale,
                                                budget_bytes, keep, group)

    @staticmethod
    def backward(ctx, grad_out):  # noqa: D102
        with torch.autocast(grad_out.device.type, enabled=False):
            return _BlockwiseAttention._backward(ctx, grad_out)

    @staticmethod
    def _forward(ctx, queries, keys, values, scale, budget_bytes, keep, group):
        batch, _, n_queries = queries.shape
        n_keys = keys.shape[2]
        low = values.dtype if values.dtype != queries.dtype else None
        cache = CACHE_BLOCK_BYTES if queries.device.type == "cpu" else budget_bytes // 2
        rows = block_rows(n_queries, n_keys, queries.element_size(), budget_bytes // 2, cache)
        out = queries.new_empty(batch, values.shape[1], n_queries)
        # per query: log-sum-exp of the scores, or (when kept) the column sum of the block
        norms = queries.new_empty(batch, n_queries)
        kept = []
        for first in range(0, batch, group):
            images = slice(first, min(first + group, batch))
            keys_rows = keys[images].transpose(1, 2).contiguous()  # g x L x d
            for start in range(0, n_queries, rows):
                stop = min(start + rows, n_queries)
                # Scaling the few queries is cheaper than scaling the L x rows scores.
                scores = torch.bmm(keys_rows, queries[images, :, start:stop] * scale)
                col_max = scores.amax(dim=1, keepdim=True)
                scores.sub_(col_max).exp_()
                col_sum = scores.sum(dim=1, keepdim=True)
                # (mixed-dtype passes, such as exp or a float32 sum straight from
                # bfloat16, run several times slower than a cast and a plain pass here)
                probs = scores if low is None else scores.to(low)
                # Normalising after the product costs e divisions per query instead of L.
                out[images, :, start:stop] = torch.bmm(values[images], probs).to(
                    out.dtype).div_(col_sum)
                if keep:
                    kept.append(probs)
                    norms[images, start:stop] = col_sum.squeeze(1)
                else:
                    norms[images, start:stop] = (col_max + col_sum.log()).squeeze(1)
        ctx.save_for_backward(queries, keys, values, out, norms)
        ctx.kept = kept
        ctx.rows, ctx.group = rows, group
        ctx.scale = scale
        return out

    @staticmethod
    def _backward(ctx, grad_out):
        queries, keys, values, out, norms = ctx.saved_tensors
        kept = ctx.kept
        scale, rows, group = ctx.scale, ctx.rows, ctx.group
        batch, dim, n_queries = queries.shape
        n_keys = keys.shape[2]
        low = values.dtype if values.dtype != queries.dtype else None
        need_q, need_k, need_v = ctx.needs_input_grad[:3]
        # Gradients of keys and values accumulate over blocks as L x d and L x e: with the
        # long dimension first, these products run faster than as d x L and e x L.
        grad_q = torch.zeros_like(queries) if need_q else None
        grad_k = queries.new_zeros(batch, n_keys, dim) if need_k else None
        grad_v = queries.new_zeros(batch, n_keys, values.shape[1]) if need_v else None
        # d softmax: dS = P * (dP - colsum(dO * O)).
        delta = (grad_out * out).sum(dim=1) if low is None else None
        block = 0
        column = queries.new_ones(1, n_keys, 1)
        for first in range(0, batch, group):
            images = slice(first, min(first + group, batch))
            ones = column.expand(images.stop - first, -1, -1)
            if not kept:
                keys_aug = torch.cat([keys[images].transpose(1, 2), ones], dim=2)  # g x L x (d+1)
            if low is None:
                # [V; 1]^T [g; -delta] = V^T g - delta in one product (no pass over L x rows)
                values_aug = torch.cat([values[images].transpose(1, 2), ones], dim=2)
            else:
                keys_low = keys[images].to(low)
                values_t = values[images].transpose(1, 2)
            for start in range(0, n_queries, rows):
                stop = min(start + rows, n_queries)
                q_block = queries[images, :, start:stop]
                g_block = grad_out[images, :, start:stop]
                if kept:
                    # unnormalised exponentials: fold 1/column sum into the few gradients
                    probs = kept[block]
                    block += 1
                    sums = norms[images, None, start:stop]
                else:
                    shifted = torch.cat([q_block * scale, -norms[images, None, start:stop]],
                                        dim=1)
                    probs = torch.bmm(keys_aug, shifted).exp_()
                    if low is not None:
                        sums, probs = probs.sum(dim=1, keepdim=True), probs.to(low)
                if low is not None:
                    _low_precision_block(probs, sums, g_block, q_block, keys_low, values_t,
                                         scale, grad_q[images, :, start:stop] if need_q
                                         else None, grad_k[images] if need_k else None,
                                         grad_v[images] if need_v else None)
                    continue
                d_block = delta[images, None, start:stop]
                if kept:
                    inverse = sums.reciprocal()
                    g_block, d_block = g_block * inverse, d_block * inverse
                if need_v:
                    grad_v[images].baddbmm_(probs, g_block.transpose(1, 2))
                if need_q or need_k:
                    grad_scores = torch.bmm(values_aug, torch.cat([g_block, -d_block], dim=1))
                    grad_scores.mul_(probs)
                    if need_q:
                        grad_q[images, :, start:stop] = torch.bmm(keys[images],
                                                                  grad_scores).mul_(scale)
                    if need_k:
                        grad_k[images].baddbmm_(grad_scores, q_block.transpose(1, 2),
                                                alpha=scale)
        if need_k:
            grad_k = grad_k.transpose(1, 2).contiguous()
        if need_v:
            grad_v = grad_v.transpose(1, 2).to(values.dtype, memory_format=torch.contiguous_format)
        return grad_q, grad_k, grad_v, None, None, None, None


def _low_precision_block(probs, sums, g_block, q_block, keys_low, values_t, scale,
                         grad_q, grad_k, grad_v) -> None:
    """One block of the backward pass with bfloat16/float16 products (float32 accumulation).

    ``probs`` (``g x L x rows``, the values' dtype) are exponentials whose column sums are
    ``sums`` (float32, before rounding); the attention weights are ``probs / sums``. All
    four products run in the low dtype (only the forward's matching stays float32).
    Elementwise passes stay in one dtype (mixed-dtype passes are several times slower on
    CPU).

    The softmax gradient is ``dS = P * (dP - c)`` with ``c`` the P-weighted mean of ``dP``.
    ``c`` is taken from the same rounded ``P * dP`` it is subtracted from, in two rounds: the
    first removes all but a rounding error of ``c`` (~2^-9 of it), the second removes that
    (its own error is ~2^-9 of a ~2^-9 remainder). A ``c`` rounded once would bias every
    query's gradient along its weighted mean key wherever the weights are spread out.
    """
    low, high = probs.dtype, sums.dtype
    g_low = (g_block / sums).to(low)
    if grad_v is not None:
        grad_v.add_(torch.bmm(probs, g_low.transpose(1, 2)).to(high))
    if grad_q is None and grad_k is None:
        return
    d_scores = torch.bmm(values_t, g_low).mul_(probs)         # P * dP (unnormalised P)
    for _ in range(2):
        mean = (d_scores.sum(dim=1, keepdim=True).to(high) / sums).to(low)
        d_scores.addcmul_(probs, mean, value=-1.0)
    if grad_q is not None:
        grad_q.copy_(torch.bmm(keys_low, d_scores).to(high).mul_(scale))
    if grad_k is not None:
        grad_k.add_(torch.bmm(d_scores, q_block.transpose(1, 2).to(low)).to(high), alpha=scale)


def attend(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scale: float,
           budget_bytes: int = DEFAULT_BLOCK_BYTES,
           keep_bytes: int = DEFAULT_KEEP_BYTES,
           group_images: bool | None = None) -> torch.Tensor:
    """``values @ softmax(scale * keys^T queries)`` in column layout, blockwise and exact.

    Matching and softmax run in the dtype of ``queries`` (float32 or float64). If
    ``values`` are bfloat16/float16, the aggregation and its gradients are low-precision
    matrix products with float32 accumulation (the probabilities are in [0, 1], so little is
    lost); otherwise values are computed in the queries' dtype.

    Args:
        queries: ``B x d x N``.
        keys: ``B x d x L`` (already normalised).
        values: ``B x e x L``.
        scale: softmax scale (10 in the paper).
        budget_bytes: memory allowed for one block of scores (the backward pass holds two).
        keep_bytes: when gradients are wanted and the scores of the whole batch fit in this
            many bytes, the backward pass reuses them instead of recomputing them.
        group_images: let a block span several images (batched products) when a whole
            image fits in one: as many as ``budget_bytes`` allows, or, when the scores are
            kept anyway, as many as ``keep_bytes`` allows. ``None``: on every device but the
            CPU (one product per block instead of one per image and block; same results).

    Returns:
        ``B x e x N`` tensor in the dtype of ``queries``.

    >>> q, k, v = torch.randn(1, 4, 5), torch.randn(1, 4, 7), torch.randn(1, 3, 7)
    >>> full = v[0] @ torch.softmax(2.0 * k[0].t() @ q[0], dim=0)
    >>> torch.allclose(attend(q, k, v, 2.0)[0], full, atol=1e-6)
    True
    """
    if not math.isfinite(scale):
        raise ValueError(f"softmax scale must be finite, got {scale}")
    if not queries.is_floating_point() or queries.dtype in (torch.bfloat16, torch.float16):
        raise TypeError(f"queries and keys must be float32 or float64, got {queries.dtype}")
    if values.dtype not in (torch.bfloat16, torch.float16):
        values = values.to(queries.dtype)
    batch, _, n_queries = queries.shape
    wants_grad = torch.is_grad_enabled() and any(
        t.requires_grad for t in (queries, keys, values))
    per_image = n_queries * keys.shape[2] * queries.element_size()
    # kept exponentials are stored in the values' dtype (bfloat16: half the bytes)
    kept_per_image = n_queries * keys.shape[2] * values.element_size()
    keep = wants_grad and batch * kept_per_image <= keep_bytes
    if group_images is None:
        group_images = queries.device.type != "cpu"
    group = 1
    if group_images and per_image <= budget_bytes // 2:
        group = max(1, min(batch, (keep_bytes if keep else budget_bytes // 2) // per_image))
    return _BlockwiseAttention.apply(queries, keys.to(queries.dtype), values, float(scale),
                                     int(budget_bytes), keep, group)


#: Queries per block in the exported (ONNX) graph: the scores of one block are
#: ``EXPORT_BLOCK_ROWS x L`` floats, 84 MB for a 512 x 512 image with two pyramid levels.
EXPORT_BLOCK_ROWS = 64


def attend_for_export(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                      scale: float, rows: int = EXPORT_BLOCK_ROWS) -> torch.Tensor:
    """:func:`attend`'s function for ``torch.export``/ONNX: the same blocks of queries, as a
    ``scan`` over blocks (an ONNX ``Scan``), so the exported graph holds one block of scores
    at a time instead of the whole ``N x L`` matrix. Forward only, float32.

    >>> q, k, v = torch.randn(1, 4, 300), torch.randn(1, 4, 70), torch.randn(1, 5, 70)
    >>> whole = v @ torch.softmax(10 * k.transpose(1, 2) @ q, dim=1)
    >>> torch.allclose(attend_for_export(q, k, v, 10.0, rows=64), whole, atol=1e-5)
    True
    """
    from torch._higher_order_ops.scan import scan

    batch, dim, n_queries = queries.shape
    blocks = (n_queries + rows - 1) // rows
    # blocks x batch x d x rows; the last block is padded with zero queries, cut below
    # the softmax's scale goes on the queries once, not on every block's scores
    padded = F.pad(queries * scale, (0, blocks * rows - n_queries))
    stacked = padded.reshape(batch, dim, blocks, rows).permute(2, 0, 1, 3)
    keys_t = keys.transpose(1, 2)

    def block(carry: torch.Tensor, q_block: torch.Tensor):
        probs = torch.softmax(keys_t @ q_block, dim=1)
        return carry.clone(), values @ probs

    _, gathered = scan(block, queries.new_zeros(1), stacked)
    gathered = gathered.permute(1, 2, 0, 3).reshape(batch, values.shape[1], blocks * rows)
    return gathered[:, :, :n_queries]


def fold_for_export(patches: torch.Tensor, height: int, width: int, patch_size: int
                    ) -> torch.Tensor:
    """``F.fold(patches, (height, width), patch_size, padding=patch_size // 2)`` (stride 1)
    as a grouped transposed convolution with one-hot kernels: the same sums, but exported
    as ``ConvTranspose`` instead of ``Col2Im``, which OpenCV's
    ``dnn`` lacks.

    >>> p = torch.randn(2, 4 * 9, 7 * 5)
    >>> torch.equal(fold_for_export(p, 7, 5, 3), F.fold(p, (7, 5), 3, padding=1))
    True
    """
    batch, rows, _ = patches.shape
    area = patch_size * patch_size
    one_hot = torch.eye(area, dtype=patches.dtype, device=patches.device)
    weight = one_hot.reshape(area, 1, patch_size, patch_size).repeat(rows // area, 1, 1, 1)
    return F.conv_transpose2d(patches.reshape(batch, rows, height, width), weight,
                              padding=patch_size // 2, groups=rows // area)


def fused_backends() -> list:
    """The ``scaled_dot_product_attention`` backends that never hold the whole score
    matrix: flash (CUDA, and PyTorch's CPU kernel), memory-efficient and cuDNN."""
    from torch.nn.attention import SDPBackend

    return [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
            SDPBackend.CUDNN_ATTENTION]


def attend_sdpa(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                scale: float, restrict_to_fused: bool = False,
                value_chunk: int | None = None) -> torch.Tensor:
    """:func:`attend`'s function as one fused attention call,
    ``torch.nn.functional.scaled_dot_product_attention`` (one head, the queries as the
    sequence): matching, softmax and aggregation without the score blocks written out on
    backends that fuse them (flash, memory-efficient, cuDNN). Differentiable by autograd.

    ``restrict_to_fused`` forbids the unfused ``math`` backend, which would hold the whole
    ``N x L`` score matrix: a ``RuntimeError`` then says that no fused backend takes these
    shapes or dtypes (the caller falls back to :func:`attend`).

    ``value_chunk`` splits the values' channels into calls of at most that many: the
    output is linear in the values, so this is exact, at the price of matching once per
    call. It serves backends that need the values' width equal to the matching width, or
    that cap it (flash attention: at most 256, the same for queries, keys and values).

    >>> q, k, v = torch.randn(2, 4, 30), torch.randn(2, 4, 70), torch.randn(2, 10, 70)
    >>> torch.allclose(attend_sdpa(q, k, v, 10.0), attend(q, k, v, 10.0), atol=1e-5)
    True
    >>> torch.allclose(attend_sdpa(q, k, v, 10.0, value_chunk=4), attend(q, k, v, 10.0),
    ...                atol=1e-5)
    True
    """
    if value_chunk is not None and value_chunk < values.shape[1]:
        return torch.cat([attend_sdpa(queries, keys, part, scale, restrict_to_fused)
                          for part in values.split(value_chunk, dim=1)], dim=1)
    # every fused backend needs the channels contiguous (a copy of the patches, small
    # beside the scores it saves)
    q = queries.transpose(1, 2).contiguous().unsqueeze(1)   # B x 1 x N x d
    k = keys.transpose(1, 2).contiguous().unsqueeze(1)      # B x 1 x L x d
    v = values.transpose(1, 2).contiguous().unsqueeze(1)    # B x 1 x L x dv
    if restrict_to_fused:
        from torch.nn.attention import sdpa_kernel

        fused = fused_backends()
        # a refusal is a RuntimeError for the caller; PyTorch's warnings saying why each
        # backend declined would repeat on every call
        with sdpa_kernel(fused), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out = F.scaled_dot_product_attention(q, k, v, scale=scale)
    else:
        out = F.scaled_dot_product_attention(q, k, v, scale=scale)
    return out.squeeze(1).transpose(1, 2)
