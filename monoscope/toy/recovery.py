"""Do SAEs find the true features? Fit every registered architecture to every distribution of the suite.

Each architecture in `monoscope.sae.ARCHITECTURES` (so ones added later are
included) is trained with `SAETrainer` and its library defaults on batches
drawn from each distribution of `monoscope.toy.suite`, and SAELens's TopK and
BatchTopK (where installed) on the very same batches, steps, batch size and lr
as the peer. Each is scored on held-out vectors by MMCS, the share of true
features recovered (best cosine >= 0.9), dead latents (never active on
`eval_vectors` held-out vectors), FVU and L0. Architectures needing `k` get
k = the mean number of active features; those with a λ get that number as
their L0 target (`TrainConfig.target_l0`) rather than a hand-tuned λ.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from monoscope import plots
from monoscope.errors import MonoscopeError
from monoscope.toy import peer
from monoscope.toy.checks import check_positive
from monoscope.toy.suite import Distribution, distributions
from monoscope.toy.synthetic import SyntheticFeatures, mmcs_scores


@dataclass
class RecoveryConfig:
    # d = 32 puts the suite's N between 128 and 1,024 true features: every architecture on every distribution
    # trains in a few minutes on one thread.
    d: int = 32
    dists: tuple[str, ...] = ()  # suite distributions; empty: all of them
    archs: tuple[str, ...] = ()  # empty: every registered architecture
    peers: bool = True  # SAELens's TopK and BatchTopK on the same batches, where sae-lens is installed
    vectors: int = 200_000
    batch_size: int = 1024
    lr: float | None = None  # None: TrainConfig's default for the SAE's width
    eval_vectors: int = 32768
    seed: int = 0
    sparsity_coefs: dict = field(default_factory=dict)  # per-architecture fixed λ instead of the L0 target

    def __post_init__(self):
        check_positive(d=self.d, vectors=self.vectors, batch_size=self.batch_size, eval_vectors=self.eval_vectors)
        if self.lr is not None:
            check_positive(lr=self.lr)
        for dist in distributions(tuple(self.dists)):  # unknown names and unbuildable sizes fail before any work
            dist.build(self.d, self.seed)
        architectures(self)

    @property
    def steps(self) -> int:
        return max(1, self.vectors // self.batch_size)


def architectures(cfg: RecoveryConfig) -> list[str]:
    from monoscope.sae import ARCHITECTURES

    if not cfg.archs:
        return sorted(ARCHITECTURES)
    unknown = [a for a in cfg.archs if a not in ARCHITECTURES and a not in peer.PEERS]
    if unknown:
        known = ", ".join([*sorted(ARCHITECTURES), *peer.PEERS])
        raise MonoscopeError(f"unknown SAE architecture {unknown[0]!r}; known: {known}")
    return list(cfg.archs)


class Problem:
    """One distribution at width d: its generator, d_sae, k, the input scale and the held-out vectors."""

    def __init__(self, dist: Distribution, cfg: RecoveryConfig):
        self.dist, self.cfg = dist, cfg
        scfg, self.d_sae = dist.build(cfg.d, cfg.seed)
        self.data = SyntheticFeatures(scfg)
        self.k = max(1, round(scfg.mean_active))
        # inputs scaled so E‖x‖ = √d, as the trainer scales a store's vectors
        self.scale = cfg.d**0.5 / float(self.data.sample(8192, cfg.seed + 1).norm(dim=1).mean())
        self.held = self.data.sample(cfg.eval_vectors, cfg.seed + 2) * self.scale

    def sample(self, n: int, seed: int) -> torch.Tensor:
        return self.data.sample(n, 1_000_003 + seed) * self.scale

    def batches(self) -> Iterator[torch.Tensor]:
        """The training stream: the same batches for every architecture and for the peer."""
        gen = torch.Generator().manual_seed(self.cfg.seed * 31 + 7)
        for _ in range(self.cfg.steps):
            yield self.data.vectors(self.cfg.batch_size, gen) * self.scale

    @torch.no_grad()
    def score(self, encode, decode, W_dec: torch.Tensor) -> dict:
        x_all = self.held
        fired = torch.zeros(W_dec.shape[0], dtype=torch.bool)
        num = l0 = 0.0
        for x in x_all.split(8192):
            f = encode(x)
            fired |= (f != 0).any(0)
            l0 += float((f != 0).sum())
            num += float((decode(f) - x).pow(2).sum())
        return {
            **mmcs_scores(self.data.directions, W_dec.detach()),
            "dead": float((~fired).float().mean()),
            "fvu": num / float((x_all - x_all.mean(0)).pow(2).sum()),
            "l0": l0 / len(x_all),
        }

    def row(self, arch: str, scores: dict, seconds: float, **extra) -> dict:
        c = self.data.cfg
        return {"arch": arch, "distribution": self.dist.name, **scores, "k": self.k, "n_true": c.n_true, "d": c.d,
                "d_sae": self.d_sae, "steps": self.cfg.steps, "train_seconds": round(seconds, 2), **extra}  # fmt: skip


def train_config(arch: str, p: Problem):
    """Our TrainConfig for `arch` on problem `p`: library defaults but for the sizes, k and the L0 target."""
    from monoscope.sae import ARCHITECTURES, SAEConfig, TrainConfig

    cls, cfg = ARCHITECTURES[arch], p.cfg
    sae = SAEConfig(architecture=arch, d_in=cfg.d, d_sae=p.d_sae, k=p.k if cls.needs_k else None)
    extra = {} if cfg.lr is None else {"lr": cfg.lr}
    if cls.takes_sparsity_coef:
        coef = cfg.sparsity_coefs.get(arch)
        extra.update({"sparsity_coef": coef} if coef is not None else {"target_l0": p.data.cfg.mean_active})
    return TrainConfig(sae=sae, total_vectors=cfg.vectors, batch_size=cfg.batch_size, seed=cfg.seed, **extra)


def fit_ours(arch: str, p: Problem, progress: bool = True) -> dict:
    from monoscope.sae import SAETrainer

    tcfg = train_config(arch, p)
    trainer = SAETrainer(tcfg, sample_fn=p.sample)
    t0 = time.perf_counter()
    desc = f"recovery {p.dist.name} {arch}"
    for x in tqdm(p.batches(), total=tcfg.steps, desc=desc, disable=not progress, mininterval=1.0):
        trainer.step(x)
    seconds = time.perf_counter() - t0
    sae = trainer.sae.eval()
    return p.row(arch, p.score(sae.encode, sae.decode, sae.W_dec), seconds, library="monoscope", lr=tcfg.lr,
                 sparsity_coef=trainer.coef_at(tcfg.steps - 1))  # fmt: skip


def fit_peer(name: str, p: Problem, lr: float, progress: bool = True) -> dict:
    arch = peer.PEERS[name]
    steps = p.cfg.steps
    tr, sae = peer.saelens_trainer(arch, p.cfg.d, p.d_sae, p.k, steps, p.cfg.batch_size, lr, dead_window=steps)
    t0 = time.perf_counter()
    for x in tqdm(p.batches(), total=steps, desc=f"recovery {p.dist.name} {name}", disable=not progress):
        tr.step(x)
    seconds = time.perf_counter() - t0
    sae.eval()
    enc, dec = peer.saelens_inference(sae, arch)
    return p.row(name, p.score(enc, dec, sae.W_dec), seconds, library="sae_lens", lr=lr)


def fit(arch: str, p: Problem, progress: bool = True) -> dict:
    """One architecture (ours, or a SAELens peer) on one problem."""
    if arch in peer.PEERS:
        return fit_peer(arch, p, train_config(peer.PEERS[arch], p).lr, progress)
    return fit_ours(arch, p, progress)


def names(cfg: RecoveryConfig) -> list[str]:
    """Ours, then the peers (where sae-lens is installed and none were named explicitly)."""
    archs = architectures(cfg)
    if cfg.peers and not cfg.archs and peer.available():
        archs += list(peer.PEERS)
    return archs


def rows(cfg: RecoveryConfig, progress: bool = True) -> Iterator[dict]:
    for dist in distributions(tuple(cfg.dists)):
        p = Problem(dist, cfg)
        for arch in names(cfg):
            yield fit(arch, p, progress)


def run(cfg: RecoveryConfig, out: Path, progress: bool = True) -> dict:
    table = list(rows(cfg, progress))
    plot(table, out / "recovery.png")
    return {"rows": table, "figures": ["recovery.png"]}


def plot(table: list[dict], path: Path) -> None:
    """Heat maps, architecture × distribution: MMCS, the share recovered, and dead latents."""
    plt = plots.plt
    archs = list(dict.fromkeys(r["arch"] for r in table))
    dists = list(dict.fromkeys(r["distribution"] for r in table))
    at = {(r["arch"], r["distribution"]): r for r in table}
    fig, axes = plt.subplots(1, 3, figsize=(4.2 * 3 + 1, 0.45 * len(archs) + 2.2))
    for ax, key, cmap in zip(axes, ("mmcs", "recovered", "dead"), ("viridis", "viridis", "magma_r")):
        m = [[at[(a, d)][key] if (a, d) in at else float("nan") for d in dists] for a in archs]
        ax.imshow(m, vmin=0, vmax=1, cmap=cmap, aspect="auto")
        for i, line in enumerate(m):
            for j, v in enumerate(line):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w" if v < 0.6 else "k")
        ax.set_xticks(range(len(dists)), dists, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(archs)), archs, fontsize=8)
        ax.set_title({"mmcs": "MMCS", "recovered": "recovered (cos >= 0.9)", "dead": "dead latents"}[key])
    fig.suptitle("ground-truth recovery: architecture × distribution (default settings)")
    plots.save(fig, path)
