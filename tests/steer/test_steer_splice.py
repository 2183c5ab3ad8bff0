import math

import pytest
import torch
from steer_helpers import active_feature, hook_value, load

from monoscope.errors import MonoscopeError
from monoscope.steer import Edit, parse_clamp, parse_positions, splice, steer
from monoscope.steer.edits import resolve


@pytest.fixture(scope="module")
def run(tiny_run):
    return load(tiny_run)


@pytest.fixture(scope="module")
def toks(run):
    return run.dataset.split("val").tokens[:4]


def test_splice_with_error_term_reproduces_clean_logits(run, toks):
    with torch.no_grad():
        clean = run.model(toks)
        with splice(run.model, run.sae):
            spliced = run.model(toks)
        with splice(run.model, run.sae, error_term=False):
            bare = run.model(toks)
    assert (spliced - clean).abs().max() < 1e-5
    assert (bare - clean).abs().max() > 1e-4  # the bare reconstruction is imperfect, so the error term matters
    assert torch.equal(run.model(toks), clean)  # hooks are removed on exit


def test_clamp_changes_only_that_feature_along_its_decoder_row(run, toks):
    i, _ = active_feature(run)
    x = hook_value(run, toks)
    f = run.sae.encode(x)
    with torch.no_grad(), steer(run.model, run.sae, [Edit(i, "clamp", 7.0)]):
        y = hook_value(run, toks)
    want = x.clone()
    want[:, 1:] += (7.0 - f[:, 1:, i : i + 1]) * run.sae.W_dec[i]
    assert torch.allclose(y, want, atol=1e-4)
    assert torch.equal(y[:, 0], x[:, 0])  # BOS untouched


def test_scale_ablate_add_and_positions(run, toks):
    i, _ = active_feature(run)
    x = hook_value(run, toks)
    f = run.sae.encode(x)
    d = run.sae.W_dec[i]
    with torch.no_grad():
        with steer(run.model, run.sae, [Edit(i, "scale", 3.0)]):
            y = hook_value(run, toks)
        assert torch.allclose(y[:, 1:], x[:, 1:] + 2.0 * f[:, 1:, i : i + 1] * d, atol=1e-4)
        with steer(run.model, run.sae, [Edit(i, "ablate")]):
            ya = hook_value(run, toks)
        with steer(run.model, run.sae, [Edit(i, "clamp", 0.0)]):
            yc = hook_value(run, toks)
        assert torch.allclose(ya, yc)
        assert torch.allclose(ya[:, 1:], x[:, 1:] - f[:, 1:, i : i + 1] * d, atol=1e-4)
        with steer(run.model, run.sae, [Edit(i, "add", 2.5, positions=(3, -1))]):
            yd = hook_value(run, toks)
    delta = yd - x
    unit = d / d.norm()
    for p in (3, toks.shape[1] - 1):
        assert torch.allclose(delta[:, p], 2.5 * unit.expand_as(delta[:, p]), atol=1e-4)
    others = [p for p in range(toks.shape[1]) if p not in (3, toks.shape[1] - 1)]
    assert delta[:, others].abs().max() < 1e-4


def test_relative_clamp_uses_max_activation(run):
    i, m = active_feature(run)
    (e,) = resolve([Edit(i, "clamp", 10, relative=True)], run.sae.d_sae, {i: m})
    assert e.value == pytest.approx(10 * m) and not e.relative
    with pytest.raises(MonoscopeError, match="maximum activation"):
        resolve([Edit(i, "clamp", 10, relative=True)], run.sae.d_sae)
    with pytest.raises(MonoscopeError, match="never fired"):
        resolve([Edit(i, "clamp", 10, relative=True)], run.sae.d_sae, {i: 0.0})


def test_parsers():
    assert parse_clamp("10x") == (10.0, True)
    assert parse_clamp("-2.5") == (-2.5, False)
    assert parse_positions("all") is None and parse_positions("0,-1") == (0, -1)
    for bad in ("nan", "inf", "-infx", "x", "ten"):
        with pytest.raises(MonoscopeError):
            parse_clamp(bad)
    with pytest.raises(MonoscopeError, match="finite"):
        Edit(0, "clamp", math.nan)
    with pytest.raises(MonoscopeError, match="finite"):
        Edit(0, "scale", math.inf)


def test_bad_inputs(run):
    with pytest.raises(MonoscopeError, match="out of range"):
        with steer(run.model, run.sae, [Edit(run.sae.d_sae, "ablate")]):
            pass
    from monoscope.sae import SAEConfig
    from monoscope.sae.base import ARCHITECTURES

    wrong = ARCHITECTURES["relu"](SAEConfig("relu", run.sae.d_in + 3, 16, metadata={"hook_name": run.hook}))
    with pytest.raises(MonoscopeError, match="d_in"):
        with steer(run.model, wrong, []):
            pass
    nohook = ARCHITECTURES["relu"](
        SAEConfig("relu", run.sae.d_in, 16, metadata={"hook_name": "blocks.9.mlp.hook_post"})
    )
    with pytest.raises(MonoscopeError, match="unknown hook point"):
        with steer(run.model, nohook, []):
            pass


def test_steering_leaves_separators_untouched(run, toks):
    """The one position rule (data/positions.py): a BOS/separator token inside a context is not steered, as evals
    and analysis do not count it (steering used to splice every position but the first)."""
    i, _ = active_feature(run)
    t = toks.clone()
    t[:, 6] = run.dataset.bos_id
    x = hook_value(run, t)
    with torch.no_grad(), steer(run.model, run.sae, [Edit(i, "clamp", 7.0)], positions=run.dataset.positions):
        y = hook_value(run, t)
    assert torch.equal(y[:, [0, 6]], x[:, [0, 6]])
    assert (y[:, 1:6] - x[:, 1:6]).abs().max() > 1e-3
