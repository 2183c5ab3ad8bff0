"""Save and load SAEs in the SAELens layout: `cfg.json` + `sae_weights.safetensors` (+ `sparsity.safetensors`).

Our own facts go under `metadata`, never into a second format. Input scaling
is folded into the weights before saving, so a saved SAE reads raw activations.
"""

from __future__ import annotations

from pathlib import Path

import torch

from monoscope.errors import MonoscopeError
from monoscope.io import load_tensors, read_json, save_tensors, tensor_shapes, write_json
from monoscope.sae.base import ARCHITECTURES, SAE, SAEConfig


def from_saelens(name: str) -> str:
    """Our architecture that reads a foreign file whose cfg.json says `architecture: name` (SAELens's vocabulary);
    our own files name theirs in metadata.monoscope_architecture."""
    return next((a for a, cls in ARCHITECTURES.items() if name in cls.foreign_names()), name)


# A transcoder is saved under SAELens's transcoder names (its inference form's activation, "skip" with W_skip);
# SAELens has no TopK transcoder, so that one keeps a name of ours that only monoscope reads.
TRANSCODER_NAMES = {"relu": "transcoder", "jumprelu": "jumprelu_transcoder", "topk": "topk_transcoder"}


def transcoder_name(loader: str, skip: bool) -> str:
    base = TRANSCODER_NAMES.get(loader)
    if base is None:
        raise MonoscopeError(f"a {loader} transcoder has no saved form; known: {', '.join(TRANSCODER_NAMES)}")
    return base.replace("transcoder", "skip_transcoder") if skip else base


def from_transcoder_name(name: str) -> tuple[str, bool] | None:
    """(our architecture, skip) of a saved transcoder's architecture name; None for an SAE's."""
    for arch, base in TRANSCODER_NAMES.items():
        if name in (base, base.replace("transcoder", "skip_transcoder")):
            return arch, "skip_" in name
    return None


WEIGHTS = "sae_weights.safetensors"
SPARSITY = "sparsity.safetensors"


def save_sae(sae: SAE, folder: Path | str, sparsity: torch.Tensor | None = None) -> Path:
    folder = Path(folder)
    arch, tensors = sae.export()
    if sae.cfg.is_transcoder:
        arch = transcoder_name(sae.loader(), sae.cfg.skip)
        tensors = dict(tensors)
        if sae.W_skip is not None:
            tensors["W_skip"] = sae.W_skip
    cfg = {
        "architecture": arch,
        "d_in": sae.d_in,
        "d_sae": sae.d_sae,
        **({"d_out": sae.d_out} if sae.cfg.is_transcoder else {}),
        "dtype": sae.cfg.dtype,
        "device": "cpu",
        "apply_b_dec_to_input": not sae.cfg.is_transcoder,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {**sae.cfg.metadata, "monoscope_architecture": sae.architecture},
    }
    cfg.update(sae.saelens_cfg())
    save_tensors(folder / WEIGHTS, tensors)
    if sparsity is not None:
        save_tensors(folder / SPARSITY, {"sparsity": torch.log10(sparsity.float() + 1e-10)})
    write_json(folder / "cfg.json", cfg)
    return folder


def load_sae(folder: Path | str, device: str | torch.device = "cpu") -> SAE:
    """Load an SAE folder in the SAELens layout (written by monoscope or by SAELens)."""
    folder = Path(folder)
    if not folder.exists():
        raise MonoscopeError(f"SAE folder {folder} does not exist")
    if (folder / "sae" / "cfg.json").exists() and not (folder / "cfg.json").exists():
        folder = folder / "sae"  # a run folder: the SAE lives in its sae/ sub-folder
    raw = read_json(folder / "cfg.json", "SAE cfg.json")
    for key in ("architecture", "d_in", "d_sae"):
        if key not in raw:
            raise MonoscopeError(
                f"{folder}/cfg.json lacks {key!r}; expected the SAELens layout (architecture, d_in, d_sae, ...)"
            )
    meta = raw.get("metadata") or {}
    tc = from_transcoder_name(str(raw["architecture"]))
    if tc is not None and "d_out" not in raw:
        raise MonoscopeError(f"{folder}/cfg.json names transcoder {raw['architecture']!r} but lacks 'd_out'")
    arch = meta.get("monoscope_architecture") or (tc[0] if tc else from_saelens(raw["architecture"]))
    if arch in ARCHITECTURES:
        arch = ARCHITECTURES[arch].loader()  # BatchTopK and Matryoshka are read back as their inference form
    if arch not in ARCHITECTURES:
        raise MonoscopeError(
            f"{folder}: unknown SAE architecture {raw['architecture']!r}; known: {', '.join(sorted(ARCHITECTURES))}"
        )
    cfg = SAEConfig(
        architecture=arch,
        d_in=int(raw["d_in"]),
        d_sae=int(raw["d_sae"]),
        k=raw.get("k"),
        dtype=raw.get("dtype", "float32"),
        metadata=meta,
        d_out=int(raw["d_out"]) if tc else None,
        skip=bool(tc and tc[1]),
    )
    with torch.device("meta"):  # shapes only: a cfg.json may claim sizes the weights file does not hold
        expected = ARCHITECTURES[arch](cfg).saved_shapes()
    check_shapes(expected, tensor_shapes(folder / WEIGHTS, "SAE weights"), str(folder / WEIGHTS))
    sae = ARCHITECTURES[arch](cfg)
    tensors = load_tensors(folder / WEIGHTS, "SAE weights")
    if raw.get("rescale_acts_by_decoder_norm") and "W_dec" in tensors:
        tensors = _fold_decoder_norm(tensors)
    load_state(sae, tensors, str(folder / WEIGHTS))
    return sae.to(device).eval()


def check_shapes(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]], where: str) -> None:
    """Every tensor the SAE needs is there with its shape; names a missing key or a wrong shape."""
    for k, shape in expected.items():
        if k not in found:
            raise MonoscopeError(f"{where} lacks {k!r} (expected shape {list(shape)})")
        if tuple(found[k]) != tuple(shape):
            raise MonoscopeError(
                f"{where}: {k!r} has shape {list(found[k])}, expected {list(shape)} (does cfg.json's d_in/d_sae match?)"
            )


def load_state(sae: SAE, tensors: dict[str, torch.Tensor], where: str) -> None:
    """Copy named tensors (saved layout) into an SAE, naming any missing key or wrong shape."""
    check_shapes(sae.saved_shapes(), {k: tuple(v.shape) for k, v in tensors.items()}, where)
    state = sae.import_tensors({k: tensors[k] for k in sae.saved_shapes()})
    sae.load_state_dict({k: v.float() for k, v in state.items()})


def _fold_decoder_norm(t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SAELens TopK with rescale_acts_by_decoder_norm: fold the decoder norms into the encoder (same outputs)."""
    n = t["W_dec"].norm(dim=1).clamp_min(1e-12)
    t = dict(t)
    t["W_dec"] = t["W_dec"] / n[:, None]
    t["W_enc"] = t["W_enc"] * n[None, :]
    if "b_enc" in t:
        t["b_enc"] = t["b_enc"] * n
    return t


def load_sparsity(folder: Path | str) -> torch.Tensor | None:
    p = Path(folder) / SPARSITY
    return load_tensors(p, "sparsity file")["sparsity"] if p.exists() else None
