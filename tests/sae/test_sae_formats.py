"""SAELens v6 layout for every architecture (through the real sae-lens when installed), and foreign importers."""

import importlib.util
import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

from monoscope.errors import MonoscopeError
from monoscope.sae import ARCHITECTURES, SAEConfig, load_sae, make_sae, save_sae
from monoscope.sae.foreign import load_dictionary_learning, load_sparsify
from monoscope.sae.io import from_saelens

ALL = [(a, {"k": 4} if c.needs_k else {}) for a, c in sorted(ARCHITECTURES.items())]  # a new one is tested too
HAVE_SAELENS = importlib.util.find_spec("sae_lens") is not None


def perturbed(arch, kw, seed=0):
    torch.manual_seed(seed)
    sae = make_sae(SAEConfig(arch, 16, 64, **kw))
    with torch.no_grad():
        for p in sae.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for b in sae.buffers():  # e.g. a BatchTopK threshold, not estimated before training
            b.fill_(0.2)
    return sae.eval()


@pytest.mark.parametrize("arch,kw", ALL)
def test_save_load_round_trip_keeps_the_function(arch, kw, tmp_path):
    sae = perturbed(arch, kw)
    save_sae(sae, tmp_path, sparsity=torch.rand(64))
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["architecture"] == ARCHITECTURES[arch].saved_name()
    assert cfg["metadata"]["monoscope_architecture"] == arch
    back = load_sae(tmp_path)
    x = torch.randn(20, 16)
    assert torch.allclose(back.encode(x), sae.encode(x), atol=1e-6)
    assert torch.allclose(back(x), sae(x), atol=1e-5)


def test_the_shipped_architectures_save_under_their_saelens_names():
    names = {a: ARCHITECTURES[a].saved_name() for a in ("relu", "topk", "batchtopk", "jumprelu", "gated", "matryoshka")}
    assert names == {
        "relu": "standard",
        "topk": "topk",
        "batchtopk": "jumprelu",
        "jumprelu": "jumprelu",
        "gated": "gated",
        "matryoshka": "jumprelu",
    }
    assert {n: from_saelens(n) for n in ("standard", "topk", "jumprelu", "gated", "batchtopk")} == {
        "standard": "relu",
        "topk": "topk",
        "jumprelu": "jumprelu",
        "gated": "gated",
        "batchtopk": "jumprelu",
    }


@pytest.mark.skipif(not HAVE_SAELENS, reason="sae-lens is not installed (pip install -e '.[bench]')")
@pytest.mark.parametrize("arch,kw", ALL)
def test_real_saelens_reads_ours_and_we_read_theirs(arch, kw, tmp_path):
    from sae_lens import SAE
    from sae_lens.registry import SAE_CLASS_REGISTRY

    if ARCHITECTURES[arch].saved_name() not in SAE_CLASS_REGISTRY:
        pytest.skip(f"SAELens has no {ARCHITECTURES[arch].saved_name()!r} architecture to read {arch} with")

    sae = perturbed(arch, kw, seed=1)
    save_sae(sae, tmp_path / "ours")
    theirs = SAE.load_from_disk(str(tmp_path / "ours"))
    x = torch.randn(20, 16)
    f = sae.encode(x)
    assert torch.allclose(theirs.encode(x), f, atol=1e-5)
    assert torch.allclose(theirs.decode(theirs.encode(x)), sae(x), atol=1e-5)
    theirs.save_model(str(tmp_path / "theirs"))
    back = load_sae(tmp_path / "theirs")
    assert torch.allclose(back.encode(x), f, atol=1e-5)


def test_sparsify_import_and_shape_errors(tmp_path):
    d_in, d_sae, k = 16, 64, 4
    W = torch.randn(d_sae, d_in)
    t = {
        "encoder.weight": W,
        "encoder.bias": torch.randn(d_sae),
        "W_dec": torch.randn(d_sae, d_in),
        "b_dec": torch.randn(d_in),
    }
    save_file(t, str(tmp_path / "sae.safetensors"))
    (tmp_path / "cfg.json").write_text(json.dumps({"k": k, "d_in": d_in, "num_latents": d_sae, "expansion_factor": 4}))
    sae = load_sparsify(tmp_path)
    assert sae.W_enc.shape == (d_in, d_sae) and sae.cfg.k == k
    x = torch.randn(5, d_in)
    pre = (x - t["b_dec"]) @ W.T + t["encoder.bias"]
    v, i = pre.topk(k)
    ref = torch.zeros_like(pre).scatter(-1, i, v.relu()) @ t["W_dec"] + t["b_dec"]
    assert torch.allclose(sae(x), ref, atol=1e-5)
    save_file({**t, "b_dec": torch.randn(d_in + 1)}, str(tmp_path / "sae.safetensors"))
    with pytest.raises(MonoscopeError, match=r"'b_dec' has shape \[17\], expected \[16\]"):
        load_sparsify(tmp_path)
    save_file({k_: v for k_, v in t.items() if k_ != "W_dec"}, str(tmp_path / "sae.safetensors"))
    with pytest.raises(MonoscopeError, match=r"lacks 'W_dec' \(expected shape \[64, 16\]\)"):
        load_sparsify(tmp_path)
    torch.save(t, tmp_path / "sae.safetensors")  # a pickle where safetensors is expected
    with pytest.raises(MonoscopeError, match="never unpickles"):
        load_sparsify(tmp_path)


