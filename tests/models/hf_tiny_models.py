"""Tiny random Hugging Face models of each mapped family, saved to a folder (no download)."""

from __future__ import annotations

from pathlib import Path

TEXT = [
    "the quick brown fox jumps over the lazy dog",
    "def f(x):\n    return x + 1",
    "hello world, hello monoscope",
] * 20


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"]
    tok.train_from_iterator(
        TEXT,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


def tiny_config(family: str, vocab: int):
    import transformers as T

    small = dict(vocab_size=vocab, bos_token_id=0, eos_token_id=0, pad_token_id=3)
    if family == "gpt2":
        return T.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64, **small)
    if family == "gpt_neox":
        return T.GPTNeoXConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            **small,
        )
    if family in ("llama", "mistral", "qwen2", "qwen3", "gemma", "olmo"):
        klass = {
            "llama": T.LlamaConfig,
            "mistral": T.MistralConfig,
            "qwen2": T.Qwen2Config,
            "qwen3": T.Qwen3Config,
            "gemma": T.GemmaConfig,
            "olmo": T.OlmoConfig,
        }[family]
        extra = {"head_dim": 16} if family in ("gemma", "qwen3") else {}
        return klass(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=1,
            intermediate_size=64,
            max_position_embeddings=64,
            **small,
            **extra,
        )
    if family == "bert":
        return T.BertConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            **small,
        )
    if family == "roberta":
        return T.RobertaConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=64,
            **small,
        )
    raise ValueError(family)


def save_tiny(family: str, folder: Path) -> Path:
    import torch
    import transformers as T

    tok = tiny_tokenizer()
    cfg = tiny_config(family, len(tok))
    torch.manual_seed(0)
    klass = {"bert": T.BertForMaskedLM, "roberta": T.RobertaForMaskedLM}.get(family, T.AutoModelForCausalLM)
    model = klass.from_config(cfg) if klass is T.AutoModelForCausalLM else klass(cfg)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


RUN_TEXT = [
    "the quick brown fox jumps over the lazy dog. " * 3,
    "def f(x):\n    return x + 1\n" * 4,
    "hello world, hello monoscope. " * 5,
]


def save_tiny_run(family: str, folder: Path, hook: str = "blocks.0.mlp.hook_post", d_sae: int = 32) -> Path:
    """A run folder on a tiny HF model: model/ (save_tiny), data/ (data-hf from text files), sae/ (a random ReLU SAE
    on `hook`, its encoder tied to the decoder so that about half its features fire)."""
    import torch

    from monoscope.data.hf import HFDataConfig, build_hf_dataset
    from monoscope.models import load_model
    from monoscope.sae import SAEConfig, make_sae, save_sae

    model_dir = save_tiny(family, folder / "model")
    texts = folder / "texts"
    texts.mkdir(parents=True)
    for i in range(12):
        (texts / f"{i}.txt").write_text(RUN_TEXT[i % 3] + f" number {i}.")
    cfg = HFDataConfig(str(texts), str(model_dir), n_ctx=24, val_fraction=0.25)
    build_hf_dataset(folder / "data", cfg, progress=False)
    model = load_model(model_dir)
    _, cache = model.run_with_cache(torch.zeros(1, 2, dtype=torch.long), names=[hook], stop_early=True)
    d_in = cache[hook].shape[-1]
    meta = {"hook_name": hook, "model_path": str(model_dir), "dataset_path": str(folder / "data")}
    torch.manual_seed(0)
    sae = make_sae(SAEConfig("relu", d_in, d_sae, metadata=meta))
    with torch.no_grad():
        sae.W_enc.copy_(sae.W_dec.T)
        sae.b_enc.zero_()
        sae.b_dec.zero_()
    save_sae(sae, folder / "sae")
    return folder
