"""Train the built-in subject model on a packed token dataset, with validation loss and resume."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from monoscope.data.fingerprint import TRAINED_ON
from monoscope.errors import MonoscopeError
from monoscope.io import jsonl_append, load_torch, read_jsonl, save_torch, truncate_jsonl, write_json, write_text
from monoscope.models.transformer import GPT, GPTConfig, lm_loss
from monoscope.stages import finish_stage, open_stage

STATE = "train_state.pt"


@dataclass
class ModelTrainConfig:
    model: GPTConfig = field(default_factory=GPTConfig)
    steps: int = 2400
    batch_size: int = 32
    lr: float = 3e-3
    warmup_steps: int = 50
    min_lr_frac: float = 0.1
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    eval_every: int = 250
    eval_contexts: int = 128
    checkpoint_every: int = 250
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        if isinstance(self.model, dict):
            self.model = GPTConfig.from_dict(self.model)
        for f in ("steps", "batch_size", "eval_every", "checkpoint_every"):
            if getattr(self, f) <= 0:
                raise MonoscopeError(f"{f} must be positive, got {getattr(self, f)}")
        if self.lr <= 0:
            raise MonoscopeError(f"lr must be positive, got {self.lr}")


def lr_at(step: int, cfg: ModelTrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def _batch_index(step: int, n: int, bs: int, seed: int) -> torch.Tensor:
    """Contexts for `step`: a fresh seeded permutation each epoch, so resuming needs only the step."""
    start = step * bs
    idx = []
    while len(idx) < bs:
        epoch, off = divmod(start + len(idx), n)
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=g)
        idx.extend(perm[off : off + bs - len(idx)].tolist())
    return torch.tensor(idx)


@torch.no_grad()
def evaluate_lm(model: GPT, tokens: torch.Tensor, batch_size: int = 64) -> float:
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(tokens), batch_size):
        t = tokens[i : i + batch_size].to(next(model.parameters()).device)
        total += lm_loss(model(t), t).item() * len(t)
        count += len(t)
    model.train()
    return total / max(count, 1)


def train_model(
    dataset, out: Path | str, cfg: ModelTrainConfig | None = None, overwrite: bool = False, progress: bool = True
) -> GPT:
    """Train (or resume, or reuse) a subject model in `out`: model.safetensors + config.json + metrics.jsonl."""
    cfg = cfg or ModelTrainConfig()
    out = Path(out)
    vocab = dataset.meta["vocab_size"]
    if cfg.model.vocab_size != vocab:
        raise MonoscopeError(f"model vocab_size {cfg.model.vocab_size} does not match the tokenizer's {vocab}")
    if cfg.model.n_ctx < dataset.meta["n_ctx"]:
        raise MonoscopeError(
            f"model n_ctx {cfg.model.n_ctx} is shorter than the dataset contexts ({dataset.meta['n_ctx']})"
        )
    if open_stage(out, "train-model", {**asdict(cfg), "data": str(dataset.folder.resolve())}, overwrite):
        return GPT.load(out, cfg.device)
    # the model folder carries its tokenizer and what it was trained on, so it can be shipped and checked alone
    write_text(out / "tokenizer.json", (dataset.folder / "tokenizer.json").read_text(encoding="utf-8"))
    write_json(out / TRAINED_ON, {**dataset.identity(), "folder": None, "data_config": asdict(dataset.config)})
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model).to(cfg.device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    start = 0
    state_path = out / STATE
    if state_path.exists():
        state = load_torch(state_path, "model checkpoint", cfg.device)
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            start = int(state["step"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            raise MonoscopeError(
                f"model checkpoint {state_path} does not fit this model ({type(e).__name__}); "
                "delete it or pass --overwrite to start again"
            ) from None
    train = dataset.split("train").tokens
    val = dataset.split("val").tokens[: cfg.eval_contexts]
    metrics = out / "metrics.jsonl"
    if start == 0 and metrics.exists():
        metrics.unlink()
    truncate_jsonl(metrics, start)  # steps logged after the checkpoint, and a torn last line, are dropped
    t0 = time.time()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, desc="train-model", disable=not progress)
    model.train()
    for step in bar:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        batch = train[_batch_index(step, len(train), cfg.batch_size, cfg.seed)].to(cfg.device)
        loss = model(batch, return_type="loss")
        if not torch.isfinite(loss):
            raise MonoscopeError(
                f"training loss became {loss.item()} at step {step}; lower --lr (last checkpoint kept)"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        rec = {"step": step + 1, "loss": round(loss.item(), 5), "lr": lr_at(step, cfg)}
        last = step + 1 == cfg.steps
        if (step + 1) % cfg.eval_every == 0 or last:
            rec["val_loss"] = round(evaluate_lm(model, val), 5)
            bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{rec['val_loss']:.3f}")
        jsonl_append(metrics, rec)
        if (step + 1) % cfg.checkpoint_every == 0 and not last:
            _checkpoint(state_path, model, opt, step + 1)
    model.save(out)
    val_loss = next((r["val_loss"] for r in reversed(read_jsonl(metrics)) if "val_loss" in r), None)
    write_json(
        out / "train_summary.json",
        {
            "steps": cfg.steps,
            "val_loss": val_loss,
            "seconds": round(time.time() - t0, 1),
            "tokens_seen": cfg.steps * cfg.batch_size * dataset.meta["n_ctx"],
        },
    )
    if state_path.exists():
        state_path.unlink()
    finish_stage(out)
    return model.eval()


def _checkpoint(path: Path, model, opt, step: int) -> None:
    save_torch(path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": step})
