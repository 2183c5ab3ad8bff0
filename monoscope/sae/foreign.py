"""Importers for SAEs trained by other libraries: EleutherAI's sparsify and Marks et al.'s dictionary_learning.

Each maps the foreign tensors onto our SAELens-layout SAE (pre = (x - b_dec) W_enc + b_enc,
x_hat = f W_dec + b_dec) and checks every key and shape, naming what is missing
or wrong. sparsify files are safetensors; dictionary_learning's `ae.pt` is read
with torch.load(weights_only=True), which refuses arbitrary pickled objects.
"""

from __future__ import annotations

from pathlib import Path

import torch

from monoscope.errors import MonoscopeError
from monoscope.io import load_tensors, read_json
from monoscope.sae.base import SAE, SAEConfig
from monoscope.sae.io import load_state
from monoscope.sae.trainer import make_sae


def _need(t: dict[str, torch.Tensor], key: str, shape: tuple[int, ...], where: str) -> torch.Tensor:
    if key not in t:
        raise MonoscopeError(f"{where} lacks {key!r} (expected shape {list(shape)})")
    if tuple(t[key].shape) != tuple(shape):
        raise MonoscopeError(f"{where}: {key!r} has shape {list(t[key].shape)}, expected {list(shape)}")
    return t[key].float()


def _build(arch: str, d_in: int, d_sae: int, k: int | None, tensors: dict, meta: dict) -> SAE:
    sae = make_sae(SAEConfig(arch, d_in, d_sae, k=k, metadata=meta))
    load_state(sae, tensors, meta["imported_from"])
    return sae.eval()


def load_sparsify(folder: Path | str) -> SAE:
    """A sparsify SAE folder: cfg.json + sae.safetensors (encoder.weight [d_sae, d_in], encoder.bias, W_dec, b_dec)."""
    folder = Path(folder)
    cfg = read_json(folder / "cfg.json", "sparsify cfg.json")
    t = load_tensors(folder / "sae.safetensors", "sparsify weights")
    where = str(folder / "sae.safetensors")
    if "encoder.weight" not in t:
        raise MonoscopeError(f"{where} lacks 'encoder.weight' (expected shape [d_sae, d_in])")
    d_sae, d_in = (int(s) for s in t["encoder.weight"].shape)
    if cfg.get("d_in") not in (None, d_in):
        raise MonoscopeError(f"{where}: 'encoder.weight' has d_in={d_in} but cfg.json says d_in={cfg['d_in']}")
    k = cfg.get("k")
    if k is None:
        raise MonoscopeError(f"{folder}/cfg.json lacks 'k'; sparsify SAEs are TopK")
    W_enc = _need(t, "encoder.weight", (d_sae, d_in), where).T.contiguous()
    tensors = {
        "W_enc": W_enc,
        "b_enc": _need(t, "encoder.bias", (d_sae,), where),
        "W_dec": _need(t, "W_dec", (d_sae, d_in), where),
        "b_dec": _need(t, "b_dec", (d_in,), where),
    }
    return _build("topk", d_in, d_sae, int(k), tensors, {"imported_from": where, "format": "sparsify"})


_DL_CLASSES = {
    "AutoEncoder": "relu",
    "AutoEncoderTopK": "topk",
    "BatchTopKSAE": "jumprelu",
    "JumpReluAutoEncoder": "jumprelu",
    "GatedAutoEncoder": "gated",
}


def load_dictionary_learning(folder: Path | str) -> SAE:
    """A dictionary_learning folder: ae.pt (state dict) + config.json (trainer.dict_class, activation_dim, dict_size,
    k)."""
    folder = Path(folder)
    conf = read_json(folder / "config.json", "dictionary_learning config.json")
    tr = conf.get("trainer", conf)
    cls = tr.get("dict_class", "AutoEncoder")
    if cls not in _DL_CLASSES:
        raise MonoscopeError(
            f"{folder}/config.json: dict_class {cls!r} is not supported; known: {', '.join(_DL_CLASSES)}"
        )
    for key in ("activation_dim", "dict_size"):
        if key not in tr:
            raise MonoscopeError(f"{folder}/config.json lacks trainer.{key}")
    d_in, d_sae = int(tr["activation_dim"]), int(tr["dict_size"])
    path = folder / "ae.pt"
    if not path.exists():
        raise MonoscopeError(f"missing dictionary_learning weights: {path}")
    try:
        t = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - weights_only refuses code; say so on one line
        raise MonoscopeError(
            f"{path} is not a plain tensor state dict (refused by torch.load(weights_only=True)): "
            f"{str(e).splitlines()[0][:160]}"
        ) from None
    if not isinstance(t, dict):
        raise MonoscopeError(f"{path} holds a {type(t).__name__}, expected a state dict of tensors")
    where = str(path)
    arch = _DL_CLASSES[cls]
    k = None
    if cls == "GatedAutoEncoder":
        tensors = {
            "W_enc": _need(t, "encoder.weight", (d_sae, d_in), where).T.contiguous(),
            "b_gate": _need(t, "gate_bias", (d_sae,), where),
            "r_mag": _need(t, "r_mag", (d_sae,), where),
            "b_mag": _need(t, "mag_bias", (d_sae,), where),
            "W_dec": _need(t, "decoder.weight", (d_in, d_sae), where).T.contiguous(),
            "b_dec": _need(t, "decoder_bias", (d_in,), where),
        }
    elif cls == "JumpReluAutoEncoder":
        tensors = {
            k_: _need(t, k_, s, where)
            for k_, s in (
                ("W_enc", (d_in, d_sae)),
                ("b_enc", (d_sae,)),
                ("W_dec", (d_sae, d_in)),
                ("b_dec", (d_in,)),
                ("threshold", (d_sae,)),
            )
        }
    else:
        tensors = {
            "W_enc": _need(t, "encoder.weight", (d_sae, d_in), where).T.contiguous(),
            "b_enc": _need(t, "encoder.bias", (d_sae,), where),
            "W_dec": _need(t, "decoder.weight", (d_in, d_sae), where).T.contiguous(),
            "b_dec": _need(t, "bias" if cls == "AutoEncoder" else "b_dec", (d_in,), where),
        }
        if cls == "AutoEncoderTopK":
            k = int(t["k"]) if "k" in t else tr.get("k")
            if k is None:
                raise MonoscopeError(f"{folder}: a TopK dictionary needs k (in ae.pt or config.json)")
        if cls == "BatchTopKSAE":
            th = t.get("threshold")
            if th is None:
                raise MonoscopeError(f"{where} lacks 'threshold' (a BatchTopK SAE runs as a JumpReLU at inference)")
            tensors["threshold"] = torch.as_tensor(th, dtype=torch.float32).expand(d_sae).clone()
    return _build(
        arch, d_in, d_sae, k, tensors, {"imported_from": where, "format": "dictionary_learning", "dict_class": cls}
    )
