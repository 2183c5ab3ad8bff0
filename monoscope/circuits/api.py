"""One call per command: `attribute` (a graph for a prompt and a target, written with its checks) and
`eval_transcoders`. The CLI parses and calls these."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from monoscope.circuits.check import frozen_check, real_check
from monoscope.circuits.export import graph_record, write_graph
from monoscope.circuits.graph import attribute as build_graph
from monoscope.circuits.graph import parse_target
from monoscope.circuits.replacement import ReplacementModel
from monoscope.data.tokenizer import eos_id, load_tokenizer
from monoscope.errors import MonoscopeError
from monoscope.models import load_model
from monoscope.sae.io import load_sae


@dataclass
class AttributeConfig:
    node_threshold: float = 0.8
    edge_threshold: float = 0.98
    check: bool = True  # check every edge by intervention in the frozen model, and the top ones in the real model
    top_real: int = 10
    batch: int = 256
    device: str = "cpu"


def load_circuit(model_dir: Path | str, transcoder_dirs: list, device: str = "cpu"):
    """(model, tokenizer, BOS id, transcoders) with every transcoder checked against the model."""
    model = load_model(model_dir, device)
    tok = load_tokenizer(Path(model_dir) / "tokenizer.json")
    tcs = [load_sae(d, device) for d in transcoder_dirs]
    return model, tok, eos_id(tok), tcs


def encode(tok, bos: int, prompt: str, n_ctx: int) -> torch.Tensor:
    if not prompt or not prompt.strip():
        raise MonoscopeError("the prompt is empty")
    ids = [bos] + tok.encode(prompt).ids
    if len(ids) > n_ctx:
        raise MonoscopeError(f"the prompt is {len(ids)} tokens with BOS, longer than the model's context of {n_ctx}")
    return torch.tensor(ids)


def attribute(
    model_dir,
    transcoder_dirs: list,
    prompt: str,
    target: str,
    out,
    cfg: AttributeConfig | None = None,
    feature_pages: dict[int, str] | None = None,
) -> dict:
    """Build, check and write the graph of `target` ('TOKEN', '#ID' or 'L:FEATURE') on `prompt` to `out`."""
    cfg = cfg or AttributeConfig()
    model, tok, bos, tcs = load_circuit(model_dir, transcoder_dirs, cfg.device)
    rep = ReplacementModel(model, tcs, model_name=getattr(model.cfg, "model_name", None), positions=bos)
    tokens = encode(tok, bos, prompt, model.cfg.n_ctx)
    tgt = parse_target(target, tok, rep.n_layers, min(tc.d_sae for tc in tcs))
    g = build_graph(rep, tokens, tgt, cfg.batch)
    strs = [tok.decode([int(i)], skip_special_tokens=False) for i in tokens]
    rec = graph_record(g, strs, cfg.node_threshold, cfg.edge_threshold, prompt)
    if cfg.check:
        rec["frozen_check"] = frozen_check(rep, g)
        rec["real_check"] = real_check(rep, g, cfg.top_real)
    write_graph(rec, out, feature_pages)
    return rec


def eval_transcoders(
    model_dir, transcoder_dirs: list, data_dir, contexts: int = 256, device: str = "cpu", progress: bool = True
) -> dict:
    from monoscope.data.dataset import Dataset
    from monoscope.evals.transcoders import evaluate_transcoders

    model, _, _, tcs = load_circuit(model_dir, transcoder_dirs, device)
    ds = Dataset(data_dir)
    return evaluate_transcoders(model, tcs, ds.split("val").tokens[:contexts], ds.positions, progress=progress)
