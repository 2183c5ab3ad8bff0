"""The built-in subject model: a small GPT whose every activation passes a named hook point.

Default: the seed's single-block model (1 layer, d_model 128, d_mlp 512, 4 heads,
context 128). Pre-LayerNorm, learned positions, GELU MLP, untied unembedding.
Hook names follow TransformerLens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from monoscope.errors import MonoscopeError
from monoscope.io import load_tensors, read_json, save_tensors, write_json
from monoscope.models.hooks import HookedModel, HookPoint
from monoscope.models.unembed import Unembed


@dataclass
class GPTConfig:
    vocab_size: int = 4096
    n_ctx: int = 128
    d_model: int = 128
    n_layers: int = 1
    n_heads: int = 4
    d_mlp: int = 512
    act_fn: str = "gelu"
    ln_eps: float = 1e-5
    model_name: str = "monoscope-gpt"

    def __post_init__(self):
        for f in ("vocab_size", "n_ctx", "d_model", "n_layers", "n_heads", "d_mlp"):
            if int(getattr(self, f)) <= 0:
                raise MonoscopeError(f"model config {f} must be a positive integer, got {getattr(self, f)}")
        if self.d_model % self.n_heads:
            raise MonoscopeError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.act_fn not in ("gelu", "relu"):
            raise MonoscopeError(f"act_fn must be 'gelu' or 'relu', got {self.act_fn!r}")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class LayerNorm(nn.Module):
    def __init__(self, d: int, eps: float):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))
        self.b = nn.Parameter(torch.zeros(d))
        self.eps = eps
        self.hook_scale = HookPoint()
        self.hook_normalized = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        return self.hook_normalized(x / scale) * self.w + self.b


class Attention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.W_QKV = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.W_O = nn.Linear(cfg.d_model, cfg.d_model)
        self.hook_q = HookPoint()
        self.hook_k = HookPoint()
        self.hook_v = HookPoint()
        self.hook_pattern = HookPoint()
        self.hook_z = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        H, Dh = self.cfg.n_heads, self.cfg.d_head
        q, k, v = self.W_QKV(x).view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)  # each [B, H, T, Dh]
        q, k, v = self.hook_q(q), self.hook_k(k), self.hook_v(v)
        if self.hook_pattern.active:
            scores = q @ k.transpose(-1, -2) / math.sqrt(Dh)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            pattern = self.hook_pattern(scores.masked_fill(mask, float("-inf")).softmax(-1))
            z = pattern @ v
        else:  # fused kernel when nobody reads the pattern
            z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        z = self.hook_z(z)
        return self.W_O(z.transpose(1, 2).reshape(B, T, H * Dh))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.W_in = nn.Linear(cfg.d_model, cfg.d_mlp)
        self.W_out = nn.Linear(cfg.d_mlp, cfg.d_model)
        self.act = F.gelu if cfg.act_fn == "gelu" else F.relu
        self.hook_in = HookPoint()  # what the MLP reads: the normalised residual (a transcoder's input)
        self.hook_pre = HookPoint()
        self.hook_post = HookPoint()  # the MLP neurons after the nonlinearity

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.W_out(self.hook_post(self.act(self.hook_pre(self.W_in(self.hook_in(x))))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = LayerNorm(cfg.d_model, cfg.ln_eps)
        self.attn = Attention(cfg)
        self.ln2 = LayerNorm(cfg.d_model, cfg.ln_eps)
        self.mlp = MLP(cfg)
        self.hook_resid_pre = HookPoint()
        self.hook_attn_out = HookPoint()
        self.hook_resid_mid = HookPoint()
        self.hook_mlp_out = HookPoint()
        self.hook_resid_post = HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = self.hook_resid_mid(x + self.hook_attn_out(self.attn(self.ln1(x))))
        return self.hook_resid_post(x + self.hook_mlp_out(self.mlp(self.ln2(x))))


class GPT(HookedModel):
    """The residual stream is the sum of the embeddings and every layer's output; hooks name each term."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.W_E = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.W_pos = nn.Embedding(cfg.n_ctx, cfg.d_model)
        self.hook_embed = HookPoint()
        self.hook_pos_embed = HookPoint()
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.ln_final = LayerNorm(cfg.d_model, cfg.ln_eps)
        self.W_U = nn.Linear(cfg.d_model, cfg.vocab_size)
        self.hook_tokens = HookPoint()  # the token ids of this forward pass (a splice reads which positions count)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual writers
            if name.endswith("W_O.weight") or name.endswith("W_out.weight"):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))
        self.setup_hooks()

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, tokens: torch.Tensor, return_type: str = "logits") -> torch.Tensor:
        if tokens.dim() == 1:
            tokens = tokens[None]
        T = tokens.shape[1]
        if self.cfg.n_ctx < T:
            raise MonoscopeError(f"input has {T} tokens, more than the model's context of {self.cfg.n_ctx}")
        if tokens.numel() and (int(tokens.max()) >= self.cfg.vocab_size or int(tokens.min()) < 0):
            raise MonoscopeError(
                f"token id out of range for vocabulary of {self.cfg.vocab_size}: tokenizer and model do not match"
            )
        tokens = self.hook_tokens(tokens)
        pos = torch.arange(T, device=tokens.device)
        x = self.hook_embed(self.W_E(tokens)) + self.hook_pos_embed(self.W_pos(pos))[None]
        for block in self.blocks:
            x = block(x)
        logits = self.W_U(self.ln_final(x))
        if return_type == "loss":
            return lm_loss(logits, tokens)
        return logits

    # ---- the model interface (HookedModel) ---------------------------------
    @property
    def unembed(self) -> Unembed:
        ln, U = self.ln_final, self.W_U
        return Unembed(self.final_resid_hook, U.weight, U.bias, True, ln.w, ln.b, ln.eps, lambda x: U(ln(x)))

    @property
    def token_embedding(self) -> torch.Tensor:
        return self.W_E.weight

    def mlp_output_weights(self, layer: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        self.mlp_hooks(layer)  # range check
        lin = self.blocks[int(layer)].mlp.W_out
        return lin.weight.T, lin.bias

    # ---- files -------------------------------------------------------------
    def save(self, folder: Path | str) -> None:
        folder = Path(folder)
        save_tensors(folder / "model.safetensors", self.state_dict(), metadata={"format": "pt"})
        write_json(folder / "config.json", {"architecture": "monoscope-gpt", **asdict(self.cfg)})

    @classmethod
    def load(cls, folder: Path | str, device: str | torch.device = "cpu") -> GPT:
        folder = Path(folder)
        cfg = read_json(folder / "config.json", "model config")
        model = cls(GPTConfig.from_dict(cfg))
        state = load_tensors(folder / "model.safetensors", "model weights")
        missing = set(model.state_dict()) - set(state)
        if missing:
            raise MonoscopeError(
                f"{folder}/model.safetensors lacks {sorted(missing)[:3]}; it does not match config.json"
            )
        for k, v in model.state_dict().items():
            if state[k].shape != v.shape:
                raise MonoscopeError(
                    f"{folder}/model.safetensors: {k} has shape {tuple(state[k].shape)}, "
                    f"config.json expects {tuple(v.shape)}"
                )
        model.load_state_dict(state)
        return model.to(device).eval()


def lm_loss(logits: torch.Tensor, tokens: torch.Tensor, per_token: bool = False) -> torch.Tensor:
    """Next-token cross-entropy; position t predicts token t+1."""
    loss = F.cross_entropy(
        logits[:, :-1].reshape(-1, logits.shape[-1]).float(), tokens[:, 1:].reshape(-1), reduction="none"
    )
    loss = loss.view(tokens.shape[0], -1)
    return loss if per_token else loss.mean()
