"""SAELens's TopK and BatchTopK trained on the same batches as ours: the peer of every SAE comparison.

SAELens is a development dependency (extra `dev`); `available()` says whether
it is installed, and callers skip the peer where it is not. Both libraries get
the same lr, batch size and steps; each keeps the rest of its own recipe.
"""

from __future__ import annotations

import importlib.util
import warnings

import torch

PEERS = {"saelens-topk": "topk", "saelens-batchtopk": "batchtopk"}


def available() -> bool:
    return importlib.util.find_spec("sae_lens") is not None


def saelens_trainer(
    arch: str, d_in: int, d_sae: int, k: int, steps: int, batch: int, lr: float, dead_window: int, device: str = "cpu"
):
    """(SAELens SAETrainer, its training SAE) for `arch` in topk/batchtopk; feed batches with `trainer.step(x)`.
    `dead_window` is in steps (SAELens counts its dead-feature window in batches)."""
    warnings.filterwarnings("ignore", module="sae_lens")
    from sae_lens.config import SAETrainerConfig
    from sae_lens.saes.batchtopk_sae import BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig
    from sae_lens.training.sae_trainer import SAETrainer

    cls, cfg_cls = (
        (TopKTrainingSAE, TopKTrainingSAEConfig)
        if arch == "topk"
        else (BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig)
    )
    sae = cls(cfg_cls(d_in=d_in, d_sae=d_sae, k=k, device=device))
    tr = SAETrainer(
        SAETrainerConfig(
            total_training_samples=steps * batch,
            train_batch_size_samples=batch,
            lr=lr,
            lr_end=lr,
            dead_feature_window=dead_window,
            device=device,
        ),
        sae,
        iter(()),
    )
    return tr, sae


@torch.no_grad()
def saelens_inference(sae, arch: str):
    """(encode, decode) as SAELens runs the SAE after training: TopK as is; BatchTopK as the JumpReLU it saves, at
    its running-mean topk_threshold (activations rescaled by decoder norms)."""
    if arch == "topk":
        return sae.encode, sae.decode

    def encode(x):
        norm = sae.W_dec.norm(dim=-1)
        pre = (sae.process_sae_in(x) @ sae.W_enc + sae.b_enc) * norm
        return pre * (pre > float(sae.topk_threshold))

    return encode, lambda f: (f / sae.W_dec.norm(dim=-1)) @ sae.W_dec + sae.b_dec
