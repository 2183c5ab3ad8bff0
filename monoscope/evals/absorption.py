"""Feature absorption on first letters (Chanin et al. 2024), with SAEBench's definitions.

Why: an SAE can reconstruct well while its "starts with S" latent silently fails
on "short" because a "short" latent absorbed the letter. SAEBench measures this
on the first-letter task; we compute the same quantities on any tokenizer:

1. the task: every vocabulary token that is a word of ASCII letters (a leading
   space or "Ġ"/"▁" marker allowed, one letter or more: SAEBench's
   `get_alpha_tokens`), labelled by its first letter; letters with fewer than
   `min_words` tokens are left out;
2. the ground truth: one binary logistic-regression probe per letter, classes
   weighted to balance (SAEBench trains the same one-vs-rest probes with BCE and
   pos_weight = negatives/positives), on the hook's activation at the word token
   (read after BOS; SAEBench reads the same token in an in-context prompt
   `{word} has the first letter:`, which a causal model does not let the later
   tokens change, only the earlier ICL examples — we have none); a letter takes
   part when its probe's test F1 exceeds `min_probe_f1` (SAEBench's
   min_GT_probe_f1), and its "probe true positives" are the test words of the
   letter on which its probe's logit is positive;
3. the letter's main latents: latents ranked on the training words, a balanced
   logistic probe on the top k for k = 1, 2, ... `max_k`, and k grown while the
   test F1 rises by more than `f1_jump_threshold` (SAEBench's feature-split
   rule; SAEBench ranks by an L1 probe's weights, we by the mean difference of
   activations, as its sparse-probing eval does);
4. on the probe true positives, SAEBench's two scores: full absorption (every
   main latent silent, the latent with the largest projection on the probe
   direction has cosine >= 0.025 with it and carries >= 0.4 of the activation's
   probe projection) and the absorption fraction (the share of the probe
   projection carried by up to 3 other probe-aligned latents, cosine >= 0.1,
   instead of the main latents).

Result keys follow SAEBench's absorption output: `mean_absorption_fraction_score`,
`mean_full_absorption_score`, `mean_num_split_features`, per letter
`first_letter`, `mean_absorption_fraction`, `full_absorption_rate`,
`num_full_absorption`, `num_probe_true_positives`, `num_split_features`; we add
`split_features` and the latents that absorbed, with example tokens.
"""

from __future__ import annotations

import string
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from monoscope.errors import MonoscopeError

EPS = 1e-8
LETTERS = string.ascii_lowercase
WORD_MARKERS = (" ", "Ġ", "▁")


class AbsorptionSkipped(MonoscopeError):
    """No first-letter task to score (too few word tokens, or no letter the model's probe can read): the metric is
    skipped, not failed. `details` holds what was measured on the way (per-letter probe F1), for the report."""

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


@dataclass
class AbsorptionConfig:
    min_words: int = 10  # a letter needs this many word tokens to take part
    test_fraction: float = 0.2
    max_k: int = 10  # SAEBench's max_k_value
    f1_jump_threshold: float = 0.03  # SAEBench's f1_jump_threshold
    min_probe_f1: float = 0.6  # SAEBench's min_GT_probe_f1
    full_cos_threshold: float = 0.025  # full_absorption_probe_cos_sim_threshold
    fraction_cos_threshold: float = 0.1  # absorption_fraction_probe_cos_sim_threshold
    projection_threshold: float = 0.4  # probe_projection_proportion_threshold
    max_absorbers: int = 3  # absorption_fraction_max_absorbing_latents
    topk_feats: int = 10
    probe_C: float = 1.0
    batch: int = 512
    seed: int = 0
    examples: int = 5  # absorbed tokens named per absorbing latent


