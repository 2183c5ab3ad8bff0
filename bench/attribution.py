"""Attribution graphs: frozen-model edge error, agreement with real-model ablations, time per graph, replacement
score, and the transcoders' loss recovered with both MLPs replaced.

No 2-layer model is shipped yet, so this trains its own, briefly (the shipped model's corpus and tokenizer recipe,
--layers 2, far fewer steps), then one skip TopK transcoder per MLP, in bench/out/attribution/ (reused when
present). Its figures are those of that briefly trained model, not of a shipped one. One JSON line (the figure
"attribution" with every key below as a detail):

    edge_max_rel_error         max over the graphs' checked edges (frozen replacement model, removal of each source)
    real_model_corr            Pearson r of predicted vs measured target changes, top features of every prompt
    within_10pct               share of those within 10% of the measured change
    prompts, seconds_per_graph the prompts graphed (full contexts) and the median seconds per graph
    replacement_score          median over prompts of the pruned graph's replacement score (circuit-tracer's)
    transcoder_loss_recovered  loss recovered with every MLP replaced by its transcoder at once

    python bench/attribution.py [--device cpu] [--prompts 50] [--quick]
"""

from __future__ import annotations

import statistics
from pathlib import Path

import common
import torch

FULL = dict(
    vocab=4096,
    n_ctx=128,
    d_model=128,
    d_mlp=512,
    heads=4,
    steps=300,
    batch=32,
    scale=1.0,
    d_sae=2048,
    k=16,
    harvest=300_000,
    vectors=600_000,
    prompts=50,
)
QUICK = dict(
    vocab=512,
    n_ctx=32,
    d_model=32,
    d_mlp=64,
    heads=2,
    steps=30,
    batch=16,
    scale=0.03,
    d_sae=128,
    k=8,
    harvest=20_000,
    vectors=20_000,
    prompts=3,
)


def build(out: Path, s: dict, device: str):
    from monoscope.data.dataset import DataConfig, build_dataset
    from monoscope.models.train import ModelTrainConfig, train_model
    from monoscope.models.transformer import GPTConfig
    from monoscope.sae import SAEConfig, TrainConfig
    from monoscope.sae.transcoders import train_transcoders

    ds = build_dataset(out / "data", DataConfig(vocab_size=s["vocab"], n_ctx=s["n_ctx"], builtin_scale=s["scale"]))
    gpt = GPTConfig(s["vocab"], s["n_ctx"], s["d_model"], 2, s["heads"], s["d_mlp"])
    model = train_model(
        ds, out / "model", ModelTrainConfig(gpt, steps=s["steps"], batch_size=s["batch"], device=device), progress=False
    )
    cfg = TrainConfig(
        SAEConfig("topk", s["d_model"], s["d_sae"], k=s["k"], d_out=s["d_model"], skip=True),
        total_vectors=s["vectors"],
        batch_size=1024 if s is FULL else 256,
        device=device,
    )
    tcs = train_transcoders(
        model, ds, out / "transcoders", cfg, s["harvest"], model_name=gpt.model_name, progress=False
    )
    return ds, model, tcs


def main() -> None:
    p = common.parser(__doc__, run=False)
    p.add_argument("--prompts", type=int, default=None)
    a = p.parse_args()
    common.check_device(a.device)
    s = QUICK if a.quick else FULL
    out = common.ROOT / "bench" / "out" / ("attribution_quick" if a.quick else "attribution")
    ds, model, tcs = build(out, s, a.device)

    from monoscope.circuits.check import frozen_check, real_check
    from monoscope.circuits.graph import Target, attribute, graph_scores, prune
    from monoscope.circuits.replacement import ReplacementModel
    from monoscope.evals.transcoders import evaluate_transcoders

    lr = evaluate_transcoders(model, tcs, ds.split("val").tokens[:64], ds.positions, progress=False)
    rep = ReplacementModel(model, tcs, positions=ds.positions)
    n = a.prompts or s["prompts"]
    val = ds.split("val").tokens[:n]
    errs, secs, scores, pred, meas = [], [], [], [], []
    for toks in val:
        with torch.no_grad():
            top = int(model(toks[None].to(a.device))[0, -1].argmax())
        g = attribute(rep, toks, Target(token=top))
        secs.append(g.seconds)
        scores.append(graph_scores(g, prune(g, 0.8).node_mask)["replacement_score"])
        few = sorted(set(torch.randperm(g.n_nodes - 1, generator=torch.Generator().manual_seed(0))[:200].tolist()))
        errs.append(frozen_check(rep, g, few)["edge_max_rel_error"])
        r = real_check(rep, g, 10)
        pred += r["predicted"]
        meas += r["measured"]
    P, M = torch.tensor(pred), torch.tensor(meas)
    corr = float(torch.corrcoef(torch.stack([P, M]))[0, 1])
    within = float(((P - M).abs() <= 0.1 * M.abs()).double().mean())
    common.Recorder("attribution", a).figure(
        "attribution",
        max(errs),
        "max relative edge error",
        edge_max_rel_error=max(errs),
        real_model_corr=corr,
        within_10pct=within,
        prompts=len(val),
        prompt_tokens=int(val.shape[1]),
        seconds_per_graph=statistics.median(secs),
        replacement_score=statistics.median(scores),
        transcoder_loss_recovered=lr["loss_recovered"],
        transcoder_l0=[layer["l0"] for layer in lr["layers"]],
        transcoder_fvu=[layer["fvu"] for layer in lr["layers"]],
        model="briefly trained 2-layer built-in GPT (bench/out), not a shipped model",
    )


if __name__ == "__main__":
    main()
