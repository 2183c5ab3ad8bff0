"""SAE architectures behind one interface, the trainer, and the SAELens file layout."""

from monoscope.sae import batchtopk, gated, jumprelu, matryoshka, relu, topk  # noqa: F401  (register the architectures)
from monoscope.sae.base import ARCHITECTURES, SAE, SAEConfig, SAELoss, register
from monoscope.sae.foreign import load_dictionary_learning, load_sparsify
from monoscope.sae.io import load_sae, save_sae
from monoscope.sae.sweep import train_sweep
from monoscope.sae.train import train_sae
from monoscope.sae.trainer import SAETrainer, TrainConfig, make_sae

__all__ = [
    "ARCHITECTURES",
    "SAE",
    "SAEConfig",
    "SAELoss",
    "register",
    "load_sae",
    "save_sae",
    "train_sae",
    "SAETrainer",
    "TrainConfig",
    "make_sae",
    "train_sweep",
    "load_sparsify",
    "load_dictionary_learning",
]
