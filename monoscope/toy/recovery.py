"""Do SAEs find the true features? Fit every registered architecture to synthetic activations.

Each architecture in `monoscope.sae.ARCHITECTURES` (so ones added later are
included) is trained with `SAETrainer` on batches drawn from
`SyntheticFeatures`, then scored by MMCS, the fraction of true features
recovered (best cos > 0.9) and the fraction of dead latents (never active on
`eval_vectors` held-out vectors). Architectures needing `k` get k = the mean
number of active features.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from monoscope import plots
from monoscope.errors import MonoscopeError
from monoscope.toy.checks import check_positive
from monoscope.toy.synthetic import SyntheticConfig, SyntheticFeatures, mmcs_scores

# Sparsity penalty per architecture on inputs scaled to E‖x‖ = √d (TopK-family ignore it).
SPARSITY_COEF = {"relu": 3.0, "gated": 3.0, "jumprelu": 3.0}
DEFAULT_COEF = 3.0
# Shape settings for inputs scaled to E‖x‖ = √d: a JumpReLU threshold must start and move on the scale of
# the pre-activations (~1 here), or every positive pre-activation fires for the whole run.
SAE_SETTINGS = {"jumprelu": {"jumprelu_init_threshold": 0.5, "jumprelu_bandwidth": 0.05}}


@dataclass
class RecoveryConfig:
    # The CLI default is a smaller problem than bench/toy_recovery.py (N=512, d=64, d_sae=1024, 1M vectors)
    # so that all architectures fit in about two minutes.
    n_true: int = 256
    d: int = 32
    mean_active: float = 4.0
    power: float = 0.5
    corr: float = 0.3
    d_sae: int = 512
    vectors: int = 300_000
    batch_size: int = 1024
    lr: float = 2e-3
    archs: tuple[str, ...] = ()  # empty: every registered architecture
    eval_vectors: int = 65536
    seed: int = 0
    sparsity_coefs: dict = field(default_factory=dict)  # per-architecture override of SPARSITY_COEF

    def __post_init__(self):
        check_positive(
            d_sae=self.d_sae,
            vectors=self.vectors,
            batch_size=self.batch_size,
            lr=self.lr,
            eval_vectors=self.eval_vectors,
        )
        self.synthetic()  # validates the data settings
        architectures(self)  # unknown names fail before any work

    def synthetic(self) -> SyntheticConfig:
        return SyntheticConfig(
            n_true=self.n_true, d=self.d, mean_active=self.mean_active, power=self.power, corr=self.corr, seed=self.seed
        )


def _sae_config(arch: str, d: int, d_sae: int, k: int):
    """SAEConfig for `arch`; k is given where the architecture declares it needs one."""
    from monoscope.sae import ARCHITECTURES, SAEConfig

    extra = SAE_SETTINGS.get(arch, {})
    return SAEConfig(architecture=arch, d_in=d, d_sae=d_sae, k=k if ARCHITECTURES[arch].needs_k else None, **extra)


def fit_and_score(arch: str, data: SyntheticFeatures, cfg: RecoveryConfig, progress: bool = True) -> dict:
    from monoscope.sae import SAETrainer, TrainConfig

    k = max(1, round(cfg.mean_active))
    scfg = _sae_config(arch, cfg.d, cfg.d_sae, k)
    scale = cfg.d**0.5 / float(data.sample(8192, cfg.seed + 1).norm(dim=1).mean())

    def sample_fn(n: int, seed: int) -> torch.Tensor:
        return data.sample(n, 1_000_003 + seed) * scale

    coef = cfg.sparsity_coefs.get(arch, SPARSITY_COEF.get(arch, DEFAULT_COEF))
    tcfg = TrainConfig(
        sae=scfg, total_vectors=cfg.vectors, batch_size=cfg.batch_size, lr=cfg.lr, sparsity_coef=coef, seed=cfg.seed
    )
    trainer = SAETrainer(tcfg, sample_fn=sample_fn)
    gen = torch.Generator().manual_seed(cfg.seed * 31 + 7)
    t0 = time.perf_counter()
    for _ in tqdm(range(tcfg.steps), desc=f"toy recovery {arch}", disable=not progress, mininterval=1.0):
        trainer.step(data.codes(cfg.batch_size, gen) @ data.directions * scale)
    seconds = time.perf_counter() - t0
    sae = trainer.sae.eval()
    with torch.no_grad():
        fired = torch.zeros(cfg.d_sae, dtype=torch.bool)
        x_all = data.sample(cfg.eval_vectors, cfg.seed + 2) * scale
        fvu_num = fvu_den = 0.0
        l0 = 0.0
        for x in x_all.split(8192):
            f = sae.encode(x)
            fired |= (f != 0).any(0)
            l0 += float((f != 0).sum())
            fvu_num += float((sae.decode(f) - x).pow(2).sum())
            fvu_den += float((x - x_all.mean(0)).pow(2).sum())
    return {
        "arch": arch,
        **mmcs_scores(data.directions, sae.W_dec.detach()),
        "dead": float((~fired).float().mean()),
        "l0": l0 / cfg.eval_vectors,
        "fvu": fvu_num / fvu_den,
        "k": scfg.k,
        "sparsity_coef": coef,
        "steps": tcfg.steps,
        "train_seconds": round(seconds, 2),
    }


def architectures(cfg: RecoveryConfig) -> list[str]:
    from monoscope.sae import ARCHITECTURES

    if not cfg.archs:
        return sorted(ARCHITECTURES)
    unknown = [a for a in cfg.archs if a not in ARCHITECTURES]
    if unknown:
        raise MonoscopeError(f"unknown SAE architecture {unknown[0]!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    return list(cfg.archs)


def run(cfg: RecoveryConfig, out: Path, progress: bool = True) -> dict:
    data = SyntheticFeatures(cfg.synthetic())
    rows = [fit_and_score(a, data, cfg, progress) for a in architectures(cfg)]
    _plot(rows, data, cfg, out / "recovery.png")
    return {"rows": rows, "feature_probability": data.prob.tolist(), "figures": ["recovery.png"]}


def _plot(rows: list[dict], data: SyntheticFeatures, cfg: RecoveryConfig, path: Path) -> None:
    plt = plots.plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    names = [r["arch"] for r in rows]
    x = range(len(rows))
    for off, key in zip((-0.25, 0, 0.25), ("mmcs", "recovered", "dead")):
        a1.bar([i + off for i in x], [r[key] for r in rows], width=0.25, label=key)
    a1.set_xticks(list(x), names)
    a1.set_ylim(0, 1.05)
    a1.legend(fontsize=8)
    a1.set_title(f"N = {cfg.n_true} true features in d = {cfg.d}, d_sae = {cfg.d_sae}")
    a2.loglog(range(1, cfg.n_true + 1), data.prob.numpy())
    a2.set_xlabel("feature rank")
    a2.set_ylabel("firing probability")
    a2.set_title(f"power-law frequencies (mean {cfg.mean_active:g} active, group corr {cfg.corr:g})")
    plots.save(fig, path)
