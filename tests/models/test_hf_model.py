"""The Hugging Face adapter: hook values agree with transformers' own hidden states, edits take effect."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("transformers")

from hf_tiny_models import save_tiny  # noqa: E402

from monoscope.errors import MonoscopeError  # noqa: E402
from monoscope.models import load_model  # noqa: E402
from monoscope.models.hf import HFModel  # noqa: E402
from monoscope.models.hf_arch import ArchSpec  # noqa: E402

FAMILIES = ["gpt2", "gpt_neox", "llama", "mistral", "qwen2", "bert"]
PRE_NORM = {"gpt2", "gpt_neox", "llama", "mistral", "qwen2"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    root = tmp_path_factory.mktemp("hf")
    return {f: save_tiny(f, root / f) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_hooks_match_hidden_states(folders, family):
    m = load_model(folders[family])
    assert isinstance(m, HFModel) and m.cfg.n_layers == 2 and m.cfg.d_model == 32
    assert m.tokenizer is not None and len(m.tokenizer) == m.cfg.vocab_size
    toks = torch.randint(0, m.cfg.vocab_size, (2, 12), generator=torch.Generator().manual_seed(1))
    logits, cache = m.run_with_cache(toks)
    ref = m.hf(input_ids=toks, output_hidden_states=True)
    torch.testing.assert_close(logits, ref.logits)
    hs = ref.hidden_states
    for L in range(m.cfg.n_layers):
        torch.testing.assert_close(cache[f"blocks.{L}.hook_resid_pre"], hs[L])
    torch.testing.assert_close(cache["blocks.0.hook_resid_post"], hs[1])
    base = m.hf.base_model
    layer = m.hf.base_model.get_submodule(m.arch.layers)[1]
    # neurons after the nonlinearity, projected down, are the MLP's output
    torch.testing.assert_close(
        layer.get_submodule(m.arch.mlp_down)(cache["blocks.1.mlp.hook_post"]), cache["blocks.1.hook_mlp_out"]
    )
    if family in PRE_NORM:  # the residual stream is the sum of what each part writes
        L = 1
        torch.testing.assert_close(
            cache[f"blocks.{L}.hook_resid_post"],
            cache[f"blocks.{L}.hook_resid_pre"]
            + cache[f"blocks.{L}.hook_attn_out"]
            + cache[f"blocks.{L}.hook_mlp_out"],
        )
    assert cache["hook_embed"].shape == (2, 12, 32) and base is not None


@pytest.mark.parametrize("family", FAMILIES)
def test_patching_and_stop_early(folders, family):
    m = load_model(folders[family])
    g = torch.Generator().manual_seed(2)
    a, b = (torch.randint(0, m.cfg.vocab_size, (2, 10), generator=g) for _ in range(2))
    logits_b, cache_b = m.run_with_cache(b)
    logits_a = m(a)
    assert not torch.allclose(logits_a, logits_b)
    # the first block's input carries everything downstream: patching it with b's value gives b's output
    patched = m.run_with_hooks(a, [("blocks.0.hook_resid_pre", lambda x, hook: cache_b["blocks.0.hook_resid_pre"])])
    torch.testing.assert_close(patched, logits_b)
    # zeroing the last MLP's neurons changes the output, and the hooks are gone afterwards
    zeroed = m.run_with_hooks(a, [("blocks.1.mlp.hook_post", lambda x, hook: torch.zeros_like(x))])
    assert not torch.allclose(zeroed, logits_a)
    torch.testing.assert_close(m(a), logits_a)
    # stop early: no logits, same value
    out, c = m.run_with_cache(a, names=["blocks.0.hook_resid_post"], stop_early=True)
    assert out is None
    torch.testing.assert_close(c["blocks.0.hook_resid_post"], m.run_with_cache(a)[1]["blocks.0.hook_resid_post"])


def test_bad_folders_and_unmapped_architecture(folders, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MonoscopeError, match="config.json"):
        load_model(empty)
    # an architecture without a map: the error lists the supported ones and shows how to name module paths
    odd = tmp_path / "odd"
    import shutil

    shutil.copytree(folders["gpt2"], odd)
    cfg = json.loads((odd / "config.json").read_text())
    cfg["model_type"] = "gpt2"
    (odd / "config.json").write_text(json.dumps(cfg))
    from monoscope.models import hf_arch

    saved = hf_arch.ARCH_SPECS.pop("gpt2")
    try:
        with pytest.raises(MonoscopeError, match=r"not mapped.*supported: .*llama.*module-paths"):
            HFModel.load(odd)
        m = HFModel.load(odd, arch="layers=h,embed=wte,attn=attn,mlp=mlp,mlp_down=mlp.c_proj")
    finally:
        hf_arch.ARCH_SPECS["gpt2"] = saved
    assert "blocks.1.mlp.hook_post" in m.hook_names()
    with pytest.raises(MonoscopeError, match="KEY=PATH"):
        ArchSpec.parse("layers=h,bogus")
    with pytest.raises(MonoscopeError, match="not found"):
        HFModel.load(odd, arch="layers=nope")


def test_module_hook_by_path(folders):
    m = load_model(folders["gpt2"], module_hook="ln_f")  # harvest --module-path ln_f
    toks = torch.randint(0, m.cfg.vocab_size, (1, 8))
    _, c = m.run_with_cache(toks, names=["ln_f"])
    ref = m.hf(input_ids=toks, output_hidden_states=True).hidden_states[-1]
    torch.testing.assert_close(c["ln_f"], ref)
    with pytest.raises(MonoscopeError, match="unknown hook point"):
        m.run_with_cache(toks, names=["blocks.9.hook_resid_post"])


CAUSAL = [f for f in FAMILIES if f != "bert"] + ["qwen3", "gemma", "olmo"]  # the last three: other final norms


@pytest.fixture(scope="module")
def causal_folders(folders, tmp_path_factory):
    root = tmp_path_factory.mktemp("hf_more")
    return {f: folders[f] if f in folders else save_tiny(f, root / f) for f in CAUSAL}


@pytest.mark.parametrize("family", CAUSAL)
def test_unembedding_and_residual_paths_match_the_forward_pass(causal_folders, family):
    """What logit effects and attribution read (models/unembed.py, HookedModel.residual_path), checked against the
    logits and hook values transformers computes."""
    m = load_model(causal_folders[family])
    toks = torch.randint(0, m.cfg.vocab_size, (2, 9), generator=torch.Generator().manual_seed(3))
    logits, c = m.run_with_cache(toks)
    u = m.unembed
    assert u.hook == m.final_resid_hook == "blocks.1.hook_resid_post"
    resid = c[u.hook]
    torch.testing.assert_close(u.logits(resid), logits)
    # the norm made linear with its scale frozen at the real one gives the real logits back
    torch.testing.assert_close(u.direct(resid, u.scale(resid)) + u.constant(), logits, atol=1e-4, rtol=1e-4)
    layers = m.hf.base_model.get_submodule(m.arch.layers)
    for L in range(m.cfg.n_layers):
        h = m.mlp_hooks(L)
        torch.testing.assert_close(layers[L].get_submodule(m.arch.mlp)(c[h.input]), c[h.out])
        path = m.residual_path(h.post)
        bias = path.b if path.b is not None else 0.0
        torch.testing.assert_close(path.apply(c[h.post]) + bias, c[h.out], atol=1e-5, rtol=1e-4)
    assert m.token_embedding.shape == (m.cfg.vocab_size, m.cfg.d_model)


def test_encoder_has_no_unembedding(folders):
    m = load_model(folders["bert"])
    assert m.unembed is None  # no next-token logits: logit effects and attribution are skipped
    toks = torch.randint(0, m.cfg.vocab_size, (1, 7), generator=torch.Generator().manual_seed(4))
    _, c = m.run_with_cache(toks)
    layer = m.hf.base_model.get_submodule(m.arch.layers)[0]
    h = m.mlp_hooks(0)
    torch.testing.assert_close(layer.output.dense(layer.intermediate(c[h.input])), c[h.out])
    with pytest.raises(MonoscopeError, match="out of range"):
        m.mlp_hooks(5)


def test_a_folder_with_its_own_code_is_refused_and_its_code_never_runs(folders, tmp_path):
    """config.json with auto_map names Python files in the folder; loading it must neither prompt nor run them."""
    import shutil

    hostile = tmp_path / "remote"
    shutil.copytree(folders["gpt2"], hostile)
    ran = tmp_path / "code_ran"
    (hostile / "configuration_evil.py").write_text(
        f"open({str(ran)!r}, 'w').write('ran')\n"
        "from transformers import GPT2Config\n\nclass EvilConfig(GPT2Config):\n    model_type = 'gpt2'\n"
    )
    (hostile / "modeling_evil.py").write_text(
        f"open({str(ran)!r}, 'w').write('ran')\n"
        "from transformers import GPT2LMHeadModel\n\nclass EvilModel(GPT2LMHeadModel):\n    pass\n"
    )
    cfg = json.loads((hostile / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModelForCausalLM": "modeling_evil.EvilModel"}
    (hostile / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(MonoscopeError, match=r"never runs a model folder's own code") as e:
        load_model(hostile)
    assert "\n" not in str(e.value) and not ran.exists()
    # the tokenizer path of data-hf is held to the same rule
    from monoscope.data.hf import load_hf_tokenizer

    tcfg = json.loads((hostile / "tokenizer_config.json").read_text())
    (hostile / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if k != "auto_map"}))
    tcfg["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    (hostile / "tokenizer_config.json").write_text(json.dumps(tcfg))
    with pytest.raises(MonoscopeError, match=r"tokenizer_config.json maps classes to code"):
        load_hf_tokenizer(str(hostile))
    assert not ran.exists()
