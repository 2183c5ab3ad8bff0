"""Every architecture behind the SAE interface: equations, sparse kernels, training signal, bad settings."""

import pytest
import torch
from synthetic_features import synthetic

from monoscope.errors import MonoscopeError
from monoscope.sae import ARCHITECTURES, SAEConfig, SAELoss, SAETrainer, TrainConfig, make_sae
from monoscope.sae.kernels import batch_top, batch_topk_encode, ragged_decode, relu_sae_loss, sparse_decode, topk_encode

ALL = sorted(ARCHITECTURES)  # every registered architecture, so one added later is tested with no edit here


def kw(arch: str) -> dict:
    return {"k": 4} if ARCHITECTURES[arch].needs_k else {}


def params(d=12, s=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        torch.randn(d, s, generator=g, dtype=torch.float64).requires_grad_(),
        torch.randn(s, generator=g, dtype=torch.float64).requires_grad_(),
        torch.randn(s, d, generator=g, dtype=torch.float64).requires_grad_(),
        torch.randn(d, generator=g, dtype=torch.float64).requires_grad_(),
    ]


def test_the_shipped_architectures_are_registered_with_their_declarations():
    assert {"relu", "topk", "batchtopk", "jumprelu", "gated", "matryoshka"} <= set(ARCHITECTURES)
    assert {a for a, c in ARCHITECTURES.items() if c.takes_sparsity_coef} >= {"relu", "jumprelu", "gated"}
    assert {a for a, c in ARCHITECTURES.items() if c.needs_k} >= {"topk", "batchtopk", "matryoshka"}


def test_fused_relu_loss_matches_autograd():
    x = torch.randn(30, 12, dtype=torch.float64)
    P = params()

    def ref(We, be, Wd, bd):
        f = torch.relu((x - bd) @ We + be)
        return ((f @ Wd + bd - x) ** 2).sum(-1).mean() + 0.7 * (f * Wd.norm(dim=1)).sum(-1).mean()

    a = torch.autograd.grad(ref(*P), P)
    b = torch.autograd.grad(relu_sae_loss(x, *P, 0.7)[0], P)
    for u, w in zip(a, b):
        assert torch.allclose(u, w, atol=1e-9)


def test_sparse_topk_kernels_match_dense_autograd():
    x = torch.randn(30, 12, dtype=torch.float64)
    P = params()

    def dense(We, be, Wd, bd):
        pre = (x - bd) @ We + be
        v, i = pre.topk(5)
        f = torch.zeros_like(pre).scatter(-1, i, v.relu())
        return ((f @ Wd + bd - x) ** 2).sum(-1).mean()

    def sparse(We, be, Wd, bd):
        v, i = topk_encode(x, We, be, bd, 5)
        return ((sparse_decode(i, v, Wd) + bd - x) ** 2).sum(-1).mean()

    assert torch.allclose(dense(*P), sparse(*P))
    for u, w in zip(torch.autograd.grad(dense(*P), P), torch.autograd.grad(sparse(*P), P)):
        assert torch.allclose(u, w, atol=1e-9)


