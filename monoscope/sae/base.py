"""The SAE interface every architecture shares, and the registry of architectures.

Computed as in SAELens: pre = (x - b_dec) @ W_enc + b_enc, f = act(pre),
x_hat = f @ W_dec + b_dec. Decoder rows are feature directions (unit norm
while training). A transcoder (`SAEConfig.d_out`) is the same dictionary with
its decoder in another space: pre = x @ W_enc + b_enc (nothing subtracted, as
SAELens's transcoders), y_hat = f @ W_dec + b_dec (+ x @ W_skip.T with a skip
connection); every architecture with `transcodes` has that form.

The protocol is declared here, not probed: an architecture is one module with
`@register("name")` (imported in `monoscope/sae/__init__.py`) that defines
`activation` and `loss` (returning an `SAELoss`) and overrides only what
differs from the defaults below — the class attributes (takes λ? needs k?
resampled? saved under which SAELens name, read back as which architecture?)
and the hooks (`after_step`, `calibrate`, `export`, `saelens_cfg`,
`encode_subset`, `pre_subset`, `import_tensors`, `saved_shapes`). The trainer,
io, sweeps, the monitor and every test parametrised over `ARCHITECTURES` read
only these, so they pick a new architecture up with no edit.

`loss(x, target=...)` keeps room for dictionaries whose output is not their
input (a transcoder maps an MLP's input to its output): the reconstruction is
scored against `target`, which defaults to `x`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from monoscope.errors import MonoscopeError

ARCHITECTURES: dict[str, type[SAE]] = {}


def register(name: str):
    """Class decorator: add an SAE architecture to the registry under `name` (import its module in __init__.py)."""

    def wrap(cls):
        for other in ARCHITECTURES.values():
            both = set(other.foreign_names()) & set(cls.foreign_names())
            if both and other.architecture != name:
                raise TypeError(f"{name} and {other.architecture} both claim SAELens architecture(s) {sorted(both)}")
        cls.architecture = name
        ARCHITECTURES[name] = cls
        return cls

    return wrap


@dataclass
class SAEConfig:
    """What defines an SAE's shape and forward pass (training settings live in TrainConfig)."""

    architecture: str = "relu"
    d_in: int = 512
    # 2,048 latents (4x the shipped model's MLP): the demo's measured ReLU recipe (README, demo table)
    d_sae: int = 2048
    k: int | None = None  # active latents for the TopK family
    jumprelu_bandwidth: float = 0.001
    jumprelu_init_threshold: float = 0.001
    # JumpReLU's sparsity penalty: "tanh" (SAELens's tanh mode) or "step" (the paper's L0; files and stamps made
    # before this field existed); see jumprelu.py for why tanh
    jumprelu_sparsity: str = "tanh"
    matryoshka_widths: tuple[int, ...] = ()  # nested prefix widths of a Matryoshka SAE (default: d_sae/64, /16, /4)
    # a transcoder: the dictionary reads d_in and writes d_out (an MLP's input -> its output); None: an SAE
    d_out: int | None = None
    skip: bool = False  # a transcoder's linear skip connection x @ W_skip.T (Paulo et al. 2025)
    dtype: str = "float32"
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        w = self.matryoshka_widths
        try:  # a list (JSON, YAML), a tuple, or "64,256,1024" (a CLI flag; in a sweep file, where a list means a grid)
            self.matryoshka_widths = tuple(
                int(v) for v in (w.split(",") if isinstance(w, str) and w.strip() else w or ())
            )
        except (TypeError, ValueError):
            raise MonoscopeError(f"matryoshka widths must be whole numbers like 64,256,1024, got {w!r}") from None
        if self.architecture not in ARCHITECTURES:
            raise MonoscopeError(
                f"unknown SAE architecture {self.architecture!r}; known: {', '.join(sorted(ARCHITECTURES))}"
            )
        if int(self.d_in) <= 0 or int(self.d_sae) <= 0:
            raise MonoscopeError(f"d_in and d_sae must be positive, got d_in={self.d_in}, d_sae={self.d_sae}")
        cls = ARCHITECTURES[self.architecture]
        if self.d_out is not None:
            self.d_out = int(self.d_out)
            if self.d_out <= 0:
                raise MonoscopeError(f"a transcoder's d_out must be positive, got {self.d_out}")
            if not cls.transcodes:
                raise MonoscopeError(
                    f"the {self.architecture} architecture has no transcoder form; use one of "
                    f"{', '.join(sorted(a for a, c in ARCHITECTURES.items() if c.transcodes))}"
                )
        elif self.skip:
            raise MonoscopeError("a skip connection needs a transcoder (give d_out, the width of what it writes)")
        if cls.needs_k:
            if self.k is None:
                raise MonoscopeError(
                    f"the {self.architecture} architecture needs k (active latents per token), e.g. --k 32"
                )
            if not 0 < int(self.k) < int(self.d_sae):
                raise MonoscopeError(f"k must satisfy 0 < k < d_sae={self.d_sae}, got k={self.k}")
        cls.validate(self)

    @classmethod
    def from_dict(cls, d: dict) -> SAEConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def is_transcoder(self) -> bool:
        return self.d_out is not None

    @property
    def out_width(self) -> int:
        """The width of what the dictionary writes: d_in for an SAE, d_out for a transcoder."""
        return int(self.d_in if self.d_out is None else self.d_out)


