"""Train SAEs on a stream of activation batches.

`SAETrainer` owns one SAE with its optimiser, schedules, dead-latent tracking
and resampling; `train_sae` feeds it batches from an activation store, logs
metrics as JSON lines, checkpoints atomically and resumes. Several trainers
can share one stream (each batch read once, fed to all).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from monoscope.errors import MonoscopeError
from monoscope.sae.base import ARCHITECTURES, SAE, SAEConfig
from monoscope.sae.geometric_median import geometric_median


@dataclass
class TrainConfig:
    sae: SAEConfig = field(default_factory=SAEConfig)
    total_vectors: int = 2_000_000
    # the defaults of SAEConfig and these are the demo's measured ReLU recipe on the shipped model (README's demo
    # table: loss recovered 0.858 at L0 31, 0.1% dead): λ 3, batch 1024, lr 1e-3
    batch_size: int = 1024
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    lr_warmup_frac: float = 0.02
    lr_decay_frac: float = 0.2  # linear decay to zero over the last fraction of steps
    sparsity_coef: float = 3.0  # λ for L1 (ReLU) or the sparsity penalty of other architectures
    # L0 to reach (architectures with a λ): λ starts at sparsity_coef and is adapted every step until the batch
    # L0 matches; None keeps λ fixed (after its warm-up)
    target_l0: float | None = None
    sparsity_warmup_frac: float = 0.05
    grad_clip: float = 1.0  # 0 disables
    auxk_coef: float = 1 / 32  # AuxK weight for the TopK family (Gao et al.); 0 disables
    decoder_norm: str = "unit"  # "unit": unit-norm decoder rows, parallel gradient removed; "none": unconstrained
    normalize_activations: bool = True  # scale inputs so E||x|| = sqrt(d_in); folded into the weights at save
    b_dec_init: str = "geometric_median"  # or "mean", "zeros"
    resample_at: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)  # fractions of training; () disables
    resample_samples: int = 16384
    dead_window: int = 200_000  # vectors without a firing after which a latent counts as dead (AuxK, resampling)
    # train_summary.json's dead fraction: latents that did not fire in the last this many training vectors (all of
    # them, when fewer were trained); SAELens's dead-feature window, stated with the figure
    dead_report_window: int = 500_000
    log_every: int = 10
    checkpoint_every: int = 100  # steps between resumable checkpoints; 0 = only at the end
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        if isinstance(self.sae, dict):
            self.sae = SAEConfig.from_dict(self.sae)
        self.betas = tuple(self.betas)
        self.resample_at = tuple(self.resample_at)
        if self.total_vectors <= 0 or self.batch_size <= 0:
            raise MonoscopeError("total_vectors and batch_size must be positive")
        if self.lr <= 0:
            raise MonoscopeError(f"lr must be positive, got {self.lr}")
        if self.target_l0 is not None:
            if not ARCHITECTURES[self.sae.architecture].takes_sparsity_coef:
                raise MonoscopeError(
                    f"target L0 applies to architectures with a sparsity coefficient, not {self.sae.architecture} "
                    "(the TopK family sets its L0 with k)"
                )
            if not 0 < self.target_l0 <= self.sae.d_sae:
                raise MonoscopeError(
                    f"target L0 must satisfy 0 < target <= d_sae={self.sae.d_sae}, got {self.target_l0}"
                )
        if self.sparsity_coef < 0:
            raise MonoscopeError(f"sparsity coefficient must be non-negative, got {self.sparsity_coef}")
        if self.auxk_coef < 0:
            raise MonoscopeError(f"auxk coefficient must be non-negative, got {self.auxk_coef}")
        if self.dead_window <= 0:
            raise MonoscopeError(f"dead_window must be a positive number of vectors, got {self.dead_window}")
        if self.dead_report_window <= 0:
            raise MonoscopeError(
                f"dead_report_window must be a positive number of vectors, got {self.dead_report_window}"
            )
        if self.decoder_norm not in ("unit", "none"):
            raise MonoscopeError(f"decoder_norm must be unit or none, got {self.decoder_norm!r}")
        if self.b_dec_init not in ("geometric_median", "mean", "zeros"):
            raise MonoscopeError(f"b_dec_init must be geometric_median, mean or zeros, got {self.b_dec_init!r}")
        if any(not 0 < f < 1 for f in self.resample_at):
            raise MonoscopeError(f"resample_at fractions must lie in (0, 1), got {self.resample_at}")

    @property
    def steps(self) -> int:
        return max(1, self.total_vectors // self.batch_size)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sae"] = self.sae.to_dict()
        return d


# λ controller of target_l0, proportional-integral on log λ with e the relative L0 error (clipped to ±1):
# the integral moves by L0_GAIN_I·e per step, λ = exp(integral + L0_GAIN_P·e). The integral alone (a pure
# I-controller) oscillates because L0 lags λ by the hundreds of steps Adam needs to move b_enc: it stopped 10% short
# of a target of 2 on the toy data, mid-swing when the lr decayed; the proportional term damps the swing.
L0_GAIN_I = 0.05
L0_GAIN_P = 2.0


# Settings added after runs already existed: recorded in a stage stamp only when changed, so older run folders
# are reused.
_LATER_DEFAULTS = {k: getattr(TrainConfig, k) for k in ("auxk_coef", "decoder_norm", "dead_report_window", "target_l0")}


def stage_config(cfg: TrainConfig) -> dict:
    """What identifies a training run (device excluded: a run may resume on another device)."""
    d = cfg.to_dict()
    d.pop("device")
    for k, v in _LATER_DEFAULTS.items():
        if d.get(k) == v:
            d.pop(k)
    if not d["sae"].get("matryoshka_widths"):
        d["sae"].pop("matryoshka_widths", None)
    for k, v in (("d_out", None), ("skip", False)):  # the transcoder fields, added later
        if d["sae"].get(k, v) == v:
            d["sae"].pop(k, None)
    # added later: a JumpReLU stamped without it trained with "step"; other architectures have no such penalty
    if d["sae"]["architecture"] != "jumprelu" or d["sae"].get("jumprelu_sparsity") == "step":
        d["sae"].pop("jumprelu_sparsity", None)
    return d


def make_sae(cfg: SAEConfig) -> SAE:
    return ARCHITECTURES[cfg.architecture](cfg)


class SAETrainer:
    """One SAE being trained: call `step(x)` with batches of (already scaled) activations."""

    def __init__(self, cfg: TrainConfig, sample_fn: Callable[[int, int], torch.Tensor] | None = None):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        self.sae = make_sae(cfg.sae).to(cfg.device)
        self.opt = torch.optim.Adam(self.sae.parameters(), lr=cfg.lr, betas=cfg.betas, fused=True)
        self.sample_fn = sample_fn  # (n, seed) -> scaled activations, for init and resampling
        self.step_no = 0
        self.since_fired = torch.zeros(cfg.sae.d_sae, dtype=torch.long, device=cfg.device)  # in vectors
        self.fire_count = torch.zeros(cfg.sae.d_sae, dtype=torch.long, device=cfg.device)
        self.window_vectors = 0
        self.resample_steps = sorted({max(1, int(f * cfg.steps)) for f in cfg.resample_at})
        self.resampled_total = 0
        self.coef = float(cfg.sparsity_coef)  # λ as adapted towards target_l0 (fixed without one)
        self.log_coef_integral = math.log(self.coef) if self.coef > 0 else 0.0  # the controller's integral term

    # ---- schedules ---------------------------------------------------------
    def lr_at(self, step: int) -> float:
        n = self.cfg.steps
        warm = max(1, int(self.cfg.lr_warmup_frac * n))
        decay_start = int((1 - self.cfg.lr_decay_frac) * n)
        if step < warm:
            return self.cfg.lr * (step + 1) / warm
        if step >= decay_start and self.cfg.lr_decay_frac > 0:
            return self.cfg.lr * max(0.0, (n - step) / max(1, n - decay_start))
        return self.cfg.lr

    def coef_at(self, step: int) -> float:
        if self.cfg.target_l0 is not None:
            return self.coef
        warm = int(self.cfg.sparsity_warmup_frac * self.cfg.steps)
        return self.cfg.sparsity_coef * min(1.0, (step + 1) / warm) if warm > 0 else self.cfg.sparsity_coef

    # ---- init --------------------------------------------------------------
    @torch.no_grad()
    def init_b_dec(self, x: torch.Tensor) -> None:
        if self.cfg.b_dec_init == "geometric_median":
            self.sae.b_dec.data = geometric_median(x.to(self.cfg.device))
        elif self.cfg.b_dec_init == "mean":
            self.sae.b_dec.data = x.mean(0).to(self.cfg.device)

    # ---- one step ----------------------------------------------------------
    def split(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(input, target) of a batch: a transcoder's store rows hold both ends side by side [x | y]."""
        if not self.cfg.sae.is_transcoder:
            return v, None
        return v[:, : self.cfg.sae.d_in], v[:, self.cfg.sae.d_in :]

    def sample(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(input, target) of a sample from `sample_fn` (the target is the input for an SAE)."""
        x, y = self.split(self.sample_fn(n, seed).to(self.cfg.device))
        return x, x if y is None else y

    def step(self, x: torch.Tensor, target: torch.Tensor | None = None) -> dict[str, float]:
        """One optimiser step on x [B, d_in] (a transcoder: [B, d_in + d_out], both ends, unless `target` is given);
        the dictionary reconstructs `target` (default x). Returns the log record."""
        cfg, sae = self.cfg, self.sae
        if target is None:
            x, target = self.split(x)
        y = x if target is None else target
        first = self.step_no == 0 and (cfg.b_dec_init != "zeros" or cfg.target_l0 is not None)
        if first and self.sample_fn is not None:
            sx, sy = self.sample(min(8192, cfg.resample_samples), cfg.seed)
        else:
            sx, sy = x, y
        if self.step_no == 0 and cfg.b_dec_init != "zeros":
            # b_dec lives in the output space: initialised from the target (the input, for an SAE)
            self.init_b_dec(sy)
        if self.step_no == 0 and cfg.target_l0 is not None:
            sae.start_at_l0(sx, cfg.target_l0)
        if not (torch.isfinite(x).all() and (target is None or torch.isfinite(target).all())):
            raise MonoscopeError(
                f"activations contain NaN or inf at step {self.step_no}; training stopped, last checkpoint kept"
            )
        lr = self.lr_at(self.step_no)
        for g in self.opt.param_groups:
            g["lr"] = lr
        dead_mask = self.since_fired >= cfg.dead_window
        out = sae.train_loss(x, self.coef_at(self.step_no), dead_mask, cfg.auxk_coef, target)
        if not torch.isfinite(out.total):
            raise MonoscopeError(
                f"SAE loss became {out.total.item()} at step {self.step_no}; "
                "lower the lr or the sparsity coefficient (last checkpoint kept)"
            )
        self.opt.zero_grad(set_to_none=True)
        out.total.backward()
        if cfg.decoder_norm == "unit":
            sae.remove_parallel_grad()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(sae.parameters(), cfg.grad_clip, foreach=True)
        self.opt.step()
        if cfg.decoder_norm == "unit":
            sae.normalize_decoder()
        sae.after_step()

        log_step = (self.step_no + 1) % cfg.log_every == 0 or self.step_no + 1 == cfg.steps
        n = x.shape[0]
        with torch.no_grad():
            # exact firing counts when the architecture has them or on logging steps; otherwise a fused kernel's
            # free "did it fire" is enough to keep the dead-latent clocks right
            cheap = out.fired_after_backward is not None and out.counts is None and not log_step
            fired = None if cheap else out.fire_counts()
            self.since_fired += n
            self.since_fired[out.fired_after_backward() if cheap else fired > 0] = 0
            if fired is not None:
                self.fire_count += fired
                self.window_vectors += n
            if cfg.target_l0 is not None:
                self._adapt_coef(float((fired if fired is not None else out.fire_counts()).sum()) / n)
        self.step_no += 1
        rec = {"step": self.step_no, "lr": lr, "coef": self.coef_at(self.step_no - 1)}
        if self.step_no in self.resample_steps and self.sample_fn is not None and sae.uses_resampling:
            rec["resampled"] = self.resample()
        if self.step_no == cfg.steps:
            # inference settings fitted to the final weights (BatchTopK's threshold)
            sample = self.sample(cfg.resample_samples, cfg.seed * 7919 + 1)[0] if self.sample_fn is not None else x
            rec.update(sae.calibrate(sample))
        if log_step:
            with torch.no_grad():
                rec.update(
                    {
                        "mse": out.mse.item(),
                        "fvu": ((out.x_hat - y).pow(2).sum() / (y - y.mean(0)).pow(2).sum().clamp_min(1e-12)).item(),
                        "l0": (fired.sum() / n).item(),
                        "sparsity": out.sparsity.item(),
                        "dead_fraction": (self.since_fired >= cfg.dead_window).float().mean().item(),
                        **{k: v.item() for k, v in out.logs.items()},
                    }
                )
        return rec

    def _adapt_coef(self, l0: float) -> None:
        """PI control of log λ: more latents firing than the target raises λ, fewer lowers it."""
        err = max(-1.0, min(1.0, (l0 - self.cfg.target_l0) / self.cfg.target_l0))
        self.log_coef_integral += L0_GAIN_I * err
        self.coef = math.exp(self.log_coef_integral + L0_GAIN_P * err)

    @torch.no_grad()
    def resample(self) -> int:
        """Bricken et al.: re-initialise dead latents towards inputs the SAE reconstructs worst."""
        cfg, sae = self.cfg, self.sae
        dead = (self.since_fired >= min(cfg.dead_window, self.step_no * cfg.batch_size)).nonzero().flatten()
        if len(dead) == 0:
            return 0
        x, y = self.sample(cfg.resample_samples, cfg.seed * 7919 + self.step_no)
        err = (sae(x) - y).pow(2).sum(-1)
        if err.sum() <= 0:
            return 0
        g = torch.Generator(device="cpu").manual_seed(cfg.seed * 104729 + self.step_no)
        pick = torch.multinomial(
            err.cpu() / err.sum().cpu(), len(dead), replacement=len(dead) > len(x), generator=g
        ).to(cfg.device)
        v = y[pick] - sae.b_dec
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-8)
        u = v if not cfg.sae.is_transcoder else x[pick] / x[pick].norm(dim=1, keepdim=True).clamp_min(1e-8)
        alive = torch.ones(sae.d_sae, dtype=torch.bool, device=cfg.device)
        alive[dead] = False
        enc_norm = sae.W_enc.data[:, alive].norm(dim=0).mean() if alive.any() else torch.tensor(1.0)
        sae.W_dec.data[dead] = v
        sae.W_enc.data[:, dead] = (u * enc_norm * 0.2).T
        sae.b_enc.data[dead] = 0.0
        for p, rows, dim in ((sae.W_dec, dead, 0), (sae.W_enc, dead, 1), (sae.b_enc, dead, 0)):
            st = self.opt.state.get(p)
            if st:
                for key in ("exp_avg", "exp_avg_sq"):
                    st[key].index_fill_(dim, rows, 0.0)
        self.since_fired[dead] = 0
        self.resampled_total += len(dead)
        return int(len(dead))

    def dead_report(self) -> dict:
        """Latents silent over the last `dead_report_window` training vectors (or all trained, if fewer)."""
        window = min(self.cfg.dead_report_window, self.step_no * self.cfg.batch_size)
        dead = (self.since_fired >= window).float().mean().item() if window > 0 else float("nan")
        return {"dead_fraction": dead, "dead_window_vectors": window}

    # ---- checkpoint state -----------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "sae": self.sae.state_dict(),
            "opt": self.opt.state_dict(),
            "step": self.step_no,
            "since_fired": self.since_fired,
            "fire_count": self.fire_count,
            "window_vectors": self.window_vectors,
            "resampled_total": self.resampled_total,
            "coef": self.coef,
            "log_coef_integral": self.log_coef_integral,
            "rng": torch.get_rng_state(),
        }

    def load_state_dict(self, st: dict) -> None:
        self.sae.load_state_dict(st["sae"])
        self.opt.load_state_dict(st["opt"])
        self.step_no = int(st["step"])
        self.since_fired = st["since_fired"].to(self.cfg.device)
        self.fire_count = st["fire_count"].to(self.cfg.device)
        self.window_vectors = int(st["window_vectors"])
        self.resampled_total = int(st["resampled_total"])
        self.coef = float(st.get("coef", self.cfg.sparsity_coef))
        self.log_coef_integral = float(st.get("log_coef_integral", math.log(self.coef) if self.coef > 0 else 0.0))
        torch.set_rng_state(st["rng"])
