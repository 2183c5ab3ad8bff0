"""Active features at each token of a user's text, computed live by the subject model and the SAE.

Text longer than the model's context is cut into contexts of n_ctx - 1 tokens,
each starting with BOS as in training, so any length up to `max_chars` works.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from monoscope.errors import MonoscopeError

MAX_CHARS = 20_000


class TextTooLong(MonoscopeError):
    """The text exceeds the live limit; the server answers 413 with this message."""


@dataclass
class LiveModel:
    model: object
    sae: object
    tokenizer: object
    hook: str
    bos_id: int
    n_ctx: int
    max_chars: int = MAX_CHARS

    @torch.no_grad()
    def activations(self, text: str, per_token: int = 5) -> dict:
        """{'tokens': [{'text', 'features': [[id, act], ...]}], 'contexts': n} — the strongest features per token."""
        if len(text) > self.max_chars:
            raise TextTooLong(f"text has {len(text)} characters; the limit is {self.max_chars}")
        ids = self.tokenizer.encode(text).ids
        body = max(1, self.n_ctx - 1)
        out = []
        chunks = [ids[i : i + body] for i in range(0, len(ids), body)]
        device = self.sae.W_enc.device  # the model and the SAE sit on one device (--device)
        for chunk in chunks:
            t = torch.tensor([[self.bos_id] + chunk], device=device)
            _, cache = self.model.run_with_cache(t, names=[self.hook], stop_early=True)
            f = self.sae.encode(cache[self.hook])[0, 1:].float().cpu()
            k = min(per_token, f.shape[-1])
            v, i = f.topk(k, dim=-1)
            for j, tid in enumerate(chunk):
                feats = [[int(a), round(float(b), 4)] for a, b in zip(i[j], v[j]) if b > 0]
                out.append(
                    {"id": int(tid), "text": self.tokenizer.decode([tid], skip_special_tokens=False), "features": feats}
                )
        return {"tokens": out, "contexts": len(chunks), "n_ctx": self.n_ctx}


def live_model(run) -> LiveModel:
    ds = run.dataset
    n_ctx = getattr(getattr(run.model, "cfg", None), "n_ctx", None) or ds.meta["n_ctx"]
    return LiveModel(run.model, run.sae, ds.tokenizer, run.hook, ds.bos_id, int(n_ctx))
