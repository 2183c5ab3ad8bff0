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


def bench_bars(result: dict, out: Path | str) -> list[Path]:
    """One PNG per bench-sae metric: a bar per SAE (sparse probing: accuracy per k beside the raw probe)."""
    out = Path(out)
    saes = result["saes"]
    labels = [f"{Path(p).name or p}\n{v['architecture']} {v['d_sae']}" for p, v in saes.items()]
    scalars = {
        "fvu": lambda v: v["core"].get("fvu"),
        "l0": lambda v: v["core"].get("l0"),
        "loss_recovered": lambda v: v["core"].get("loss_recovered"),
        "mean_absorption_fraction_score": lambda v: v["absorption"].get("mean_absorption_fraction_score"),
        "mean_full_absorption_score": lambda v: v["absorption"].get("mean_full_absorption_score"),
        "mean_num_split_features": lambda v: v["absorption"].get("mean_num_split_features"),
    }
    paths = []
    for key, get in scalars.items():
        vals = [get(v) for v in saes.values()]
        fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(vals), 3.2))
        ax.bar(range(len(vals)), [float("nan") if x is None else x for x in vals])
        ax.set_xticks(range(len(vals)), labels, fontsize=7)
        ax.set_title(key)
        ax.grid(alpha=0.3, axis="y")
        paths.append(save(fig, out / f"{key}.png"))
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for label, v in zip(labels, saes.values()):
        fitted = [t for t in v["sparse_probing"] if "skipped" not in t]
        ks = sorted(int(k.split("_")[2]) for k in (fitted[0] if fitted else {}) if k.startswith("sae_top_"))
        if fitted:
            ax.plot(
                ks,
                [sum(t[f"sae_top_{k}_test_accuracy"] for t in fitted) / len(fitted) for k in ks],
                "o-",
                label=label.replace("\n", " "),
            )
            raw = sum(t["llm_test_accuracy"] for t in fitted) / len(fitted)
    if any("skipped" not in t for v in saes.values() for t in v["sparse_probing"]):
        ax.axhline(raw, color="k", ls="--", label="raw activations")
    ax.set_xscale("log")
    ax.set_xlabel("k latents")
    ax.set_ylabel("mean test accuracy over tasks")
    ax.set_title("sparse probing")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    paths.append(save(fig, out / "sparse_probing.png"))
    if result["stability"]:
        fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(result["stability"]), 3.2))
        pairs = result["stability"]
        ax.bar(range(len(pairs)), [p["share_matched_a_in_b"] for p in pairs])
        ax.set_xticks(range(len(pairs)), [f"{Path(p['a']).name} in\n{Path(p['b']).name}" for p in pairs], fontsize=7)
        ax.set_title(f"stability: share of latents with best decoder cosine > {pairs[0]['threshold']}")
        ax.grid(alpha=0.3, axis="y")
        paths.append(save(fig, out / "stability.png"))
    return paths
