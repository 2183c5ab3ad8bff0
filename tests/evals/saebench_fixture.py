"""The fixed input that SAEBench and monoscope both score: a tiny Hugging Face GPT-2 and a ReLU SAE, as files.

Why planted: a random tiny model has no first-letter direction, so both tools
would agree on nothing happening. Here the model is a real `transformers`
GPT-2 on the shipped model's tokenizer whose layer-0 residual stream is its
token embedding (attention and MLP write nothing, no position embedding), so
the activation at a word is the same in SAEBench's in-context prompt and in
monoscope's read after BOS. Each word embedding is its first letter's direction
plus noise; for six letters, 40 words each also carry a word direction. The
SAE has one latent per letter, one latent per planted word that fires on the
word direction, writes letter + word and silences the letter latent (a known
absorption), and random latents that seldom fire. Beside them, a seeded
balanced probing task (raw activations and latents) for sparse probing.

    python tests/evals/saebench_fixture.py --out FOLDER
    # FOLDER/model (HF GPT-2), FOLDER/sae (SAELens layout), FOLDER/probing.safetensors (a sparse-probing task)

Deterministic under a seed (torch 2.13.0 in both virtualenvs), up to float
rounding: the QR that makes the letter directions goes through LAPACK, whose
last bits differ between CPUs (a bit-exact hash failed on CI's machine). So
`checksums` sums each tensor and its absolute value in float64, and
`same_fixture` compares them to 1e-5 of the absolute sum: float noise passes, any other
seed, size or construction fails.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "monoscope" / "pretrained" / "gpt-1l" / "tokenizer.json"
HOOK = "blocks.0.hook_resid_post"
D_MODEL = 384
ABSORB = "acdpst"  # letters with planted absorbing latents
WORDS_PER_LETTER = 40
N_RANDOM = 98
SEED = 0


def alpha_words(tok) -> list[tuple[int, str]]:
    """(token id, word) of every token that decodes to a word of ASCII letters, with or without a leading space."""
    out = []
    for i in range(tok.get_vocab_size()):
        w = tok.decode([i])
        s = w[1:] if w.startswith(" ") else w
        if s and s.isascii() and s.isalpha():
            out.append((i, s))
    return out


def planted(seed: int = SEED):
    """(embedding [vocab, d], SAE encoder [d, d_sae], decoder [d_sae, d], encoder bias, planted word ids)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(TOKENIZER))
    g = torch.Generator().manual_seed(seed)
    vocab = tok.get_vocab_size()
    q, _ = torch.linalg.qr(torch.randn(D_MODEL, D_MODEL, generator=g))
    letter = q[:, :26].T  # 26 orthonormal letter directions
    emb = 0.3 * torch.randn(vocab, D_MODEL, generator=g) / D_MODEL**0.5
    words = alpha_words(tok)
    chosen: dict[str, list[int]] = {c: [] for c in ABSORB}
    for i, w in words:
        c = w[0].lower()
        emb[i] += letter[ord(c) - 97]
        if c in chosen and len(chosen[c]) < WORDS_PER_LETTER and i % 3 == 0:
            chosen[c].append(i)
    word_dirs = q[:, 26 : 26 + len(ABSORB) * WORDS_PER_LETTER].T
    n_abs = sum(len(v) for v in chosen.values())
    d_sae = 26 + n_abs + N_RANDOM
    w_enc = torch.zeros(D_MODEL, d_sae)
    w_dec = torch.zeros(d_sae, D_MODEL)
    w_enc[:, :26] = letter.T
    w_dec[:26] = letter
    j, planted_ids = 26, []
    for c in ABSORB:
        for i in chosen[c]:
            t = word_dirs[j - 26]
            emb[i] += t
            w_enc[:, ord(c) - 97] -= 2 * t  # the word silences its letter's latent
            w_enc[:, j] = t * 2**0.5
            w_dec[j] = (letter[ord(c) - 97] + t) / 2**0.5
            planted_ids.append(i)
            j += 1
    rnd = torch.nn.functional.normalize(torch.randn(N_RANDOM, D_MODEL, generator=g), dim=1)
    w_enc[:, j:] = rnd.T
    w_dec[j:] = rnd
    b_enc = torch.full((d_sae,), -0.2)
    b_enc[j:] = -0.5
    return emb, w_enc, w_dec, b_enc, planted_ids