def _dl_folder(tmp_path, cls, state, d_in=16, d_sae=64, k=None):
    tmp_path.mkdir(parents=True, exist_ok=True)
    torch.save(state, tmp_path / "ae.pt")
    tr = {"dict_class": cls, "activation_dim": d_in, "dict_size": d_sae}
    if k:
        tr["k"] = k
    (tmp_path / "config.json").write_text(json.dumps({"trainer": tr}))
    return tmp_path


def test_dictionary_learning_import_shapes_and_refusals(tmp_path):
    d_in, d_sae = 16, 64
    st = {
        "encoder.weight": torch.randn(d_sae, d_in),
        "encoder.bias": torch.randn(d_sae),
        "decoder.weight": torch.randn(d_in, d_sae),
        "bias": torch.randn(d_in),
    }
    sae = load_dictionary_learning(_dl_folder(tmp_path / "relu", "AutoEncoder", st))
    x = torch.randn(5, d_in)
    ref = (
        torch.relu((x - st["bias"]) @ st["encoder.weight"].T + st["encoder.bias"]) @ st["decoder.weight"].T + st["bias"]
    )
    assert sae.architecture == "relu" and torch.allclose(sae(x), ref, atol=1e-5)

    topk = {**{k: v for k, v in st.items() if k != "bias"}, "b_dec": torch.randn(d_in), "k": torch.tensor(4)}
    assert load_dictionary_learning(_dl_folder(tmp_path / "topk", "AutoEncoderTopK", topk)).cfg.k == 4
    jump = {
        "W_enc": torch.randn(d_in, d_sae),
        "b_enc": torch.randn(d_sae),
        "W_dec": torch.randn(d_sae, d_in),
        "b_dec": torch.randn(d_in),
        "threshold": torch.rand(d_sae),
    }
    j = load_dictionary_learning(_dl_folder(tmp_path / "jump", "JumpReluAutoEncoder", jump))
    assert torch.allclose(j.threshold, jump["threshold"], atol=1e-6)
    gated = {
        "encoder.weight": torch.randn(d_sae, d_in),
        "gate_bias": torch.randn(d_sae),
        "r_mag": torch.randn(d_sae),
        "mag_bias": torch.randn(d_sae),
        "decoder.weight": torch.randn(d_in, d_sae),
        "decoder_bias": torch.randn(d_in),
    }
    assert load_dictionary_learning(_dl_folder(tmp_path / "gated", "GatedAutoEncoder", gated)).architecture == "gated"

    bad = {**st, "decoder.weight": torch.randn(d_sae, d_in)}
    with pytest.raises(MonoscopeError, match=r"'decoder.weight' has shape \[64, 16\], expected \[16, 64\]"):
        load_dictionary_learning(_dl_folder(tmp_path / "bad", "AutoEncoder", bad))
    with pytest.raises(MonoscopeError, match=r"lacks 'encoder.bias' \(expected shape \[64\]\)"):
        load_dictionary_learning(
            _dl_folder(tmp_path / "miss", "AutoEncoder", {k: v for k, v in st.items() if k != "encoder.bias"})
        )


class Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_dictionary_learning_refuses_pickled_objects(tmp_path):
    _dl_folder(tmp_path, "AutoEncoder", {})
    with open(tmp_path / "ae.pt", "wb") as fh:
        pickle.dump({"encoder.weight": Evil()}, fh)
    with pytest.raises(MonoscopeError, match="weights_only"):
        load_dictionary_learning(tmp_path)


def test_saelens_weights_file_holding_a_pickle_is_refused(tmp_path):
    sae = perturbed("relu", {})
    save_sae(sae, tmp_path)
    torch.save(sae.state_dict(), tmp_path / "sae_weights.safetensors")
    with pytest.raises(MonoscopeError, match="never unpickles"):
        load_sae(tmp_path)


@pytest.mark.parametrize("arch,kw", ALL)
def test_oversized_cfg_is_refused_from_the_header_before_allocating(arch, kw, tmp_path):
    """A cfg.json claiming d_sae = 10**12 (petabytes) is checked against the safetensors header first: one line naming
    the tensor and both shapes, nothing of that size is ever allocated."""
    save_sae(perturbed(arch, kw), tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    cfg["d_sae"] = 10**12
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(MonoscopeError, match=r"has shape \[.*\], expected \[.*1000000000000.*\]") as e:
        load_sae(tmp_path)
    assert "\n" not in str(e.value)