def first_letter_words(token_strs: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(token ids, letter index 0..25, word) of every token that is a word of ASCII letters."""
    ids, letters, words = [], [], []
    for i, s in enumerate(token_strs):
        w = s
        for m in WORD_MARKERS:
            if w.startswith(m):
                w = w[len(m) :]
                break
        if len(w) >= 1 and w.isascii() and w.isalpha():
            ids.append(i)
            letters.append(LETTERS.index(w[0].lower()))
            words.append(w)
    return np.array(ids, dtype=np.int64), np.array(letters, dtype=np.int64), words


@torch.no_grad()
def word_activations(model, hook: str, token_ids: np.ndarray, bos_id: int | None, batch: int = 512) -> torch.Tensor:
    """The hook's activation at each word token, read after BOS (when the model's data prepends one)."""
    out = []
    for s in range(0, len(token_ids), batch):
        ids = torch.as_tensor(token_ids[s : s + batch]).view(-1, 1)
        if bos_id is not None:
            ids = torch.cat([torch.full_like(ids, bos_id), ids], dim=1)
        dev = next(model.parameters()).device
        _, cache = model.run_with_cache(ids.to(dev), names=[hook], stop_early=True)
        out.append(cache[hook][:, -1].float().cpu())
    return torch.cat(out)


def _logistic(C: float, seed: int, max_iter: int = 1000):
    """A binary logistic regression with balanced class weights (SAEBench's probes weight the rare class up)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=max_iter, class_weight="balanced", random_state=seed)


def _fit(clf, X, y):
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(X, y)


def _f1(pred: np.ndarray, y: np.ndarray) -> float:
    tp = float((pred & y).sum())
    return 2 * tp / max(float(pred.sum() + y.sum()), 1.0)


def split_features(f_train, y_train, f_test, y_test, cfg: AbsorptionConfig) -> list[int]:
    """The letter's main latents: top latents by mean difference, grown while the test F1 jumps (SAEBench's rule)."""
    diff = f_train[y_train].mean(0) - f_train[~y_train].mean(0)
    order = np.argsort(-diff)[: cfg.max_k]
    best_f1, chosen = -1.0, []
    for k in range(1, len(order) + 1):
        feats = order[:k]
        clf = _fit(_logistic(1.0, cfg.seed, max_iter=500), f_train[:, feats], y_train)
        f1 = _f1(clf.predict(f_test[:, feats]).astype(bool), y_test)
        if chosen and f1 - best_f1 <= cfg.f1_jump_threshold:
            break
        best_f1, chosen = f1, [int(i) for i in feats]
    return chosen


def _word_scores(acts, f, cos, direction, main, cfg: AbsorptionConfig) -> tuple[float, bool, int]:
    """SAEBench's FeatureAbsorptionCalculator on one activation: (absorption fraction, full absorption, top latent)."""
    act_proj = float(acts @ direction)
    proj = f * cos  # each latent's projection on the (unit) probe direction
    main_proj = float(proj[main].sum())
    mask = np.ones(len(proj), dtype=bool)
    mask[main] = False
    mask &= (cos >= cfg.fraction_cos_threshold) & (proj > 0)
    cand = np.sort(proj[mask])[::-1][: cfg.max_absorbers]
    absorbers = float(cand.sum())
    ratio = absorbers / act_proj if act_proj != 0 else 0.0
    if main_proj >= act_proj or ratio < cfg.projection_threshold:
        fraction = 0.0
    elif main_proj <= 0.0:
        fraction = 1.0
    else:
        absorbed = min(absorbers, act_proj - main_proj)
        fraction = float(np.clip(absorbed / (absorbed + main_proj), 0.0, 1.0))
    top = int(np.argsort(-proj, kind="stable")[0])
    full = (
        bool(np.all(np.abs(f[main]) < EPS))
        and cos[top] >= cfg.full_cos_threshold
        and act_proj >= 0
        and act_proj != 0
        and proj[top] / act_proj >= cfg.projection_threshold
    )
    return fraction, full, top


@torch.no_grad()
def absorption_from_acts(
    acts: torch.Tensor, letters: np.ndarray, words: list[str], sae, cfg: AbsorptionConfig | None = None
) -> dict:
    """Absorption of `sae` given the hook's activation per word token and each word's first letter (0..25)."""
    cfg = cfg or AbsorptionConfig()
    counts = Counter(letters.tolist())
    kept = sorted(li for li, n in counts.items() if n >= cfg.min_words)
    if len(kept) < 2:
        raise AbsorptionSkipped(
            f"the tokenizer has too few single-word tokens per first letter ({dict(sorted(counts.items()))} by letter "
            f"index; each of two letters needs {cfg.min_words}): absorption skipped"
        )
    keep = np.isin(letters, kept)
    acts, letters = acts[keep], letters[keep]
    words = [w for w, k in zip(words, keep, strict=True) if k]
    rng = np.random.default_rng(cfg.seed)
    test = np.zeros(len(letters), dtype=bool)
    for li in kept:  # stratified split: every letter has test words
        idx = np.flatnonzero(letters == li)
        test[rng.choice(idx, max(1, round(cfg.test_fraction * len(idx))), replace=False)] = True
    X = acts.numpy().astype(np.float64)
    probes = [_fit(_logistic(cfg.probe_C, cfg.seed), X[~test], letters[~test] == li) for li in kept]
    scores = np.stack([p.decision_function(X) for p in probes], axis=1)  # [n_words, n_letters] logits
    f = sae.encode(acts.to(sae.W_dec.device, sae.W_dec.dtype)).float().cpu().numpy()
    dec = sae.W_dec.detach().float().cpu()
    details = []
    for row, li in enumerate(kept):
        y = letters == li
        positive = scores[:, row] > 0
        probe_f1 = _f1(positive[test], y[test])
        main = split_features(f[~test], y[~test], f[test], y[test], cfg)
        w = torch.as_tensor(probes[row].coef_[0], dtype=torch.float32)
        direction = w / w.norm()
        cos = torch.nn.functional.cosine_similarity(direction[None], dec, dim=-1).numpy()
        tp = np.flatnonzero(test & y & positive)
        fractions, full_tops = [], Counter()
        examples: dict[int, list[str]] = {}
        for i in tp:
            fr, full, top = _word_scores(X[i].astype(np.float32), f[i], cos, direction.numpy(), main, cfg)
            fractions.append(fr)
            if full:
                full_tops[top] += 1
                examples.setdefault(top, [])
                if len(examples[top]) < cfg.examples:
                    examples[top].append(words[i])
        n = len(tp)
        n_full = sum(full_tops.values())
        details.append(
            {
                "first_letter": LETTERS[int(li)],
                "mean_absorption_fraction": float(np.mean(fractions)) if n else 0.0,
                "full_absorption_rate": n_full / n if n else 0.0,
                "num_full_absorption": n_full,
                "num_probe_true_positives": n,
                "num_split_features": len(main),
                "probe_f1": probe_f1,
                "split_features": main,
                "absorbing_latents": [
                    {"latent": lat, "tokens": cnt, "examples": examples[lat]} for lat, cnt in full_tops.most_common()
                ],
            }
        )
    scored = [d for d in details if d["num_probe_true_positives"] > 0 and d["probe_f1"] > cfg.min_probe_f1]
    if not scored:
        f1 = {d["first_letter"]: round(d["probe_f1"], 4) for d in details}
        best = max(f1, key=f1.get)
        raise AbsorptionSkipped(
            f"no letter's probe reaches test F1 {cfg.min_probe_f1} with a true positive (best {best} "
            f"{f1[best]:.2f}, mean {np.mean(list(f1.values())):.2f} over {len(f1)} letters): the model does not "
            "encode first letters linearly at this hook; absorption skipped",
            {"probe_f1_by_letter": f1, "probe_f1_mean": float(np.mean(list(f1.values()))), "n_words": len(letters)},
        )
    return {
        "mean_absorption_fraction_score": float(np.mean([d["mean_absorption_fraction"] for d in scored])),
        "mean_full_absorption_score": float(np.mean([d["full_absorption_rate"] for d in scored])),
        "mean_num_split_features": float(np.mean([d["num_split_features"] for d in scored])),
        "probe_test_accuracy": float((np.asarray(kept)[scores[test].argmax(1)] == letters[test]).mean()),
        "n_letters_scored": len(scored),
        "n_words": len(letters),
        "n_letters": len(kept),
        "eval_result_details": details,
    }


def absorption(model, hook: str, tokenizer_strs: list[str], sae, bos_id: int | None, cfg=None) -> dict:
    """Absorption of `sae` at `hook` of `model` on the first-letter task over its vocabulary (`tokenizer_strs`)."""
    cfg = cfg or AbsorptionConfig()
    ids, letters, words = first_letter_words(tokenizer_strs)
    if len(ids) == 0:
        raise AbsorptionSkipped("the tokenizer has no tokens that are words of ASCII letters: absorption skipped")
    acts = word_activations(model, hook, ids, bos_id, cfg.batch)
    return absorption_from_acts(acts, letters, words, sae, cfg)


def run_absorption(run, cfg: AbsorptionConfig | None = None) -> dict:
    """Absorption on a loaded run (monoscope.run_folder.load_run): its model, hook, SAE and tokenizer."""
    if run.dataset is None:
        raise MonoscopeError("absorption needs the run's tokenizer; pass --data FOLDER")
    ds = run.dataset
    strs = ds.token_strs(range(ds.tokenizer.get_vocab_size()))
    bos = ds.bos_id if ds.positions.first_is_bos else None
    return absorption(run.model, run.hook, strs, run.sae, bos, cfg)
