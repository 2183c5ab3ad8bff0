"""Open what a run folder holds: the subject model, its dataset and the SAE, found from one path.

A user names an SAE folder or a whole run folder (`runs/NAME` with `data/`,
`model/`, `sae/`); the model and dataset are found beside it or through the
paths recorded in the SAE's metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monoscope.data.dataset import Dataset
from monoscope.data.fingerprint import check_model_reads
from monoscope.errors import MonoscopeError
from monoscope.models import load_model
from monoscope.sae.io import load_sae


def sae_dir(path: Path | str) -> Path:
    p = Path(path)
    if not p.exists():
        raise MonoscopeError(f"run folder {p} does not exist")
    if (p / "cfg.json").exists():
        return p
    if (p / "sae" / "cfg.json").exists():
        return p / "sae"
    raise MonoscopeError(f"{p} holds no SAE (no cfg.json in it or in {p / 'sae'}); run `monoscope train-sae` first")


@dataclass
class Run:
    folder: Path
    sae_folder: Path
    model: object
    sae: object
    dataset: Dataset | None
    hook: str

    @property
    def model_folder(self) -> Path:
        return Path(self.sae.cfg.metadata.get("model_path") or self.folder / "model")


def _first(*paths) -> Path | None:
    for p in paths:
        if p and Path(p).exists():
            return Path(p)
    return None


def load_run(
    path: Path | str,
    model: Path | str | None = None,
    data: Path | str | None = None,
    device: str = "cpu",
    need_data: bool = True,
) -> Run:
    sdir = sae_dir(path)
    sae = load_sae(sdir, device)
    meta = sae.cfg.metadata
    run = sdir.parent
    mdir = _first(model, run / "model", meta.get("model_path"))
    if mdir is None:
        raise MonoscopeError(f"cannot find the subject model for {sdir}; pass --model FOLDER")
    m = load_model(mdir, device)
    ddir = _first(data, run / "data", meta.get("dataset_path"))
    if ddir is None and need_data:
        raise MonoscopeError(f"cannot find the dataset for {sdir}; pass --data FOLDER")
    ds = Dataset(ddir) if ddir is not None else None
    if ds is not None:
        check_model_reads(mdir, ds.identity())
    hook = meta.get("hook_name")
    if not hook:
        raise MonoscopeError(f"{sdir}/cfg.json names no metadata.hook_name")
    m.check_hook(hook)
    if ds is not None and hasattr(m, "cfg") and getattr(m.cfg, "vocab_size", None) not in (None, ds.meta["vocab_size"]):
        raise MonoscopeError(
            f"tokenizer vocabulary ({ds.meta['vocab_size']}) and model vocabulary ({m.cfg.vocab_size}) differ"
        )
    return Run(folder=run, sae_folder=sdir, model=m, sae=sae, dataset=ds, hook=hook)
