"""Hand-written forward/backward passes for the hot paths of SAE training.

Why: autograd through a ReLU SAE makes several extra passes over the
[batch, d_sae] activations, and autograd through TopK or BatchTopK scatters
into a dense [batch, d_sae] tensor and multiplies it by dense matrices
although only k entries per row (k·batch in all, for BatchTopK) are non-zero.
Here the ReLU step is 5 matmuls plus a few fused passes, and the TopK family
touches only the active rows of W_dec / columns of W_enc (embedding_bag
forward, CSR products and bincount backward). One record, `Ragged`, carries
the active entries of both: k per row is the special case of a row pointer
with stride k.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def _csr(*args, **kw) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")
        return torch.sparse_csr_tensor(*args, check_invariants=False, **kw)


def _ptr(counts: torch.Tensor) -> torch.Tensor:
    ptr = torch.zeros(len(counts) + 1, dtype=torch.long, device=counts.device)
    torch.cumsum(counts, 0, out=ptr[1:])
    return ptr


@dataclass
class Ragged:
    """The active entries of a sparse [rows, n_cols] matrix, in row order: row r holds entries ptr[r]:ptr[r+1]."""

    ptr: torch.Tensor  # [rows + 1]
    rows_of: torch.Tensor  # [nnz] the row of each entry
    cols: torch.Tensor  # [nnz]
    vals: torch.Tensor  # [nnz]
    n_cols: int

    @property
    def rows(self) -> int:
        return len(self.ptr) - 1

    def with_vals(self, vals: torch.Tensor) -> Ragged:
        return Ragged(self.ptr, self.rows_of, self.cols, vals, self.n_cols)

    def counts(self) -> torch.Tensor:
        """Non-zero entries per column (firings per latent)."""
        return torch.bincount(self.cols[self.vals != 0], minlength=self.n_cols)

    def dense(self) -> torch.Tensor:
        out = self.vals.new_zeros(self.rows, self.n_cols)
        out[self.rows_of, self.cols] = self.vals
        return out


def _csr_by_col(rows_of: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, n_cols: int, rows: int) -> torch.Tensor:
    """The [n_cols, rows] CSR matrix: the transpose of the sparse [rows, n_cols] matrix of entries (rows_of, cols)."""
    order = torch.argsort(cols.to(torch.int32), stable=True)  # int32 sorts far faster than int64 on CPU
    return _csr(_ptr(torch.bincount(cols, minlength=n_cols)), rows_of[order], vals[order], (n_cols, rows))


def _csr_transpose(idx: torch.Tensor, vals: torch.Tensor, n_cols: int) -> torch.Tensor:
    """`_csr_by_col` of a row-major (idx, vals) [rows, k] pair: k entries per row."""
    rows, k = idx.shape
    rows_of = torch.arange(rows, device=idx.device).repeat_interleave(k)
    return _csr_by_col(rows_of, idx.reshape(-1), vals.reshape(-1), n_cols, rows)


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


def batch_top(pre: torch.Tensor, n: int) -> Ragged:
    """The n largest entries of the whole [rows, n_cols] matrix `pre` (BatchTopK's choice), exactly, in row order.

    A flat top-n over rows·n_cols values is the slow part of a dense BatchTopK
    step. Each row's top c = ⌈4n/rows⌉ candidates hold the batch's top n unless
    some row owns more than c of them; that shows as a row all of whose c
    candidates were chosen, and then the flat top-n runs instead.
    """
    rows, d = pre.shape
    n = min(int(n), rows * d)
    c = -(-4 * n // rows)
    if c < d:
        cv, ci = pre.topk(c, dim=1, sorted=False)
        vals, j = cv.reshape(-1).topk(n, sorted=False)
        flat = torch.div(j, c, rounding_mode="floor") * d + ci.reshape(-1)[j]
        if int(torch.bincount(torch.div(j, c, rounding_mode="floor"), minlength=rows).max()) >= c:
            vals, flat = pre.reshape(-1).topk(n, sorted=False)  # a saturated row: the candidates may miss some
    else:
        vals, flat = pre.reshape(-1).topk(n, sorted=False)
    flat, order = flat.sort()
    rows_of = torch.div(flat, d, rounding_mode="floor")
    return Ragged(_ptr(torch.bincount(rows_of, minlength=rows)), rows_of, flat - rows_of * d, vals[order], d)


class _BatchTopKEncode(torch.autograd.Function):
    """The batch's n largest pre-activations, ReLU'd, as ragged vals; backward touches only those entries."""

    @staticmethod
    def forward(ctx, x, W_enc, b_enc, b_in, n: int, out: list):
        xc = x - b_in
        r = batch_top(torch.addmm(b_enc, xc, W_enc), n)
        vals = r.vals.relu_()
        ctx.save_for_backward(xc, r.rows_of, r.cols, vals, W_enc)
        ctx.set_materialize_grads(False)
        out.append(r)
        return vals

    @staticmethod
    def backward(ctx, g_vals):
        xc, rows_of, cols, vals, W_enc = ctx.saved_tensors
        d_sae = W_enc.shape[1]
        dv = g_vals * (vals > 0)
        dW_encT = _csr_by_col(rows_of, cols, dv, d_sae, len(xc)) @ xc  # [d_sae, d_in]
        db_enc = torch.bincount(cols, weights=dv, minlength=d_sae).to(dv.dtype)
        return None, dW_encT.t().contiguous(), db_enc, -(W_enc @ db_enc), None, None


def batch_topk_encode(x, W_enc, b_enc, b_in, n: int) -> Ragged:
    """BatchTopK's training encoder: the n largest ReLU'd pre-activations of the batch (vals carry the gradient)."""
    out: list[Ragged] = []
    vals = _BatchTopKEncode.apply(x, W_enc, b_enc, b_in, int(n), out)
    return out[0].with_vals(vals)


class _RaggedDecode(torch.autograd.Function):
    """Row r: Σ_e vals[e] · W_dec[cols[e]] over its entries, without forming the dense [rows, d_sae] matrix."""

    @staticmethod
    def forward(ctx, ptr, rows_of, cols, vals, W_dec):
        ctx.save_for_backward(ptr, rows_of, cols, vals, W_dec)
        return F.embedding_bag(cols, W_dec, ptr, per_sample_weights=vals, mode="sum", include_last_offset=True)

    @staticmethod
    def backward(ctx, g):
        ptr, rows_of, cols, vals, W_dec = ctx.saved_tensors
        g = g.contiguous()
        rows, n_cols = len(ptr) - 1, W_dec.shape[0]
        dvals = dW = None
        if ctx.needs_input_grad[3]:
            pattern = _csr(ptr, cols, torch.zeros(len(cols), dtype=g.dtype, device=g.device), (rows, n_cols))
            dvals = torch.sparse.sampled_addmm(pattern, g, W_dec.t(), beta=0.0).values()
        if ctx.needs_input_grad[4]:
            dW = _csr_by_col(rows_of, cols, vals, n_cols, rows) @ g
        return None, None, None, dvals, dW


def ragged_decode(r: Ragged, W_dec: torch.Tensor) -> torch.Tensor:
    """r @ W_dec for the sparse r: [rows, d_out]."""
    return _RaggedDecode.apply(r.ptr, r.rows_of, r.cols, r.vals, W_dec)


def sparse_decode(idx: torch.Tensor, vals: torch.Tensor, W_dec: torch.Tensor) -> torch.Tensor:
    """Σ_j vals[:, j] · W_dec[idx[:, j]]: the ragged decode with k entries in every row."""
    rows, k = idx.shape
    ptr = torch.arange(0, rows * k + 1, k, device=idx.device)
    rows_of = torch.arange(rows, device=idx.device).repeat_interleave(k)
    return ragged_decode(Ragged(ptr, rows_of, idx.reshape(-1), vals.reshape(-1), W_dec.shape[0]), W_dec)
