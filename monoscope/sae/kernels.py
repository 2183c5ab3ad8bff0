"""Hand-written forward/backward passes for the two hot paths of SAE training.

Why: autograd through a ReLU SAE makes several extra passes over the
[batch, d_sae] activations, and autograd through TopK scatters into a dense
[batch, d_sae] tensor and multiplies it by dense matrices although only k
entries per row are non-zero. Here the ReLU step is 5 matmuls plus a few fused
passes, and TopK touches only the k active rows of W_dec / columns of W_enc
(embedding_bag forward, CSR products and bincount backward).
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F


def _csr(*args, **kw) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(*args, check_invariants=False, **kw)


def _csr_transpose(idx: torch.Tensor, vals: torch.Tensor, n_cols: int) -> torch.Tensor:
    """The [n_cols, rows] CSR matrix of a row-major (idx, vals) sparse [rows, n_cols] matrix with k entries per row."""
    rows, k = idx.shape
    flat = idx.reshape(-1)
    order = torch.argsort(flat.to(torch.int32), stable=True)  # int32 sorts far faster than int64 on CPU
    counts = torch.bincount(flat, minlength=n_cols)
    ptr = torch.zeros(n_cols + 1, dtype=torch.long, device=idx.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    row_of = torch.div(order, k, rounding_mode="floor")
    return _csr(ptr, row_of, vals.reshape(-1)[order], (n_cols, rows))


def _ones_col(a: torch.Tensor) -> torch.Tensor:
    """[a | 1]: one extra column, so a bias or a row sum rides along inside the matmul instead of another pass."""
    return torch.cat([a, a.new_ones(a.shape[0], 1)], 1)


class _ReLULoss(torch.autograd.Function):
    """total = Σ||x - x̂||²/B + coef · Σ f·||W_dec||/B for f = ReLU((x - b_dec) W_enc + b_enc), x̂ = f W_dec + b_dec.

    Biases, the L1 term and the column sums are carried as an extra row/column of
    the five matmuls, so the only other passes over [B, d_sae] are the ReLU and
    its mask in the backward. `stats["fired"]` receives which latents fired.
    """

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, W_dec, b_dec, coef: float, stats: dict):
        B, d_in = x.shape
        xc1 = _ones_col(x - b_dec)  # [B, d_in + 1]
        f = torch.mm(xc1, torch.cat([W_enc, b_enc[None]], 0)).relu_()
        norms = W_dec.norm(dim=1)
        out = torch.mm(f, torch.cat([W_dec, norms[:, None]], 1))  # [B, d_in + 1]: x̂ - b_dec | Σ_j f_j ||W_dec_j||
        x_hat = out[:, :d_in].add_(b_dec)
        err = x_hat - x
        mse = err.pow(2).sum() / B
        l1 = out[:, d_in].sum() / B
        ctx.coef, ctx.stats = coef, stats
        ctx.set_materialize_grads(False)  # no zero-filled [B, d_sae] gradient for the unused output f
        ctx.save_for_backward(xc1, f, err, W_enc, W_dec, norms)
        ctx.mark_non_differentiable(f, x_hat, mse, l1)
        return mse + coef * l1, mse, l1, f, x_hat

    @staticmethod
    def backward(ctx, g_total, *_):
        xc1, f, err, W_enc, W_dec, norms = ctx.saved_tensors
        B, d_in = err.shape
        c = ctx.coef * g_total / B
        g1 = _ones_col(err * (2.0 * g_total / B))  # [d total / d x̂ | 1]
        # d/d f = g W_decᵀ + coef·||W_dec||/B (the ones column carries the constant), kept only where f > 0
        df = torch.mm(g1, torch.cat([W_dec.t(), (c * norms)[None]], 0))
        dpre = torch.ops.aten.threshold_backward.grad_input(df, f, 0.0, grad_input=df)
        dW_dec1 = torch.mm(f.t(), g1)  # [d_sae, d_in + 1]: f^T g | Σ_b f
        fsum = dW_dec1[:, d_in]
        dW_dec = dW_dec1[:, :d_in]
        if ctx.coef:
            dW_dec = dW_dec.addcmul(c * fsum[:, None], W_dec / norms[:, None].clamp_min(1e-12))
        dW_enc1 = torch.mm(xc1.t(), dpre)  # [d_in + 1, d_sae]: xcᵀ dpre | Σ_b dpre
        db_enc = dW_enc1[d_in]
        db_dec = g1[:, :d_in].sum(0) - W_enc @ db_enc
        ctx.stats["fired"] = fsum > 0
        return None, dW_enc1[:d_in], db_enc, dW_dec, db_dec, None, None


def relu_sae_loss(x, W_enc, b_enc, W_dec, b_dec, coef: float, stats: dict | None = None):
    """(total, mse, l1, f, x_hat) of a ReLU SAE with a hand-fused backward (x takes no gradient).

    After backward, `stats["fired"]` is a bool per latent: did it fire on this batch.
    """
    return _ReLULoss.apply(x, W_enc, b_enc, W_dec, b_dec, float(coef), {} if stats is None else stats)


class _TopKEncode(torch.autograd.Function):
    """(vals, idx) of the k largest pre-activations per row, ReLU'd; backward touches only those k columns."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, b_dec, k: int):
        xc = x - b_dec
        pre = torch.addmm(b_enc, xc, W_enc)
        vals, idx = pre.topk(k, dim=-1, sorted=False)
        del pre
        vals = vals.relu_()
        ctx.save_for_backward(xc, idx, vals, W_enc)
        ctx.mark_non_differentiable(idx)
        ctx.set_materialize_grads(False)
        return vals, idx

    @staticmethod
    def backward(ctx, g_vals, _g_idx):
        xc, idx, vals, W_enc = ctx.saved_tensors
        d_sae = W_enc.shape[1]
        dv = g_vals * (vals > 0)
        dW_encT = _csr_transpose(idx, dv, d_sae) @ xc  # [d_sae, d_in]
        db_enc = torch.bincount(idx.reshape(-1), weights=dv.reshape(-1), minlength=d_sae).to(dv.dtype)
        db_dec = -(W_enc @ db_enc)
        return None, dW_encT.t().contiguous(), db_enc, db_dec, None


