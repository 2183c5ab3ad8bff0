"""PNG figures shared by the stages (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def save(fig, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


def curves(
    records: Sequence[dict],
    keys: Sequence[str],
    path: Path | str,
    title: str,
    x: str = "step",
    log_keys: Sequence[str] = (),
) -> Path:
    """One panel per metric, against `x`, from JSON-lines records."""
    keys = [k for k in keys if any(k in r for r in records)]
    fig, axes = plt.subplots(1, max(1, len(keys)), figsize=(4.2 * max(1, len(keys)), 3.2), squeeze=False)
    for ax, k in zip(axes[0], keys):
        pts = [(r[x], r[k]) for r in records if k in r and r[k] is not None]
        if pts:
            ax.plot(*zip(*pts), marker="." if len(pts) < 30 else None)
        ax.set_xlabel(x)
        ax.set_title(k)
        if k in log_keys:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    return save(fig, path)


def density_histogram(log10_density: Sequence[float], path: Path | str, title: str = "feature density") -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    vals = [v for v in log10_density]
    dead = sum(v <= -9.9 for v in vals)
    ax.hist([v for v in vals if v > -9.9], bins=50, color="#3b6ea8")
    ax.set_xlabel("log10(density)")
    ax.set_ylabel("features")
    ax.set_title(f"{title} ({dead} dead of {len(vals)})")
    return save(fig, path)


def frontier(rows: Sequence[dict], path: Path | str, title: str = "SAE frontier") -> Path:
    """FVU vs L0 and loss recovered vs L0, one series per architecture (and size)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['architecture']} {r['d_sae']}", []).append(r)
    for label, rs in sorted(groups.items()):
        rs = sorted(rs, key=lambda r: r["l0"])
        for ax, key in zip(axes, ("fvu", "loss_recovered")):
            ax.plot([r["l0"] for r in rs], [r[key] for r in rs], marker="o", label=label)
    for ax, key in zip(axes, ("FVU (lower is better)", "loss recovered (higher is better)")):
        ax.set_xlabel("L0 (active latents per token)")
        ax.set_xscale("log")
        ax.set_title(key)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return save(fig, path)
