"""One streaming pass over a token split that gathers every feature's evidence into a feature store.

Per feature: density, max/mean activation, top-k examples and samples from
activation-quantile intervals (each with ±window tokens, per-token activations
and its trace-back to context row/col and document/position), a linear
activation histogram, direct logit effects, decoder neighbours, aligned
neurons, correlated neurons (all tokens) and features (first `corr_tokens`),
and for the top examples the per-token loss change when the feature is
ablated. Memory is bounded by the dictionary size, not by the token count.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from monoscope.errors import MonoscopeError
from monoscope.features.ablation import AblationExample, ablation_loss_deltas
from monoscope.features.logit_effects import (
    decoder_neighbours,
    logit_effects,
    logit_panel,
    neuron_alignment,
    no_logit_effects_reason,
    typical_ln_scale,
)
from monoscope.features.running import DoublingHistogram, FeatureCorrelation, GroupedReservoir, NeuronCorrelation
from monoscope.features.store import DB_NAME, VERSION, ExampleRow, FeatureStore, StoreWriter, sae_hash, visible
from monoscope.io import write_json


@dataclass
class AnalysisConfig:
    tokens: int = 1_000_000
    split: str = "train"
    batch_contexts: int = 32
    top_k: int = 20
    quantile_bins: int = 10  # intervals of [0, max activation], as in sae_vis
    quantile_samples: int = 4  # examples per interval
    before: int = 12  # context tokens shown before the active token
    after: int = 4
    hist_bins: int = 64
    logit_k: int = 10
    neighbours: int = 10
    neurons: int = 8
    corr_k: int = 8
    corr_tokens: int = 65_536  # tokens used for feature-feature correlations
    ablate_examples: int = 3  # top examples per feature that get per-token ablation effects
    ablate_batch: int = 64
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self):
        if int(self.tokens) <= 0:
            raise MonoscopeError(f"--tokens must be positive, got {self.tokens}")
        if self.split not in ("train", "val"):
            raise MonoscopeError(f"split must be 'train' or 'val', got {self.split!r}")
        for f in ("batch_contexts", "top_k", "quantile_bins", "quantile_samples", "hist_bins"):
            if int(getattr(self, f)) <= 0:
                raise MonoscopeError(f"analysis {f} must be positive, got {getattr(self, f)}")
        if self.hist_bins & (self.hist_bins - 1):
            raise MonoscopeError(f"hist_bins must be a power of two, got {self.hist_bins}")


def default_out(run) -> Path:
    """RUN/analysis for a run folder; SAE_FOLDER/analysis for a lone SAE folder."""
    return (run.folder if run.sae_folder.name == "sae" else run.sae_folder) / "analysis"


def _stage_config(run, cfg: AnalysisConfig, digest: str) -> dict:
    c = asdict(cfg)
    c.pop("device")
    return {**c, "sae_hash": digest}


def analyze(
    run,
    out: Path | str | None = None,
    cfg: AnalysisConfig | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> dict:
    """Analyse `run` (from monoscope.run_folder.load_run) and write OUT/features.db; returns the summary."""
    cfg = cfg or AnalysisConfig()
    out = Path(out) if out is not None else default_out(run)
    db_path = out / DB_NAME
    digest = sae_hash(run.sae_folder)
    stage = _stage_config(run, cfg, digest)
    if db_path.exists():
        try:
            old = FeatureStore(db_path).meta
        except MonoscopeError:
            old = {}
        if old.get("config") == stage and (out / "analysis.json").exists():
            from monoscope.io import read_json

            return read_json(out / "analysis.json", "analysis summary")
        if not overwrite:
            why = "another SAE" if old.get("sae_hash") != digest else "another configuration"
            raise MonoscopeError(
                f"{db_path} holds an analysis of {why}; pass --overwrite to replace it or choose another --out"
            )
    if run.dataset is None:
        raise MonoscopeError("analysis needs the dataset (tokens to trace examples back to); pass --data FOLDER")
    t0 = time.time()
    torch.manual_seed(cfg.seed)
    with torch.no_grad():
        acc = _stream(run, cfg, progress)
        t_stream = time.time() - t0
        writer = StoreWriter(db_path)
        try:
            summary = _finish(run, cfg, acc, writer, stage, progress)
            summary["seconds"] = round(time.time() - t0, 2)
            summary["stream_seconds"] = round(t_stream, 2)
            writer.meta({"summary": summary})
            writer.commit()
        except BaseException:
            writer.abort()
            raise
    write_json(out / "analysis.json", summary)
    _density_plot(acc, run, out)
    return summary


class _Acc:
    """Everything the streaming pass keeps."""

    def __init__(self, d_sae: int, d_in: int, cfg: AnalysisConfig):
        W = cfg.before + cfg.after + 1
        self.n_tokens = 0
        self.n_active = torch.zeros(d_sae, dtype=torch.long)
        self.sum_act = torch.zeros(d_sae, dtype=torch.float64)
        self.max_act = torch.zeros(d_sae)
        self.top = GroupedReservoir(d_sae, cfg.top_k, W)
        self.quant = GroupedReservoir(d_sae * cfg.quantile_bins, cfg.quantile_samples, W)
        self.hist = DoublingHistogram(d_sae, cfg.hist_bins)
        self.ncorr = NeuronCorrelation(d_sae, d_in)
        self.fcorr = FeatureCorrelation(d_sae, cfg.corr_tokens)
        self.tokens: torch.Tensor | None = None
        self.n_ctx = 0
        self.ln_scale: float | None = None


def _stream(run, cfg: AnalysisConfig, progress: bool) -> _Acc:
    model, sae, hook = run.model, run.sae, run.hook
    split = run.dataset.split(cfg.split)
    T = split.tokens.shape[1]
    n_rows = min(len(split), math.ceil(cfg.tokens / T))
    if n_rows == 0:
        raise MonoscopeError(f"the {cfg.split} split holds no contexts to analyse")
    tokens = split.tokens[:n_rows]
    rule = run.dataset.positions
    d_sae, d_in = sae.d_sae, sae.d_in
    acc = _Acc(d_sae, d_in, cfg)
    acc.tokens, acc.n_ctx = tokens, T
    acc.ln_scale = typical_ln_scale(model, tokens[: min(8, n_rows)].to(cfg.device))
    offs = torch.arange(-cfg.before, cfg.after + 1)
    nb = cfg.quantile_bins
    gen = torch.Generator().manual_seed(cfg.seed)
    bar = tqdm(total=n_rows * T, desc="analyze", unit="tok", unit_scale=True, disable=not progress)
    for r0 in range(0, n_rows, cfg.batch_contexts):
        t = tokens[r0 : r0 + cfg.batch_contexts].to(cfg.device)
        B = t.shape[0]
        _, cache = model.run_with_cache(t, names=[hook], stop_early=True)
        x = cache[hook]
        sae.check_input(x, f"activations at {hook}")
        f = sae.encode(x).reshape(B * T, d_sae).float().cpu()
        x = x.reshape(B * T, d_in).float().cpu()
        keep = rule.mask(t).reshape(-1).cpu()
        f[~keep] = 0
        tok, feat = (f > 0).nonzero(as_tuple=True)
        val = f[tok, feat]
        gidx = r0 * T + tok
        acc.n_tokens += int(keep.sum())
        acc.n_active += torch.bincount(feat, minlength=d_sae)
        acc.sum_act.index_add_(0, feat, val.double())
        bmax = torch.zeros(d_sae).scatter_reduce_(0, feat, val, "amax")
        acc.max_act = torch.maximum(acc.max_act, bmax)
        acc.hist.add(feat, val, bmax)

        def windows(sel, tok=tok, feat=feat, f=f):
            tt, ff = tok[sel], feat[sel]
            col = (tt % T)[:, None] + offs[None]
            ok = (col >= 0) & (col < T)
            flat = (tt - tt % T)[:, None] + col.clamp(0, T - 1)
            w = f[flat, ff[:, None]]
            return w.masked_fill(~ok, float("nan"))

        acc.top.update(lambda fe, v: fe, feat, val, val, gidx, windows)
        mx = acc.max_act

        def qgroup(fe, v, mx=mx):
            return quantile_group(fe, v, mx, nb)

        acc.quant.update(qgroup, feat, torch.rand(len(val), generator=gen), val, gidx, windows)
        remap = torch.cumsum(keep.long(), 0) - 1
        acc.ncorr.add(x[keep], remap[tok], feat, val)
        acc.fcorr.add(int(keep.sum()), remap[tok], feat, val)
        bar.update(B * T)
    bar.close()
    return acc


class _Lists:
    """Python-list views of a reservoir and the split, so building ~100k example rows is not a tensor-indexing loop."""

    def __init__(self, res: GroupedReservoir, acc: _Acc, split):
        self.gidx, self.val, self.win = res.gidx.tolist(), res.val.tolist(), res.win.tolist()
        n = acc.tokens.shape[0]
        self.tokens = acc.tokens.tolist()
        self.doc, self.pos = split.doc[:n].tolist(), split.pos[:n].tolist()


def _example_rows(
    acc: _Acc, feature: int, kind: str, entries: list[tuple[int, int]], L: _Lists, cfg
) -> list[tuple[ExampleRow, list[float]]]:
    """(entry index, bin) pairs -> store rows, each with its raw window of activations (what ablation reads)."""
    T = acc.n_ctx
    rows = []
    for rank, (e, b) in enumerate(entries):
        row, col = divmod(L.gidx[e], T)
        start = max(0, col - cfg.before)
        end = min(T, col + cfg.after + 1)
        off = col - cfg.before
        w = L.win[e][start - off : end - off]
        doc, pos = L.doc[row][col], L.pos[row][col]
        r = ExampleRow(feature, kind, rank, b, round(L.val[e], 5), row, col, doc, pos, start, L.tokens[row][start:end],
                       [round(a, 4) for a in w])  # fmt: skip
        rows.append((r, w))
    return rows


def quantile_group(feat: torch.Tensor, val: torch.Tensor, max_act: torch.Tensor, bins: int) -> torch.Tensor:
    """The reservoir group of each (feature, activation): feature x bins + its interval of [0, max activation]."""
    return feat * bins + (val / max_act[feat].clamp_min(1e-12) * bins).long().clamp(0, bins - 1)


def _finish(run, cfg: AnalysisConfig, acc: _Acc, writer: StoreWriter, stage: dict, progress: bool) -> dict:
    sae, model, ds = run.sae, run.model, run.dataset
    d_sae = sae.d_sae
    split = ds.split(cfg.split)
    W_dec = sae.W_dec.detach().float().cpu()
    n = max(acc.n_tokens, 1)
    density = acc.n_active.double() / n
    mean_act = acc.sum_act / acc.n_active.clamp_min(1)
    eff = logit_effects(
        model.cpu() if cfg.device == "cpu" else model, run.hook, sae.W_dec.detach().float(), acc.ln_scale, k=cfg.logit_k
    )
    if eff is not None:
        eff = {k: (v.cpu() if torch.is_tensor(v) else v) for k, v in eff.items()}
    nb_i, nb_v = decoder_neighbours(W_dec, cfg.neighbours)
    al_i, al_v = neuron_alignment(W_dec, cfg.neurons)
    nc_i, nc_v = acc.ncorr.top(cfg.corr_k)
    fc_i, fc_v = acc.fcorr.top(cfg.corr_k)

    top_groups = acc.top.by_group(acc.top.feat)
    nq = cfg.quantile_bins
    mx = acc.max_act
    q_groups = acc.quant.by_group(quantile_group(acc.quant.feat, acc.quant.val, mx, nq))

    examples: list[ExampleRow] = []
    ablate: list[tuple[int, AblationExample]] = []
    vocab = ds.token_strs(range(ds.tokenizer.get_vocab_size()))
    panels_rows = []
    token_rows: list[tuple[int, int, str, float]] = []
    top_lists, q_lists = _Lists(acc.top, acc, split), _Lists(acc.quant, acc, split)
    top_groups = [g.tolist() for g in top_groups]
    q_groups = [g.tolist() for g in q_groups]
    for i in range(d_sae):
        top = _example_rows(acc, i, "top", [(e, 0) for e in top_groups[i]], top_lists, cfg)
        for r, w in top[: cfg.ablate_examples]:
            ablate.append((len(examples) + r.rank, AblationExample(row=r.row, feat=i, start=r.start, acts=w)))
        rows = [r for r, _ in top]
        examples.extend(rows)
        q_entries = []
        for b in range(nq):
            q_entries += [(e, b) for e in q_groups[i * nq + b]]
        examples.extend(r for r, _ in _example_rows(acc, i, "quantile", q_entries, q_lists, cfg))
        peaks = Counter(r.token for r in rows)
        label = " · ".join(visible(vocab[t]) for t, _ in peaks.most_common(3))
        for t, c in peaks.items():
            token_rows.append((int(t), i, "act", round(c / max(len(rows), 1), 4)))
        lp = logit_panel(eff, i)
        if lp is not None:
            for t, v in lp["top"][:5]:
                token_rows.append((t, i, "logit", v))
        alive = acc.n_active[i] > 0
        panels = {
            "hist": acc.hist.panel(i),
            "logits": lp,
            "neighbours": [[int(j), round(float(v), 4)] for j, v in zip(nb_i[i], nb_v[i])],
            "neurons": [[int(j), round(float(v), 4)] for j, v in zip(al_i[i], al_v[i])],
            "corr_neurons": [[int(j), round(float(v), 4)] for j, v in zip(nc_i[i], nc_v[i])] if alive else [],
            "corr_features": [[int(j), round(float(v), 4)] for j, v in zip(fc_i[i], fc_v[i]) if v > 0] if alive else [],
        }
        panels_rows.append(
            (i, float(density[i]), float(acc.max_act[i]), float(mean_act[i]), int(acc.n_active[i]), label, panels)
        )
    if ablate and cfg.ablate_examples > 0:
        deltas = ablation_loss_deltas(
            model,
            sae,
            run.hook,
            acc.tokens.to(cfg.device),
            [a for _, a in ablate],
            ds.positions,
            batch=cfg.ablate_batch,
            progress=progress,
        )
        for (k, _), d in zip(ablate, deltas):
            examples[k].loss = d
    writer.meta(
        {
            "version": VERSION,
            "sae_path": str(run.sae_folder.resolve()),
            "sae_hash": stage["sae_hash"],
            "d_sae": d_sae,
            "d_in": sae.d_in,
            "hook": run.hook,
            "architecture": sae.architecture,
            "split": cfg.split,
            "n_tokens": acc.n_tokens,
            "model_path": str(run.model_folder),
            "data_path": str(ds.folder.resolve()),
            "n_ctx": acc.n_ctx,
            "bos_id": ds.bos_id,
            "config": stage,
            "ln_scale": acc.ln_scale,
            "logit_effects": eff is not None,
            "logit_effects_note": "" if eff is not None else no_logit_effects_reason(model),
            "corr_tokens": acc.fcorr.n,
            "domains": [d["domain"] for d in ds.docs],
        }
    )
    writer.vocab(vocab)
    writer.features(panels_rows)
    writer.examples(examples)
    writer.token_index(token_rows)
    dead = int((acc.n_active == 0).sum())
    return {
        "d_sae": d_sae,
        "n_tokens": acc.n_tokens,
        "dead": dead,
        "dead_window_tokens": acc.n_tokens,
        "examples": len(examples),
        "ablated_examples": len(ablate),
        "store": str(writer.path),
        "mean_l0": float(acc.n_active.sum()) / n,
        "logit_effects": eff is not None,
    }


def _density_plot(acc: _Acc, run, out: Path) -> None:
    from monoscope.plots import density_histogram

    logd = torch.log10(acc.n_active.double() / max(acc.n_tokens, 1) + 1e-10).tolist()
    write_json(out / "density.json", {"log10_density": logd, "n_tokens": acc.n_tokens})
    density_histogram(
        logd, out / "density.png", f"{run.sae.architecture} SAE, {run.sae.d_sae} features, {acc.n_tokens} tokens"
    )