@pytest.mark.parametrize("hot_row", [False, True])
def test_batch_top_is_the_exact_top_n(hot_row: bool):
    # hot_row: one row holds most of the batch's largest values, so the per-row candidates cannot hold them all
    g = torch.Generator().manual_seed(0)
    pre = torch.randn(64, 300, generator=g, dtype=torch.float64)
    if hot_row:
        pre[7] += 10.0
    n = 64 * 5
    r = batch_top(pre, n)
    want = pre.reshape(-1).topk(n).indices.sort().values
    assert torch.equal(r.rows_of * 300 + r.cols, want)  # the same entries, in row order
    assert torch.equal(pre[r.rows_of, r.cols], r.vals)  # each value sits where its (row, col) says
    assert torch.equal(r.ptr.diff(), torch.bincount(r.rows_of, minlength=64))
    assert (int((r.rows_of == 7).sum()) > 4 * n // 64) == hot_row  # only the hot row overflows its 4n/rows candidates


def test_sparse_batchtopk_kernels_match_dense_autograd():
    x = torch.randn(30, 12, dtype=torch.float64)
    P = params()
    n = 30 * 4

    def dense(We, be, Wd, bd):
        pre = ((x - bd) @ We + be).relu()
        v, i = pre.reshape(-1).topk(n)
        f = torch.zeros_like(pre).reshape(-1).scatter(0, i, v).reshape(pre.shape)
        return ((f @ Wd + bd - x) ** 2).sum(-1).mean()

    def sparse(We, be, Wd, bd):
        f = batch_topk_encode(x, We, be, bd, n)
        return ((ragged_decode(f, Wd) + bd - x) ** 2).sum(-1).mean()

    assert torch.allclose(dense(*P), sparse(*P))
    for u, w in zip(torch.autograd.grad(dense(*P), P), torch.autograd.grad(sparse(*P), P)):
        assert torch.allclose(u, w, atol=1e-9)


@pytest.mark.parametrize("arch", ALL)
def test_forward_shapes_and_training_lowers_the_loss(arch):
    x, _ = synthetic(2048)
    # λ: an L1 coefficient for a new architecture; JumpReLU's penalises L0, whose natural scale is smaller
    coef = {"jumprelu": 0.01}.get(arch, 0.3) if ARCHITECTURES[arch].takes_sparsity_coef else 0.0
    cfg = TrainConfig(
        sae=SAEConfig(arch, 16, 64, **kw(arch)),
        total_vectors=2048 * 8,
        batch_size=256,
        lr=3e-3,
        sparsity_coef=coef,
        lr_warmup_frac=0.0,
        resample_at=(),
    )
    tr = SAETrainer(cfg)
    sae = tr.sae
    assert sae.encode(x[:5]).shape == (5, 64) and sae(x[:5]).shape == (5, 16)
    assert sae.encode(x[:6].reshape(2, 3, 16)).shape == (2, 3, 64)
    out = sae.loss(x[:256], coef)
    assert isinstance(out, SAELoss) and out.total.requires_grad and out.fire_counts().shape == (64,)
    first = out.mse.item()
    for step in range(cfg.steps):
        rec = tr.step(x[(step * 256) % 2048 :][:256])
    assert sae.loss(x[:256], coef).mse.item() < 0.5 * first
    assert torch.allclose(sae.W_dec.norm(dim=1), torch.ones(64), atol=1e-4)
    assert rec["l0"] > 0


def test_topk_keeps_exactly_k_and_batchtopk_k_on_average():
    x, _ = synthetic(512)
    topk = make_sae(SAEConfig("topk", 16, 64, k=5))
    assert ((topk.encode(x) > 0).sum(-1) <= 5).all() and ((topk.encode(x) > 0).sum(-1) == 5).float().mean() > 0.9
    bt = make_sae(SAEConfig("batchtopk", 16, 64, k=5)).train()
    out = bt.loss(x)
    assert out.sparsity.item() == pytest.approx(5, abs=0.01) and int(out.fire_counts().sum()) == pytest.approx(
        5 * 512, abs=6
    )
    f = bt.encode(x)  # the dense training-mode encode keeps the same batch top-k
    assert (f > 0).sum(-1).float().mean().item() == pytest.approx(5, abs=0.01)
    assert (f > 0).sum(-1).float().std() > 0  # per-token L0 varies
    assert bt.threshold.item() > 0  # tracked for inference
    bt.eval()
    f = bt.encode(x)
    assert ((f == 0) | (f > bt.threshold)).all()


def test_batchtopk_inference_threshold_keeps_k_after_training():
    # The running mean alone lags the changing weights; the final calibration must give L0 = k at inference.
    data, _ = synthetic(12288, seed=1)
    x, held = data[:8192], data[8192:]
    cfg = TrainConfig(
        sae=SAEConfig("batchtopk", 16, 64, k=4),
        total_vectors=8192 * 4,
        batch_size=512,
        lr=3e-3,
        resample_at=(),
        resample_samples=4096,
    )
    tr = SAETrainer(
        cfg, sample_fn=lambda n, seed: x[torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]]
    )
    for step in range(cfg.steps):
        rec = tr.step(x[(step * 512) % 8192 :][:512])
    assert rec["calibrated_threshold"] == pytest.approx(tr.sae.threshold.item())
    tr.sae.eval()
    l0 = (tr.sae.encode(held) > 0).sum(-1).float().mean().item()
    assert l0 == pytest.approx(4, rel=0.05)