def topk_encode(x, W_enc, b_enc, b_dec, k: int):
    return _TopKEncode.apply(x, W_enc, b_enc, b_dec, int(k))


class _SparseDecode(torch.autograd.Function):
    """Σ_j vals[:, j] · W_dec[idx[:, j]] for k entries per row, without forming the dense [rows, d_sae] matrix."""

    @staticmethod
    def forward(ctx, idx, vals, W_dec):
        ctx.save_for_backward(idx, vals, W_dec)
        return F.embedding_bag(idx, W_dec, per_sample_weights=vals, mode="sum")

    @staticmethod
    def backward(ctx, g):
        idx, vals, W_dec = ctx.saved_tensors
        g = g.contiguous()
        dvals = dW = None
        if ctx.needs_input_grad[1]:
            rows, k = idx.shape
            ptr = torch.arange(0, rows * k + 1, k, device=idx.device)
            pattern = _csr(
                ptr, idx.reshape(-1), torch.zeros(rows * k, dtype=g.dtype, device=g.device), (rows, W_dec.shape[0])
            )
            dvals = torch.sparse.sampled_addmm(pattern, g, W_dec.t(), beta=0.0).values().reshape(rows, k)
        if ctx.needs_input_grad[2]:
            dW = _csr_transpose(idx, vals, W_dec.shape[0]) @ g
        return None, dvals, dW


def sparse_decode(idx: torch.Tensor, vals: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    return _SparseDecode.apply(idx, vals, W_dec)