@dataclass
class SAELoss:
    """What every architecture's `loss` returns: the trainer reads these fields and nothing else."""

    total: torch.Tensor  # the scalar the trainer minimises (with gradient)
    mse: torch.Tensor  # Σ_d (x̂ - target)², mean over the batch (detached)
    sparsity: torch.Tensor  # the sparsity term as penalised (L1, L0; L0 where nothing is penalised), detached
    x_hat: torch.Tensor  # the reconstruction, detached
    f: torch.Tensor | None = None  # dense activations [batch, d_sae], detached, where the architecture forms them
    counts: torch.Tensor | None = None  # firings per latent on this batch, where known without a pass over f
    # which latents fired, known only after backward (a fused kernel's by-product: no pass over f on most steps)
    fired_after_backward: Callable[[], torch.Tensor] | None = None
    logs: dict[str, torch.Tensor] = field(default_factory=dict)  # extra detached scalars to log (aux_k, aux_mse_W)

    def __post_init__(self):
        if self.f is None and self.counts is None:
            raise TypeError("an SAELoss needs f or counts: the trainer counts firings from one of them")

    def fire_counts(self) -> torch.Tensor:
        """Firings per latent on this batch (one pass over f unless the architecture counted them already)."""
        return self.counts if self.counts is not None else torch.count_nonzero(self.f, dim=0)


