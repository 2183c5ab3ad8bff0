"""Attribution graphs: frozen-model edge error, agreement with real-model ablations, time per graph, replacement
score, and the transcoders' loss recovered with both MLPs replaced.

No 2-layer model is shipped yet, so this trains its own, briefly, on the run's data (the demo's corpus and
tokenizer; --layers 2, far fewer steps and a narrower width than the shipped model), then one skip TopK transcoder
per MLP, all in a temporary folder that is removed afterwards (nothing is reused, so no stale model can colour a
later run). Its figures are those of that briefly trained model, not of a shipped one: they check the attribution
machinery (exact edges of the frozen replacement, agreement with real ablations), not a model's circuits. Sized
for under a minute on 2 CPU cores. One JSON line (the figure "attribution" with every key below as a detail):

    edge_max_rel_error         max over the graphs' checked edges (frozen replacement model, removal of each source)
    real_model_corr            Pearson r of predicted vs measured target changes, top features of every prompt
    within_10pct               share of those within 10% of the measured change
    prompts, seconds_per_graph the prompts graphed (the first --prompt-tokens of validation contexts), median seconds
    replacement_score          median over prompts of the pruned graph's replacement score (circuit-tracer's)
    transcoder_loss_recovered  loss recovered with every MLP replaced by its transcoder at once

    python bench/attribution.py [--run runs/demo] [--device cpu] [--prompts 12] [--quick]
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from pathlib import Path

import common
import torch

# the model's width and steps, the transcoders' size and data, the prompts: 43 s on 2 CPU cores (measured)
FULL = dict(
    d_model=64,
    d_mlp=256,
    heads=4,
    steps=150,
    batch=16,
    d_sae=1024,
    k=16,
    harvest=100_000,
    vectors=200_000,
    prompts=12,
    prompt_tokens=32,
)
QUICK = dict(
    d_model=32,
    d_mlp=64,
    heads=2,
    steps=20,
    batch=8,
    d_sae=128,
    k=8,
    harvest=10_000,
    vectors=10_000,
    prompts=2,
    prompt_tokens=16,
)


def build(run: Path, out: Path, s: dict, device: str):
    """A 2-layer GPT trained briefly on the run's data, and one skip TopK transcoder per MLP (in out/)."""
    from monoscope.data import Dataset
    from monoscope.models.train import ModelTrainConfig, train_model
    from monoscope.models.transformer import GPTConfig
    from monoscope.sae import SAEConfig, TrainConfig
    from monoscope.sae.transcoders import train_transcoders

    ds = Dataset(run / "data")
    gpt = GPTConfig(ds.meta["vocab_size"], ds.meta["n_ctx"], s["d_model"], 2, s["heads"], s["d_mlp"])
    tcfg = ModelTrainConfig(gpt, steps=s["steps"], batch_size=s["batch"], eval_every=s["steps"], device=device)
    model = train_model(ds, out / "model", tcfg, progress=False)
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
    p = common.parser(__doc__)
    p.add_argument("--prompts", type=int, default=None, help=f"validation contexts graphed (default {FULL['prompts']})")
    p.add_argument("--prompt-tokens", type=int, default=None, help=f"(default {FULL['prompt_tokens']})")
    a = p.parse_args()
    common.check_device(a.device)
    run = common.run_folder(a.run, "data")
    s = QUICK if a.quick else FULL
    tmp = Path(tempfile.mkdtemp(prefix="bench_attribution_"))
    try:
        ds, model, tcs = build(run, tmp, s, a.device)
        measure(a, s, ds, model, tcs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def measure(a, s: dict, ds, model, tcs) -> None:
    """The figure, over the first validation contexts."""
    from monoscope.circuits.check import frozen_check, real_check
    from monoscope.circuits.graph import Target, attribute, graph_scores, prune
    from monoscope.circuits.replacement import ReplacementModel
    from monoscope.evals.transcoders import evaluate_transcoders

    lr = evaluate_transcoders(model, tcs, ds.split("val").tokens[:64], ds.positions, progress=False)
    rep = ReplacementModel(model, tcs, positions=ds.positions)
    n = a.prompts or s["prompts"]
    val = ds.split("val").tokens[:n, : a.prompt_tokens or s["prompt_tokens"]]
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
        peer="tolerance (tests/circuits)",
        peer_value=1e-4,
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
        model=f"2-layer built-in GPT, d_model {s['d_model']}, {s['steps']} steps on the run's data (not shipped)",
    )


if __name__ == "__main__":
    main()
