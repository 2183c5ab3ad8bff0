"""Feature edits: what to do to which SAE latents at which positions.

An edit changes feature activations f before decoding (clamp, scale, ablate)
or adds a decoder direction to the hook's value (a steering vector). Clamps
may be given as a multiple of the feature's maximum activation ("10x", as in
Templeton et al. 2024); those are resolved to absolute values once the
maximum is known.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch

from monoscope.errors import MonoscopeError

OPS = ("clamp", "scale", "ablate", "add")


@dataclass(frozen=True)
class Edit:
    """One intervention on one feature. `positions` None means every position (BOS excepted)."""

    feature: int
    op: str
    value: float = 0.0  # clamp target, scale factor or steering strength; unused by ablate
    relative: bool = False  # clamp value is a multiple of the feature's maximum activation
    positions: tuple[int, ...] | None = None

    def __post_init__(self):
        if self.op not in OPS:
            raise MonoscopeError(f"unknown edit {self.op!r}; expected one of {', '.join(OPS)}")
        if not math.isfinite(float(self.value)):
            raise MonoscopeError(
                f"{self.op} value for feature {self.feature} must be a finite number, got {self.value}"
            )
        if self.relative and self.op != "clamp":
            raise MonoscopeError(f"only clamp takes a multiple of the maximum activation ('10x'), not {self.op}")

    def describe(self) -> str:
        if self.op == "ablate":
            return f"ablate feature {self.feature}"
        v = f"{self.value:g}x max" if self.relative else f"{self.value:g}"
        return f"{self.op} feature {self.feature} {'to' if self.op == 'clamp' else 'by'} {v}"


def parse_clamp(text: str) -> tuple[float, bool]:
    """'10x' -> (10, relative); '3.5' -> (3.5, absolute). NaN and infinities are refused."""
    s = str(text).strip().lower()
    m = re.fullmatch(r"([^x]+)(x?)", s)
    try:
        if m is None:
            raise ValueError
        v = float(m.group(1))
    except ValueError:
        raise MonoscopeError(f"clamp value must be a number or a multiple like '10x', got {text!r}") from None
    if not math.isfinite(v):
        raise MonoscopeError(f"clamp value must be finite, got {text!r}")
    return v, bool(m.group(2))


def parse_positions(text: str | None) -> tuple[int, ...] | None:
    """'all' or None -> every position; '3,5,-1' -> those positions (negative counts from the end)."""
    if text is None or str(text).strip().lower() in ("", "all"):
        return None
    try:
        return tuple(int(p) for p in str(text).split(",") if p.strip())
    except ValueError:
        raise MonoscopeError(f"positions must be 'all' or comma-separated integers, got {text!r}") from None


def parse_features(text: str | int | Sequence[int]) -> list[int]:
    if isinstance(text, int):
        return [text]
    if not isinstance(text, str):
        return [int(i) for i in text]
    try:
        feats = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise MonoscopeError(f"features must be comma-separated integers, got {text!r}") from None
    if not feats:
        raise MonoscopeError("no feature given; expected an index like 12 or a list like 12,40")
    return feats


def check_features(features: Sequence[int], d_sae: int) -> None:
    for i in features:
        if not 0 <= int(i) < d_sae:
            raise MonoscopeError(f"feature index {i} is out of range; the SAE has features 0..{d_sae - 1}")


def resolve(
    edits: Sequence[Edit], d_sae: int, max_acts: torch.Tensor | Mapping[int, float] | None = None
) -> list[Edit]:
    """Check indices and turn relative clamps into absolute values using the features' maximum activations."""
    check_features([e.feature for e in edits], d_sae)
    out = []
    for e in edits:
        if e.relative:
            if max_acts is None:
                raise MonoscopeError(
                    f"clamp of feature {e.feature} to {e.value:g}x its maximum needs the maximum activation; "
                    "pass max_acts (see monoscope.steer.scan.feature_max_acts)"
                )
            m = float(max_acts[e.feature])
            if not math.isfinite(m):
                raise MonoscopeError(f"maximum activation of feature {e.feature} is {m}; expected a finite number")
            if m <= 0:
                raise MonoscopeError(
                    f"feature {e.feature} never fired on the contexts scanned, so {e.value:g}x its maximum is 0; "
                    "scan more contexts (--max-act-contexts), or give --max-act or an absolute value"
                )
            e = replace(e, value=e.value * m, relative=False)
        out.append(e)
    return out