class SAE(nn.Module):
    # ---- declared by each architecture (defaults: a plain dictionary with no λ and no k) ----
    architecture: ClassVar[str] = "base"  # set by @register
    takes_sparsity_coef: ClassVar[bool] = False  # loss uses λ: sweeps name it, --l1 and --target-l0 apply
    needs_k: ClassVar[bool] = False  # the TopK family: k active latents per token
    uses_resampling: ClassVar[bool] = False  # Bricken resampling of dead latents (the TopK family uses AuxK instead)
    saelens_name: ClassVar[str | None] = None  # `architecture` written to cfg.json; None: the registered name
    loads_as: ClassVar[str | None] = None  # our architecture that reads the saved file back; None: this one
    # SAELens architecture names of foreign files this class reads (declared per class: a subclass does not inherit it)
    reads_saelens: ClassVar[tuple[str, ...]] = ()
    transcodes: ClassVar[bool] = True  # has a transcoder form (d_out): encoder and decoder in different spaces

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        self.cfg = cfg
        d_in, d_sae, d_out = cfg.d_in, cfg.d_sae, cfg.out_width
        W_dec = torch.randn(d_sae, d_out)
        W_dec /= W_dec.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)
        if cfg.is_transcoder:  # input and output spaces differ: no tied init, no b_dec subtracted from the input
            W_enc = torch.randn(d_in, d_sae)
            self.W_enc = nn.Parameter(W_enc / W_enc.norm(dim=0, keepdim=True))
        else:
            self.W_enc = nn.Parameter(W_dec.T.clone().contiguous())  # tied initialisation (Gao et al.)
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.b_dec = nn.Parameter(torch.zeros(d_out))
        # what the encoder subtracts from its input: b_dec for an SAE (SAELens's apply_b_dec_to_input), zero for a
        # transcoder (SAELens's transcoders subtract nothing); not saved
        self.register_buffer("b_zero", torch.zeros(d_in) if cfg.is_transcoder else None, persistent=False)
        self.W_skip = nn.Parameter(torch.zeros(d_out, d_in)) if cfg.skip else None

    # ---- per-architecture --------------------------------------------------
    @staticmethod
    def validate(cfg: SAEConfig) -> None:
        """Raise MonoscopeError for settings this architecture cannot use."""

    def activation(self, pre: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(
        self,
        x: torch.Tensor,
        sparsity_coef: float = 0.0,
        dead_mask: torch.Tensor | None = None,
        aux_coef: float = 0.0,
        target: torch.Tensor | None = None,
    ) -> SAELoss:
        """Loss terms on a batch [B, d_in]; the reconstruction is scored against `target` (default: x)."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after each optimiser step (and the decoder renormalisation); e.g. to project a parameter back."""

    def calibrate(self, x: torch.Tensor) -> dict[str, float]:
        """Fit inference-time settings to the final weights on a sample `x`; returns what it set, for the log."""
        return {}

    @staticmethod
    def firing_quantile(pre: torch.Tensor, l0: float) -> torch.Tensor:
        """Per latent, the pre-activation exceeded on a share l0/d_sae of the rows of `pre` [n, d_sae]."""
        n = pre.shape[0]
        rank = min(n, max(1, n - round(n * float(l0) / pre.shape[1])))
        return pre.kthvalue(rank, dim=0).values

    @torch.no_grad()
    def start_at_l0(self, x: torch.Tensor, l0: float) -> None:
        """Shift each latent's firing point so that on `x` it fires on l0/d_sae of the vectors: training with an L0
        target starts at that L0 instead of at about d_sae/2, which Adam's lr-sized steps on b_enc take thousands
        of steps to undo (and a λ controller would wind up meanwhile)."""
        self.b_enc.data -= self.firing_quantile(self.encode_pre(x), l0)

    def export(self) -> tuple[str, dict[str, torch.Tensor]]:
        """(SAELens architecture name, tensors) as written to disk; BatchTopK writes the JumpReLU it is at inference."""
        return self.saved_name(), self.state_dict()

    def saelens_cfg(self) -> dict[str, Any]:
        """Architecture-specific keys of the saved cfg.json beyond the shared ones (TopK: k)."""
        return {}

    @classmethod
    def saved_name(cls) -> str:
        return cls.saelens_name or cls.architecture

    @classmethod
    def loader(cls) -> str:
        return cls.loads_as or cls.architecture

    @classmethod
    def foreign_names(cls) -> tuple[str, ...]:
        return cls.__dict__.get("reads_saelens", ())

    def pre_subset(self, x: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Pre-activations of latents `feats` only [B, len(feats)] (a few encoder columns, not all d_sae)."""
        return torch.addmm(self.b_enc[feats], x - self.b_in, self.W_enc[:, feats])

    def encode_subset(self, x: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        """Activations of latents `feats` on x [B, d_in]. Default: the whole encoding, indexed (right for any
        activation that couples latents, like TopK); elementwise activations override it with `pre_subset`."""
        return self.encode(x)[:, feats]

    # ---- shared ------------------------------------------------------------
    @property
    def d_in(self) -> int:
        return self.cfg.d_in

    @property
    def d_sae(self) -> int:
        return self.cfg.d_sae

    @property
    def d_out(self) -> int:
        return self.cfg.out_width

    @property
    def b_in(self) -> torch.Tensor:
        """What the encoder subtracts from its input (b_dec for an SAE, zeros for a transcoder)."""
        return self.b_dec if self.b_zero is None else self.b_zero

    def encode_pre(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.b_enc, (x - self.b_in).reshape(-1, self.d_in), self.W_enc).reshape(
            *x.shape[:-1], self.d_sae
        )

    def skip_out(self, x: torch.Tensor) -> torch.Tensor | None:
        """A skip transcoder's linear path x @ W_skip.T [.., d_out]; None without one."""
        return None if self.W_skip is None else x @ self.W_skip.T

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation(self.encode_pre(x))

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.b_dec, f.reshape(-1, self.d_sae), self.W_dec).reshape(*f.shape[:-1], self.d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.decode(self.encode(x))
        s = self.skip_out(x)
        return out if s is None else out + s

    def train_loss(
        self, x: torch.Tensor, sparsity_coef: float, dead_mask, aux_coef: float, target: torch.Tensor | None
    ) -> SAELoss:
        """`loss` as the trainer calls it: a skip connection is learned by fitting the dictionary to what it leaves
        (target - x W_skip^T, with gradient into W_skip), so every architecture's loss serves unchanged."""
        s = self.skip_out(x)
        if s is None:
            return self.loss(x, sparsity_coef, dead_mask=dead_mask, aux_coef=aux_coef, target=target)
        out = self.loss(x, sparsity_coef, dead_mask=dead_mask, aux_coef=aux_coef, target=target - s)
        out.x_hat = out.x_hat + s.detach()
        return out

    def mse(self, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return (x_hat - x).pow(2).sum(-1).mean()

    def check_input(self, x: torch.Tensor, where: str = "input") -> None:
        if x.shape[-1] != self.d_in:
            raise MonoscopeError(f"{where} has width {x.shape[-1]} but the SAE expects d_in={self.d_in}")

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        self.W_dec.data /= self.W_dec.data.norm(dim=1, keepdim=True).clamp_min(1e-8)

    @torch.no_grad()
    def remove_parallel_grad(self) -> None:
        """Drop the gradient component along each (unit) decoder row, so the norm constraint and Adam agree."""
        if self.W_dec.grad is None:
            return
        W = self.W_dec.data
        self.W_dec.grad -= (self.W_dec.grad * W).sum(1, keepdim=True) * W

    @torch.no_grad()
    def fold_input_scale(self, scale: float, out_scale: float | None = None) -> None:
        """Fold x_scaled = scale * x (and, for a transcoder, y_scaled = out_scale * y) into the weights so the saved
        dictionary works on raw activations."""
        out_scale = scale if out_scale is None else out_scale
        self.W_enc.data *= scale
        self.W_dec.data /= out_scale
        self.b_dec.data /= out_scale
        if self.W_skip is not None:
            self.W_skip.data *= scale / out_scale

    def auxk_loss(
        self,
        x: torch.Tensor,
        residual: torch.Tensor,
        dead_mask: torch.Tensor | None,
        coef: float,
        k_aux: int | None = None,
    ) -> torch.Tensor:
        """Gao et al.'s AuxK: the top dead latents reconstruct the residual through W_dec alone (no b_dec)."""
        from monoscope.sae.kernels import sparse_decode

        if dead_mask is None or coef <= 0:
            return x.new_zeros(())
        dead = dead_mask.nonzero().flatten()
        if len(dead) == 0:
            return x.new_zeros(())
        k_aux = k_aux or self.d_in // 2
        scale = min(len(dead) / k_aux, 1.0)  # fewer dead latents, smaller loss
        pre = torch.addmm(self.b_enc[dead], x - self.b_in, self.W_enc[:, dead])
        v, i = pre.topk(min(k_aux, len(dead)), dim=-1, sorted=False)
        e_hat = sparse_decode(
            dead[i], v, self.W_dec
        )  # no ReLU (as SAELens): a dead latent's negative pre-activation still learns
        return coef * scale * (e_hat - residual).pow(2).sum(-1).mean()

    def saved_shapes(self) -> dict[str, tuple[int, ...]]:
        """Tensor names and shapes in the saved (SAELens) layout; differs from state_dict where a parameter is stored
        transformed."""
        return {k: tuple(v.shape) for k, v in self.state_dict().items()}

    def import_tensors(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Saved-layout tensors -> state_dict tensors (e.g. JumpReLU's threshold -> log_threshold)."""
        return tensors
