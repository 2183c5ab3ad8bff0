"""The one splice (sae/splice.py): what the model sees at the hook, on which positions, with and without the error
term; and the one compatibility check."""

from __future__ import annotations

import pytest
import torch

from monoscope.data.positions import Positions
from monoscope.errors import MonoscopeError
from monoscope.models import GPT, GPTConfig
from monoscope.sae import SAEConfig, make_sae
from monoscope.sae.splice import check_splice, splice_hooks

HOOK = "blocks.0.mlp.hook_post"
BOS = 0
RULE = Positions((BOS,))


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=40, n_ctx=10, d_model=16, d_mlp=32, n_heads=2)).eval()
    sae = make_sae(SAEConfig("relu", 32, 24, metadata={"hook_name": HOOK}))
    with torch.no_grad():
        sae.b_enc.fill_(0.05)  # most features fire on the GELU neurons
    toks = torch.randint(1, 40, (3, 10), generator=torch.Generator().manual_seed(1))
    toks[:, 0] = BOS
    toks[1, 4] = BOS  # a document separator inside a context
    return model, sae, toks


def seen(model, tokens, hooks):
    """The hook's value as the rest of the model sees it, under `hooks`."""
    got = {}
    with model.hooks(hooks + [(HOOK, lambda x, hp: got.update(x=x))]):
        model(tokens)
    return got["x"]


def test_error_term_without_edits_is_exactly_the_model(parts):
    model, sae, toks = parts
    with torch.no_grad():
        assert torch.equal(model.run_with_hooks(toks, fwd_hooks=splice_hooks(sae, HOOK, RULE)), model(toks))


@torch.no_grad()
def test_edits_touch_only_counted_positions(parts):
    model, sae, toks = parts
    x = seen(model, toks, [])
    f = sae.encode(x)
    i = int((f[:, 1:] > 0).sum((0, 1)).argmax())

    def clamp(f):
        f = f.clone()
        f[..., i] = 3.0
        return f

    y = seen(model, toks, splice_hooks(sae, HOOK, RULE, clamp))
    keep = RULE.mask(toks)
    want = x + (3.0 - f[..., i : i + 1]) * sae.W_dec[i]
    torch.testing.assert_close(y[keep], want[keep], atol=1e-5, rtol=1e-5)
    assert torch.equal(y[~keep], x[~keep])  # the leading BOS and the separator at [1, 4] pass through
    assert (~keep).sum() == 4
    bare = seen(model, toks, splice_hooks(sae, HOOK, RULE, error_term=False))
    torch.testing.assert_close(bare[keep], sae.decode(f)[keep])
    assert torch.equal(bare[~keep], x[~keep])


@torch.no_grad()
def test_rule_is_read_from_each_forward_pass(parts):
    """One attached splice, two batches with separators in different places: each pass uses its own tokens."""
    model, sae, toks = parts
    hooks = splice_hooks(sae, HOOK, RULE, error_term=False)
    other = toks.clone()
    other[1, 4], other[2, 7] = 5, BOS
    with model.hooks(hooks):
        a, b = model(toks), model(other)
    for t, got in ((toks, a), (other, b)):
        ref = model.run_with_hooks(
            t,
            fwd_hooks=[(HOOK, lambda x, hp, t=t: torch.where(RULE.mask(t)[..., None], sae.decode(sae.encode(x)), x))],
        )
        torch.testing.assert_close(got, ref)


def test_observe_sees_what_the_model_got(parts):
    model, sae, toks = parts
    got = {}
    with torch.no_grad():
        model.run_with_hooks(
            toks,
            fwd_hooks=splice_hooks(sae, HOOK, RULE, error_term=False, observe=lambda x, f, o: got.update(x=x, o=o)),
        )
        torch.testing.assert_close(got["o"], sae.decode(sae.encode(got["x"])))


def test_check_splice_refuses_what_does_not_fit(parts):
    model, sae, _ = parts
    assert check_splice(model, sae) == HOOK
    with pytest.raises(MonoscopeError, match="trained on blocks.0.mlp.hook_post, not blocks.0.hook_mlp_out"):
        check_splice(model, sae, "blocks.0.hook_mlp_out")
    with pytest.raises(MonoscopeError, match="d_in=32 but hook blocks.0.hook_resid_post of this model has width 16"):
        check_splice(model, make_sae(SAEConfig("relu", 32, 8, metadata={"hook_name": "blocks.0.hook_resid_post"})))
    with pytest.raises(MonoscopeError, match="names no hook_name"):
        check_splice(model, make_sae(SAEConfig("relu", 32, 8)))
    with pytest.raises(MonoscopeError, match="unknown hook point"):
        check_splice(model, make_sae(SAEConfig("relu", 32, 8, metadata={"hook_name": "blocks.4.mlp.hook_post"})))
