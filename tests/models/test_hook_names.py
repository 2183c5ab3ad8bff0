"""Hook names: every kind the map knows parses back to itself; unknown names are 'other', not errors."""

from __future__ import annotations

import pytest

from monoscope.models.hook_names import (
    LAYER_HOOKS,
    MLP_KINDS,
    MODEL_HOOKS,
    RESIDUAL_KINDS,
    hook_name,
    parse_hook,
)


@pytest.mark.parametrize("kind", sorted(LAYER_HOOKS))
def test_layer_hooks_round_trip(kind):
    for layer in (0, 3, 17):
        name = hook_name(kind, layer)
        info = parse_hook(name)
        assert (info.name, info.layer, info.kind) == (name, layer, kind)
        assert info.in_residual == (kind in RESIDUAL_KINDS)
        assert info.in_mlp == (kind in MLP_KINDS)


@pytest.mark.parametrize("kind", sorted(MODEL_HOOKS))
def test_model_hooks_round_trip(kind):
    info = parse_hook(hook_name(kind))
    assert info.layer is None and info.kind == kind
    assert info.in_residual == (kind in ("embed", "pos_embed"))


def test_known_names_and_unknown_ones():
    assert parse_hook("blocks.2.mlp.hook_post").kind == "mlp_post"
    assert parse_hook("blocks.0.hook_resid_post").in_residual
    assert not parse_hook("blocks.0.mlp.hook_in").in_residual  # normalised: not a residual-stream vector
    for odd in ("ln_f", "blocks.x.hook_resid_pre", "blocks.1.hook_resid_pre.extra", "transformer.h.0"):
        info = parse_hook(odd)
        assert (info.kind, info.layer) == ("other", None)
    with pytest.raises(KeyError, match="unknown hook kind"):
        hook_name("resid")
    with pytest.raises(ValueError, match="give its layer"):
        hook_name("mlp_out")
