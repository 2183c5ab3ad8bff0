"""Subject models behind one interface: named hook points, `run_with_cache`, `run_with_hooks`."""

from monoscope.models.hooks import HookedModel, HookPoint
from monoscope.models.transformer import GPT, GPTConfig, lm_loss

__all__ = ["GPT", "GPTConfig", "HookedModel", "HookPoint", "lm_loss", "load_model"]


def load_model(folder, device="cpu", dtype="float32", module_paths=None, module_hook: str | None = None):
    """Load a subject model from a folder: a monoscope GPT, or a Hugging Face model folder.

    `dtype` is a Hugging Face model's forward precision (weights loaded in it, CUDA only); a monoscope GPT
    keeps float32 weights and runs half precision under the caller's autocast. For a Hugging Face model,
    `module_paths` maps an architecture without a built-in map (hf_arch.ArchSpec or "layers=PATH,..."), and
    `module_hook` exposes that module's output as a hook point of the same name."""
    from pathlib import Path

    from monoscope.errors import MonoscopeError
    from monoscope.io import read_json

    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise MonoscopeError(
            f"{folder} has no config.json; expected a model folder made by `monoscope train-model` "
            "or a Hugging Face model folder"
        )
    cfg = read_json(folder / "config.json", "model config")
    if cfg.get("architecture") == "monoscope-gpt":
        if module_paths or module_hook:
            raise MonoscopeError(
                f"{folder} is a monoscope GPT: module paths and module hooks are for Hugging Face models; "
                "name one of its hook points instead (blocks.0.mlp.hook_post)"
            )
        return GPT.load(folder, device)
    try:
        from monoscope.models.hf import HFModel
    except ImportError as e:
        raise MonoscopeError(f"{folder} looks like a Hugging Face model; install monoscope[hf] ({e})") from None
    model = HFModel.load(folder, device=device, dtype=dtype, arch=module_paths)
    if module_hook:
        model.add_module_hook(module_hook, module_hook)
    return model
