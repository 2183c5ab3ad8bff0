"""The local replacement model of one prompt (Ameisen et al. 2025, circuit-tracer): linear in its nodes.

Every MLP is replaced by its transcoder plus an error node (the MLP's true output minus the transcoder's, so the
replacement reproduces the model exactly on this prompt); attention patterns and LayerNorm scales are frozen at their
values on the prompt. What is left is linear: the residual stream is a sum of node vectors (token embeddings with
their position, each active feature's activation times its decoder row, each error) and constants (biases), carried
by frozen attention, frozen norms and a skip transcoder's linear path. The feature activations are inputs of this
model, not computed in it: an edge is a direct effect, the change of a target's pre-activation when one node is
removed and every other node is held.

Freezing is done through the model's hooks only (its interface, models/hook_names.py): `ln*.hook_scale` and
`attn.hook_pattern` return their cached values, `hook_embed`/`hook_pos_embed` carry the token nodes, and
`hook_mlp_out` returns the nodes' sum. Any model exposing these hooks gets a graph; one that lacks them is refused
with the list of what it has.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError
from monoscope.models.hook_names import hook_name
from monoscope.sae.splice import check_transcoder


@dataclass
class Frozen:
    """What is fixed on the prompt: token ids, the cached scales and patterns, and each layer's transcoder view."""

    tokens: torch.Tensor  # [T]
    cache: dict[str, torch.Tensor]  # frozen hook values (norm scales, attention patterns)
    embed: torch.Tensor  # [T, d]: token node vectors (token embedding + position embedding)
    x: list[torch.Tensor]  # per layer [T, d_in]: what each MLP reads on the prompt
    acts: list[torch.Tensor]  # per layer [T, d_sae]: transcoder feature activations
    errors: list[torch.Tensor]  # per layer [T, d_out]: MLP output - transcoder output


class ReplacementModel:
    """The model with its transcoders, frozen on one prompt. `run(embed, written)` is the linear forward."""

    def __init__(
        self,
        model,
        transcoders,
        dtype: torch.dtype = torch.float64,
        model_name: str | None = None,
        positions: Positions | int | None = None,
    ):
        """`positions`: where feature nodes may be (a Dataset's `.positions`, a BOS id; None: all but position 0)."""
        self.positions = Positions.of(positions)
        self.n_layers = model.cfg.n_layers
        if len(transcoders) != self.n_layers:
            raise MonoscopeError(
                f"the model has {self.n_layers} MLPs; give one transcoder each, got {len(transcoders)}"
            )
        ends = [check_transcoder(model, tc, model_name) for tc in transcoders]
        by_layer = {model.hook_info(i).layer: (tc, i, o) for tc, (i, o) in zip(transcoders, ends)}
        if sorted(by_layer) != list(range(self.n_layers)):
            raise MonoscopeError(f"the transcoders replace layers {sorted(by_layer)}; every layer needs one")
        need = [hook_name(k) for k in ("embed", "pos_embed", "final_scale")] + [
            hook_name(k, L) for L in range(self.n_layers) for k in ("ln1_scale", "ln2_scale", "attn_pattern")
        ]
        missing = [h for h in need if h not in model.hook_dict]
        if missing or model.unembed is None:
            raise MonoscopeError(
                f"an attribution graph freezes norms and attention through hooks this model lacks: "
                f"{', '.join(missing) or 'an unembedding'}; it has: {', '.join(model.hook_names())}"
            )
        self.dtype = dtype
        self.model = copy.deepcopy(model).to(dtype).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.tcs = [copy.deepcopy(by_layer[L][0]).to(dtype).eval() for L in range(self.n_layers)]
        for tc in self.tcs:
            for p in tc.parameters():
                p.requires_grad_(False)
        self.ends = [by_layer[L][1:] for L in range(self.n_layers)]
        self.frozen_hooks = [h for h in need if h not in (hook_name("embed"), hook_name("pos_embed"))]

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def freeze(self, tokens: torch.Tensor) -> Frozen:
        """Run the real model on `tokens` [T] and fix what the replacement model holds constant."""
        t = tokens.to(self.device)[None]
        names = [*self.frozen_hooks, hook_name("embed"), hook_name("pos_embed")]
        names += [h for ends in self.ends for h in ends]
        _, cache = self.model.run_with_cache(t, names=names)
        embed = cache[hook_name("embed")][0] + cache[hook_name("pos_embed")]
        # no feature nodes where the transcoders were not trained (the BOS, separators): as circuit-tracer's zeroed
        # BOS, the MLP's whole output there is its error node
        keep_pos = self.positions.mask(t)[0].to(embed.dtype)
        xs, acts, errs = [], [], []
        for tc, (i, o) in zip(self.tcs, self.ends):
            x = cache[i][0]
            f = tc.encode(x) * keep_pos[:, None]
            y_hat = tc.decode(f)
            s = tc.skip_out(x)
            xs.append(x)
            acts.append(f)
            errs.append(cache[o][0] - (y_hat if s is None else y_hat + s))
        keep = {h: cache[h] for h in self.frozen_hooks}
        return Frozen(tokens.cpu(), keep, embed, xs, acts, errs)

    def written(self, fr: Frozen) -> list[torch.Tensor]:
        """Each layer's node sum written into the residual stream [T, d_out], less the skip path (which is live):
        activations @ W_dec + b_dec + error."""
        return [tc.decode(f) + e for tc, f, e in zip(self.tcs, fr.acts, fr.errors)]

    def run(
        self, fr: Frozen, embed: torch.Tensor, written: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The linear forward: (logits [T, vocab], each layer's MLP input [T, d_in]) from the token nodes `embed`
        [T, d] and each layer's written sum `written[L]` [T, d_out] (the skip path is added live). A feature's
        pre-activation is its layer's input @ W_enc + b_enc."""
        xs: list[torch.Tensor] = []
        hooks = [(h, lambda v, hp, h=h: fr.cache[h]) for h in self.frozen_hooks]
        hooks += [
            (hook_name("embed"), lambda v, hp: embed[None]),
            (hook_name("pos_embed"), lambda v, hp: torch.zeros_like(v)),
        ]
        for L, (tc, (i, o)) in enumerate(zip(self.tcs, self.ends)):

            def read(x, hp):
                xs.append(x[0])
                state[hp.name] = x[0]

            def write(y, hp, tc=tc, i=i, L=L):
                s = tc.skip_out(state[i])
                out = written[L] if s is None else written[L] + s
                return out[None]

            hooks += [(i, read), (o, write)]
        state: dict[str, torch.Tensor] = {}
        logits = self.model.run_with_hooks(fr.tokens.to(self.device)[None], fwd_hooks=hooks)[0]
        return logits, xs
