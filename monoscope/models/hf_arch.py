"""Where each TransformerLens hook point lives inside a Hugging Face architecture.

Paths are module paths relative to the model's base (`model.base_model`:
`transformer` for GPT-2, `model` for Llama, ...); per-layer paths are relative
to one layer. A hook reads a module's *output*, except `mlp.hook_post` (the
input of the MLP's down projection, i.e. the neurons after the nonlinearity,
times the gate for gated MLPs), `mlp.hook_in` (the input of the MLP: the
normalised residual it reads), `hook_resid_pre` (a layer's input) and
`hook_resid_mid` (the input of the second norm of a pre-norm block). The
final norm (relative to the base model) and the output embeddings
(`get_output_embeddings()`) give the unembedding; an architecture without
`final_norm` has no logit effects.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from monoscope.errors import MonoscopeError


@dataclass(frozen=True)
class ArchSpec:
    layers: str  # the ModuleList of blocks, relative to the base model
    embed: str = ""  # token embedding (its output is hook_embed)
    pos_embed: str = ""  # learned position embedding, if any
    attn: str = ""  # per layer: module whose output is hook_attn_out
    mlp: str = ""  # per layer: module whose output is hook_mlp_out
    mlp_down: str = ""  # per layer: module whose input is mlp.hook_post
    resid_mid: str = ""  # per layer: module whose input is hook_resid_mid (pre-norm blocks only)
    mlp_in: str = ""  # per layer: module whose input is mlp.hook_in (default: the `mlp` module)
    final_norm: str = ""  # the norm before the unembedding, relative to the base model (causal LMs)

    @classmethod
    def parse(cls, text: str) -> ArchSpec:
        """`layers=model.layers,embed=model.embed_tokens,attn=self_attn,mlp=mlp,mlp_down=mlp.down_proj`."""
        names = {f.name for f in fields(cls)}
        kv = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            key, sep, val = part.partition("=")
            if not sep or key.strip() not in names:
                raise MonoscopeError(
                    f"bad module-path entry {part!r}; expected KEY=PATH with KEY in {', '.join(sorted(names))}"
                )
            kv[key.strip()] = val.strip()
        if "layers" not in kv:
            raise MonoscopeError("module paths must name layers=PATH (the list of transformer blocks)")
        return cls(**kv)


# In the form `--module-paths` takes, so a user's own map reads like these.
_LLAMA = ArchSpec.parse(
    "layers=layers,embed=embed_tokens,attn=self_attn,mlp=mlp,mlp_down=mlp.down_proj,"
    "resid_mid=post_attention_layernorm,final_norm=norm"
)
_BERT = ArchSpec.parse(
    "layers=encoder.layer,embed=embeddings.word_embeddings,pos_embed=embeddings.position_embeddings,"
    "attn=attention.output.dense,mlp=output.dense,mlp_down=output.dense,mlp_in=intermediate"
)

ARCH_SPECS: dict[str, ArchSpec] = {
    "gpt2": ArchSpec.parse(
        "layers=h,embed=wte,pos_embed=wpe,attn=attn,mlp=mlp,mlp_down=mlp.c_proj,resid_mid=ln_2,final_norm=ln_f"
    ),
    "gpt_neox": ArchSpec.parse(
        "layers=layers,embed=embed_in,attn=attention,mlp=mlp,mlp_down=mlp.dense_4h_to_h,final_norm=final_layer_norm"
    ),
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _LLAMA,
    "qwen3": _LLAMA,
    "gemma": _LLAMA,
    "olmo": _LLAMA,
    "bert": _BERT,
    "roberta": _BERT,
}

HOW_TO_MAP = (
    "name the module paths yourself: HFModel.load(folder, arch=ArchSpec.parse('layers=h,embed=wte,attn=attn,"
    "mlp=mlp,mlp_down=mlp.c_proj,final_norm=ln_f')) or `--module-paths layers=...,embed=...` on the command line "
    "(paths relative to model.base_model; per-layer paths relative to one block)"
)


def spec_for(model_type: str) -> ArchSpec:
    if model_type not in ARCH_SPECS:
        raise MonoscopeError(
            f"architecture {model_type!r} is not mapped to hook points; supported: "
            f"{', '.join(sorted(ARCH_SPECS))}; or {HOW_TO_MAP}"
        )
    return ARCH_SPECS[model_type]