def probing_data(seed: int = SEED, n: int = 400, d: int = 32, d_sae: int = 60) -> dict[str, torch.Tensor]:
    """A balanced token-level probing task, train and test: raw activations `x` (the task along a noisy direction),
    latents `f` (latent 11 the task with misses, latent 40 a weaker copy, the rest noise), labels `y`."""
    g = torch.Generator().manual_seed(seed + 1)
    out = {}
    for side in ("train", "test"):
        y = torch.cat([torch.ones(n), torch.zeros(n)])
        x = torch.randn(2 * n, d, generator=g)
        x[:, 0] += 1.2 * y
        x[:, 1] += 0.6 * y
        f = torch.relu(torch.randn(2 * n, d_sae, generator=g) - 1.0)
        hit = (torch.rand(2 * n, generator=g) < 0.85) & (y > 0)
        f[:, 11] = torch.where(hit, 1.0 + torch.rand(2 * n, generator=g), 0.0)
        f[:, 40] = torch.relu(0.5 * y + 0.7 * torch.randn(2 * n, generator=g))
        out.update({f"{side}_x": x, f"{side}_f": f, f"{side}_y": y})
    return out


def checksums(*tensors: torch.Tensor) -> list[list[float]]:
    """[shape..., sum, sum of |x|] per tensor, in float64: identity up to float rounding."""
    return [[*t.shape, t.double().sum().item(), t.double().abs().sum().item()] for t in tensors]


def same_fixture(a: list[list[float]], b: list[list[float]], rtol: float = 1e-5) -> bool:
    """True when two checksum lists describe the same tensors up to float rounding: equal shapes, and both sums
    within `rtol` of the tensor's absolute sum (a plain sum can cancel to near zero, its float noise does not)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x[:-2] != y[:-2]:
            return False
        scale = rtol * max(abs(x[-1]), 1e-6)
        if abs(x[-2] - y[-2]) > scale or abs(x[-1] - y[-1]) > scale:
            return False
    return True


def build(out: Path, seed: int = SEED) -> dict:
    """Writes out/model (HF GPT-2 + tokenizer) and out/sae (monoscope's SAELens layout); returns a description."""
    import transformers as T

    from monoscope.sae import SAEConfig, make_sae, save_sae

    emb, w_enc, w_dec, b_enc, planted_ids = planted(seed)
    tok = T.PreTrainedTokenizerFast(tokenizer_file=str(TOKENIZER), bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    cfg = T.GPT2Config(
        vocab_size=emb.shape[0], n_embd=D_MODEL, n_layer=1, n_head=4, n_positions=128, bos_token_id=0, eos_token_id=0
    )
    torch.manual_seed(seed)
    model = T.GPT2LMHeadModel(cfg)
    with torch.no_grad():
        model.transformer.wte.weight.copy_(emb)
        model.transformer.wpe.weight.zero_()
        block = model.transformer.h[0]
        for lin in (block.attn.c_proj, block.mlp.c_proj):  # attention and MLP write nothing to the residual
            lin.weight.zero_()
            lin.bias.zero_()
    model.save_pretrained(out / "model")
    tok.save_pretrained(out / "model")
    sae = make_sae(
        SAEConfig("relu", D_MODEL, w_dec.shape[0], metadata={"hook_name": HOOK, "model_path": str(out / "model")})
    )
    with torch.no_grad():
        sae.W_enc.copy_(w_enc)
        sae.W_dec.copy_(w_dec)
        sae.b_enc.copy_(b_enc)
        sae.b_dec.zero_()
    save_sae(sae, out / "sae")
    from safetensors.torch import save_file

    probe = probing_data(seed)
    save_file(probe, str(out / "probing.safetensors"))
    return {
        "hook": HOOK,
        "seed": seed,
        "checksums": checksums(emb, w_enc, w_dec, b_enc, *probe.values()),
        "planted": planted_ids,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    desc = build(Path(a.out))
    (Path(a.out) / "fixture.json").write_text(json.dumps(desc) + "\n")
    print(json.dumps(desc))
