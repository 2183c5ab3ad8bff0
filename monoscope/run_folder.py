"""Open what a run folder holds: the subject model, its dataset and the SAE, found from one path.

A user names an SAE folder or a whole run folder (`runs/NAME` with `data/`,
`model/`, `sae/`); the model and dataset are the ones named with --model/--data
or found beside the SAE. The paths recorded in an SAE's metadata are never
followed on their own: a downloaded SAE would point anywhere, so they are only
quoted in the error that asks for --model/--data. Where the folders used are not
the run's own, one line on stderr names them.
"""

from __future__ import annotations

import sys
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
    model_folder: Path | None = None
    data_folder: Path | None = None


def _folder(given: Path | str | None, beside: Path, what: str, flag: str) -> Path | None:
    """The folder named on the command line, else the one beside the SAE; None where neither exists."""
    if given:
        if not Path(given).exists():
            raise MonoscopeError(f"{what} folder {given} does not exist; pass {flag} FOLDER")
        return Path(given)
    if beside.exists():
        return beside
    return None


def _missing(what: str, flag: str, recorded: str, sdir: Path) -> MonoscopeError:
    hint = f" (its metadata names {recorded}, which is not followed unasked)" if recorded else ""
    return MonoscopeError(f"no {what} beside the SAE {sdir}; pass {flag} FOLDER{hint}")


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
    mdir = _folder(model, run / "model", "model", "--model")
    if mdir is None:
        raise _missing("subject model", "--model", meta.get("model_path", ""), sdir)
    ddir = _folder(data, run / "data", "data", "--data")
    if ddir is None and need_data:
        raise _missing("dataset", "--data", meta.get("dataset_path", ""), sdir)
    if model or data or sdir != run / "sae":
        print(f"monoscope: SAE {sdir}, model {mdir}, data {ddir or '(none)'}", file=sys.stderr)
    m = load_model(mdir, device)
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
    return Run(
        folder=run, sae_folder=sdir, model=m, sae=sae, dataset=ds, hook=hook, model_folder=mdir, data_folder=ddir
    )
