"""Hugging Face `transformers` models behind the HookedModel interface.

TransformerLens hook names are attached to the architecture's own modules with
PyTorch forward hooks (see `hf_arch`), so no weights are copied or converted
and the model computes exactly what `transformers` computes. A hook costs a
dictionary check when nothing listens; `run_with_cache(..., stop_early=True)`
stops the forward pass after the last hook it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from monoscope.errors import MonoscopeError
from monoscope.io import refuse_remote_code
from monoscope.models.hf_arch import ARCH_SPECS, HOW_TO_MAP, ArchSpec, spec_for
from monoscope.models.hooks import HookedModel, HookPoint
from monoscope.models.transformer import lm_loss
from monoscope.models.unembed import Unembed, describe_norm
from monoscope.precision import autocast, check_device, resolve_dtype

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "vocab.txt")


@dataclass
class HFModelConfig:
    """The facts other stages read from `model.cfg` (same names as GPTConfig)."""

    model_name: str
    architecture: str
    d_model: int
    n_layers: int
    vocab_size: int
    n_ctx: int
    n_heads: int
    d_mlp: int


def _first_attr(cfg, *names, default=0):
    for n in names:
        v = getattr(cfg, n, None)
        if v is not None:
            return v
    return default


def _module(root: nn.Module, path: str, fallback: nn.Module | None = None) -> nn.Module:
    for r in (root, fallback):
        if r is None:
            continue
        try:
            return r.get_submodule(path)
        except AttributeError:
            pass
    raise MonoscopeError(f"module path {path!r} not found in the model; {HOW_TO_MAP}")


class HFModel(HookedModel):
    """A `transformers` model with TransformerLens-named hook points."""

    def __init__(
        self,
        hf_model: nn.Module,
        tokenizer=None,
        arch: ArchSpec | None = None,
        model_name: str = "",
        compute_dtype: torch.dtype = torch.float32,
    ):
        super().__init__()
        self.hf = hf_model.eval()
        self.tokenizer = tokenizer
        c = hf_model.config
        self.arch = arch or spec_for(c.model_type)
        self.compute_dtype = compute_dtype
        self.causal = not (
            getattr(c, "model_type", "") in ("bert", "roberta") or getattr(c, "is_encoder_decoder", False)
        )
        self.cfg = HFModelConfig(
            model_name=model_name or getattr(c, "_name_or_path", "") or c.model_type,
            architecture=c.model_type,
            d_model=int(_first_attr(c, "hidden_size", "n_embd", "d_model")),
            n_layers=int(_first_attr(c, "num_hidden_layers", "n_layer", "num_layers")),
            vocab_size=int(_first_attr(c, "vocab_size")),
            n_ctx=int(_first_attr(c, "max_position_embeddings", "n_positions", "n_ctx", default=2048)),
            n_heads=int(_first_attr(c, "num_attention_heads", "n_head")),
            d_mlp=int(
                _first_attr(c, "intermediate_size", "n_inner", "ffn_dim", default=0)
                or 4 * _first_attr(c, "hidden_size", "n_embd")
            ),
        )
        self._hooks: dict[str, HookPoint] = {}
        self._handles: list = []
        self._attach_all()

    # ---- hook points -------------------------------------------------------
    def _new_point(self, name: str) -> HookPoint:
        if name in self._hooks:
            raise MonoscopeError(f"hook point {name!r} is defined twice")
        hp = HookPoint()
        hp.name = name
        self._hooks[name] = hp
        return hp

    def _attach_output(self, name: str, module: nn.Module) -> None:
        hp = self._new_point(name)

        def fwd(mod, args, out):
            if not hp.fns:
                return None
            if isinstance(out, torch.Tensor):
                return hp(out)
            if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor):
                return (hp(out[0]),) + tuple(out[1:])
            raise MonoscopeError(
                f"hook {name}: module returns {type(out).__name__}, not a tensor; pick another module path"
            )

        self._handles.append(module.register_forward_hook(fwd))

    def _attach_input(self, name: str, module: nn.Module) -> None:
        hp = self._new_point(name)

        def pre(mod, args, kwargs):
            if not hp.fns:
                return None
            if args:
                return (hp(args[0]),) + tuple(args[1:]), kwargs
            key = (
                "hidden_states"
                if "hidden_states" in kwargs
                else next(k for k, v in kwargs.items() if isinstance(v, torch.Tensor))
            )
            return args, {**kwargs, key: hp(kwargs[key])}

        self._handles.append(module.register_forward_pre_hook(pre, with_kwargs=True))

    def _attach_all(self) -> None:
        base, a = self.hf.base_model, self.arch
        if a.embed:
            self._attach_output("hook_embed", _module(base, a.embed, self.hf))
        if a.pos_embed:
            self._attach_output("hook_pos_embed", _module(base, a.pos_embed, self.hf))
        layers = _module(base, a.layers, self.hf)
        if not isinstance(layers, (nn.ModuleList, nn.Sequential)):
            raise MonoscopeError(
                f"module path layers={a.layers!r} is a {type(layers).__name__}, not a list of blocks; {HOW_TO_MAP}"
            )
        for i, block in enumerate(layers):
            p = f"blocks.{i}."
            self._attach_input(p + "hook_resid_pre", block)
            if a.attn:
                self._attach_output(p + "hook_attn_out", _module(block, a.attn))
            if a.resid_mid:
                self._attach_input(p + "hook_resid_mid", _module(block, a.resid_mid))
            if a.mlp_in or a.mlp:
                self._attach_input(p + "mlp.hook_in", _module(block, a.mlp_in or a.mlp))
            if a.mlp_down:
                self._attach_input(p + "mlp.hook_post", _module(block, a.mlp_down))
            if a.mlp:
                self._attach_output(p + "hook_mlp_out", _module(block, a.mlp))
            self._attach_output(p + "hook_resid_post", block)
        self._new_point("hook_tokens")  # called in forward: the token ids of this pass

    def add_module_hook(self, name: str, path: str, read: str = "output") -> HookPoint:
        """Expose any module's output (or input) as a hook point, for places the map does not name."""
        if read not in ("output", "input"):
            raise MonoscopeError(f"read must be 'output' or 'input', got {read!r}")
        module = _module(self.hf.base_model, path, self.hf)
        (self._attach_output if read == "output" else self._attach_input)(name, module)
        return self._hooks[name]

    # ---- the model interface (HookedModel) ---------------------------------
    @property
    def unembed(self) -> Unembed | None:
        """Final norm + output embeddings of a causal LM; None for encoders and for maps without `final_norm`."""
        head = self.hf.get_output_embeddings() if self.causal and self.arch.final_norm else None
        if head is None:
            return None
        norm = _module(self.hf.base_model, self.arch.final_norm, self.hf)
        centre, w, b, eps = describe_norm(norm)
        return Unembed(self.final_resid_hook, head.weight, head.bias, centre, w, b, eps, lambda x: head(norm(x)))

    @property
    def token_embedding(self) -> torch.Tensor | None:
        emb = self.hf.get_input_embeddings()
        return emb.weight if emb is not None else None

    def mlp_output_weights(self, layer: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        self.mlp_hooks(layer)  # range and mapping check
        layers = _module(self.hf.base_model, self.arch.layers, self.hf)
        down = _module(layers[int(layer)], self.arch.mlp_down)
        if isinstance(down, nn.Linear):
            return down.weight.T, down.bias
        if type(down).__name__ == "Conv1D":  # GPT-2's transposed linear: weight [in, out]
            return down.weight, down.bias
        raise MonoscopeError(f"mlp_down={self.arch.mlp_down!r} is a {type(down).__name__}, not a linear layer")

    # ---- forward -----------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.hf.parameters()).device

    def forward(
        self, tokens: torch.Tensor, return_type: str = "logits", attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if tokens.dim() == 1:
            tokens = tokens[None]
        if tokens.numel() and (int(tokens.max()) >= self.cfg.vocab_size or int(tokens.min()) < 0):
            raise MonoscopeError(
                f"token id out of range for vocabulary of {self.cfg.vocab_size}: tokenizer and model do not match"
            )
        tokens = self._hooks["hook_tokens"](tokens.to(self.device))
        with autocast(self.device, self.compute_dtype):
            out = self.hf(input_ids=tokens, attention_mask=attention_mask)
        logits = out.logits if getattr(out, "logits", None) is not None else out.last_hidden_state
        if return_type == "loss":
            if not self.causal:
                raise MonoscopeError(
                    f"{self.cfg.architecture} is not a causal language model; next-token loss is undefined"
                )
            return lm_loss(logits, tokens)
        return logits

    # ---- files -------------------------------------------------------------
    @classmethod
    def load(
        cls,
        folder: Path | str,
        device: str = "cpu",
        dtype: str | torch.dtype | None = "float32",
        arch: ArchSpec | str | None = None,
        model_name: str = "",
    ) -> HFModel:
        """Load a model (and its tokenizer) from a local folder, or a hub id where the hub is reachable."""
        try:
            import transformers
        except ImportError as e:
            raise MonoscopeError(f"Hugging Face models need transformers: pip install 'monoscope[hf]' ({e})") from None
        dev = check_device(device)
        local = Path(folder)
        if local.exists() and not (local / "config.json").exists():
            raise MonoscopeError(
                f"{local} has no config.json; "
                "expected a Hugging Face model folder (save_pretrained) or a monoscope model"
            )
        refuse_remote_code(local)
        try:
            config = transformers.AutoConfig.from_pretrained(str(folder), trust_remote_code=False)
        except (OSError, ValueError) as e:
            raise MonoscopeError(f"cannot read a model config from {folder}: {str(e).splitlines()[0]}") from None
        if isinstance(arch, str):
            arch = ArchSpec.parse(arch)
        if arch is None and config.model_type not in ARCH_SPECS:
            spec_for(config.model_type)  # raises with the list of supported architectures
        compute = resolve_dtype(dev, dtype)
        model = None
        names = list(getattr(config, "architectures", None) or [])
        candidates = [getattr(transformers, n) for n in names if hasattr(transformers, n)]
        candidates += [transformers.AutoModelForCausalLM, transformers.AutoModelForMaskedLM, transformers.AutoModel]
        for klass in candidates:
            try:
                model = klass.from_pretrained(str(folder), dtype=compute, trust_remote_code=False)
                break
            except ValueError:  # this auto class does not cover the config
                continue
            except OSError as e:
                raise MonoscopeError(f"cannot load model weights from {folder}: {str(e).splitlines()[0]}") from None
        if model is None:
            raise MonoscopeError(f"transformers has no model class for {config.model_type!r}")
        tokenizer = None
        if not local.exists() or any((local / f).exists() for f in TOKENIZER_FILES):
            try:
                tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
            except (OSError, ValueError):
                tokenizer = None
        name = model_name or (local.name if local.exists() else str(folder))
        return cls(model.to(dev), tokenizer, arch, name, compute).eval()
