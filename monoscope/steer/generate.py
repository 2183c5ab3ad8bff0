"""Steered generation: sample a baseline and a steered continuation of the same prompt with the same seed.

Along the steered continuation, each step also runs the clean model on the same
prefix, giving the per-step KL(steered || clean) and the tokens whose
log-probability the edits raised or lowered most.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

from monoscope.errors import MonoscopeError


@dataclass
class SampleConfig:
    max_new_tokens: int = 32
    temperature: float = 1.0  # 0 = greedy
    top_k: int = 0  # 0 = whole vocabulary
    seed: int = 0
    top_changes: int = 3  # tokens listed as promoted / demoted per step

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise MonoscopeError(f"max_new_tokens must be at least 1, got {self.max_new_tokens}")
        if not math.isfinite(self.temperature) or self.temperature < 0:
            raise MonoscopeError(f"temperature must be a finite number >= 0, got {self.temperature}")
        if self.top_k < 0:
            raise MonoscopeError(f"top_k must be >= 0, got {self.top_k}")


def encode_prompt(tokenizer, bos_id: int, prompt: str) -> list[int]:
    """[BOS] + the prompt's tokens, as every training context starts."""
    if prompt is None or not str(prompt).strip():
        raise MonoscopeError("the prompt is empty; give some text to continue")
    return [bos_id] + tokenizer.encode(prompt).ids


def _window(seq: list[int], n_ctx: int) -> list[int]:
    """The last tokens that fit the context, keeping the BOS in front so position 0 stays BOS."""
    return seq if len(seq) <= n_ctx else seq[:1] + seq[-(n_ctx - 1) :]


def _pick(logits: torch.Tensor, cfg: SampleConfig, gen: torch.Generator) -> int:
    if cfg.temperature == 0:
        return int(logits.argmax())
    logits = logits.float() / cfg.temperature
    if cfg.top_k:
        v, i = logits.topk(min(cfg.top_k, logits.shape[-1]))
        return int(i[torch.multinomial(v.softmax(-1).cpu(), 1, generator=gen)])
    return int(torch.multinomial(logits.softmax(-1).cpu(), 1, generator=gen))


@torch.no_grad()
def sample(
    model,
    prompt_ids: Sequence[int],
    cfg: SampleConfig,
    intervention: Callable[[], contextlib.AbstractContextManager] | None = None,
    reference: bool = False,
) -> dict:
    """Sample a continuation, under `intervention()` if given. With `reference`, also score each
    step's prefix with the clean model (KL and top log-prob changes)."""
    dev = next(model.parameters()).device
    n_ctx = model.cfg.n_ctx
    seq = list(prompt_ids)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps = []
    for _ in range(cfg.max_new_tokens):
        x = torch.tensor([_window(seq, n_ctx)], device=dev)
        with intervention() if intervention else contextlib.nullcontext():
            logits = model(x)[0, -1]
        tok = _pick(logits, cfg, gen)
        step = {"token": tok}
        if reference:
            ref = model(x)[0, -1]
            lp, lq = logits.float().log_softmax(-1), ref.float().log_softmax(-1)
            diff = lp - lq
            step["kl"] = float((lp.exp() * diff).sum())
            step["promoted"] = [(int(i), float(diff[i])) for i in diff.topk(cfg.top_changes).indices]
            step["demoted"] = [(int(i), float(diff[i])) for i in (-diff).topk(cfg.top_changes).indices]
        steps.append(step)
        seq.append(tok)
    return {"tokens": seq[len(prompt_ids) :], "steps": steps}


def compare(
    model,
    tokenizer,
    prompt_ids: Sequence[int],
    cfg: SampleConfig,
    intervention: Callable[[], contextlib.AbstractContextManager],
) -> dict:
    """Baseline and steered continuations (same seed), with per-step KL and top changes on the steered path."""
    base = sample(model, prompt_ids, cfg)
    st = sample(model, prompt_ids, cfg, intervention, reference=True)
    from monoscope.steer.domains import show_token

    tok = lambda i: show_token(tokenizer, i)  # noqa: E731
    steps = []
    for k, (b, s) in enumerate(zip(base["steps"], st["steps"])):
        steps.append(
            {
                "step": k,
                "baseline": tok(b["token"]),
                "steered": tok(s["token"]),
                "kl": s["kl"],
                "promoted": [[tok(i), d] for i, d in s["promoted"]],
                "demoted": [[tok(i), d] for i, d in s["demoted"]],
            }
        )
    kls = [s["kl"] for s in steps]
    return {
        "prompt": tokenizer.decode(list(prompt_ids)[1:], skip_special_tokens=False),
        "config": asdict(cfg),
        "baseline": {"text": tokenizer.decode(base["tokens"], skip_special_tokens=False), "tokens": base["tokens"]},
        "steered": {"text": tokenizer.decode(st["tokens"], skip_special_tokens=False), "tokens": st["tokens"]},
        "mean_kl": sum(kls) / len(kls),
        "steps": steps,
    }


def format_side_by_side(r: dict, edits: str = "", width: int = 18) -> str:
    """A plain-text view of `compare`'s result: both continuations, then a per-step table."""
    q = lambda s: repr(s)[1:-1][:width]  # noqa: E731
    lines = [
        f"prompt:   {r['prompt']!r}",
        f"edits:    {edits}" if edits else None,
        f"baseline: {r['baseline']['text']!r}",
        f"steered:  {r['steered']['text']!r}",
        f"mean KL(steered||clean) per step: {r['mean_kl']:.4f}",
        "",
        f"{'step':>4}  {'baseline':<{width}}  {'steered':<{width}}  {'KL':>7}  promoted (Δlog p) / demoted",
    ]
    for s in r["steps"]:
        pro = ", ".join(f"{q(t)}{d:+.2f}" for t, d in s["promoted"])
        dem = ", ".join(f"{q(t)}{d:+.2f}" for t, d in s["demoted"])
        lines.append(
            f"{s['step']:>4}  {q(s['baseline']):<{width}}  {q(s['steered']):<{width}}  {s['kl']:7.3f}  {pro} / {dem}"
        )
    return "\n".join(line for line in lines if line is not None) + "\n"