def test_matryoshka_prefix_losses_make_the_first_latents_reconstruct_alone():
    from monoscope.sae.matryoshka import matryoshka_widths

    assert matryoshka_widths(SAEConfig("matryoshka", 16, 1024, k=4)) == (16, 64, 256, 1024)
    assert matryoshka_widths(SAEConfig("matryoshka", 16, 64, k=4, matryoshka_widths="8,32")) == (8, 32, 64)
    data, _ = synthetic(12288, seed=3)
    x, held = data[:8192], data[8192:]

    def prefix_fvu(arch: str) -> float:
        cfg = TrainConfig(
            sae=SAEConfig(arch, 16, 64, k=4, matryoshka_widths=(8,) if arch == "matryoshka" else ()),
            total_vectors=8192 * 4,
            batch_size=512,
            lr=3e-3,
            resample_at=(),
            resample_samples=4096,
        )
        tr = SAETrainer(cfg, sample_fn=lambda n, seed: x[:n])
        for step in range(cfg.steps):
            rec = tr.step(x[(step * 512) % 8192 :][:512])
        assert ("aux_mse_8" in rec) == (arch == "matryoshka")
        sae = tr.sae.train()  # batch top-k, as trained
        with torch.no_grad():
            f = sae.encode(held)
            f[:, 8:] = 0  # only the first prefix
            x_hat = sae.decode(f)
        return float((x_hat - held).pow(2).sum() / (held - held.mean(0)).pow(2).sum())

    # the 8 first latents of a Matryoshka SAE carry more of the signal on their own than those of a plain BatchTopK
    # (measured: FVU 0.74 vs 0.94)
    assert prefix_fvu("matryoshka") < 0.85 * prefix_fvu("batchtopk")


def test_jumprelu_threshold_learns_through_the_straight_through_estimator():
    x, _ = synthetic(512)
    sae = make_sae(SAEConfig("jumprelu", 16, 64, jumprelu_bandwidth=0.5, jumprelu_init_threshold=0.1))
    out = sae.loss(x, sparsity_coef=1.0)
    out.total.backward()
    assert sae.log_threshold.grad is not None and sae.log_threshold.grad.abs().sum() > 0
    f = sae.encode(x)
    assert ((f == 0) | (f > sae.threshold)).all()


def test_auxk_trains_dead_latents_only_through_the_decoder_without_b_dec():
    x, _ = synthetic(256)
    sae = make_sae(SAEConfig("topk", 16, 64, k=4))
    dead = torch.zeros(64, dtype=torch.bool)
    dead[:20] = True
    out = sae.loss(x, dead_mask=dead, aux_coef=1.0)
    assert out.logs["aux_k"] > 0
    sae.zero_grad()
    residual = (x - out.x_hat).detach()
    aux = sae.auxk_loss(x, residual, dead, 1.0)
    aux.backward()
    assert sae.W_dec.grad[:20].abs().sum() > 0 and sae.W_dec.grad[20:].abs().sum() == 0
    # recompute by hand: top-k_aux dead pre-activations, decoded with W_dec alone
    with torch.no_grad():
        pre = (x - sae.b_dec) @ sae.W_enc[:, :20] + sae.b_enc[:20]
        v, i = pre.topk(8)
        e = torch.zeros_like(pre).scatter(-1, i, v) @ sae.W_dec[:20]
        assert aux.item() == pytest.approx((e - residual).pow(2).sum(-1).mean().item(), rel=1e-4)


def test_bad_settings_raise_one_line_errors():
    with pytest.raises(MonoscopeError, match="known: " + ", ".join(sorted(ARCHITECTURES))):
        SAEConfig("nope", 16, 64)
    for k in (0, -1, 64, 100):
        with pytest.raises(MonoscopeError, match="0 < k < d_sae"):
            SAEConfig("topk", 16, 64, k=k)
    with pytest.raises(MonoscopeError, match="needs k"):
        SAEConfig("batchtopk", 16, 64)
    with pytest.raises(MonoscopeError, match="non-negative"):
        TrainConfig(sae=SAEConfig("relu", 16, 64), sparsity_coef=-1.0)
    with pytest.raises(MonoscopeError, match="non-negative"):
        TrainConfig(sae=SAEConfig("topk", 16, 64, k=4), auxk_coef=-0.1)
    for w in ("8,4", "0,8", "128", "a,b"):
        with pytest.raises(MonoscopeError, match="matryoshka widths"):
            SAEConfig("matryoshka", 16, 64, k=4, matryoshka_widths=w)
    with pytest.raises(MonoscopeError, match="dead_window must be a positive"):
        TrainConfig(sae=SAEConfig("topk", 16, 64, k=4), dead_window=0)
