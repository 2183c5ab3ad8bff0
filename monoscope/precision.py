"""Device and precision flags: bf16/fp16 autocast on CUDA, plain fp32 on CPU.

On CUDA the forward pass runs under `torch.autocast` while parameters and SAE
statistics stay fp32. On CPU monoscope computes in fp32 only, and a half
precision the user asked for is refused rather than quietly replaced: float16
is emulated on CPUs (one demo-sized matmul measured ~100x slower than fp32 on
this project's 2-core EPYC), bfloat16 is emulated on CPUs without AVX512-BF16
or AMX, and neither path is tested against fp32 here.
"""

from __future__ import annotations

import contextlib

import torch

from monoscope.errors import MonoscopeError

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def check_device(device: str | torch.device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise MonoscopeError(f"unknown device {device!r}; expected cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MonoscopeError(f"device {device!r} asked for, but this torch build sees no CUDA GPU; use --device cpu")
    return dev


def resolve_dtype(device: str | torch.device, dtype: str | torch.dtype | None) -> torch.dtype:
    """The compute dtype to use on `device`: the requested one on CUDA; on CPU float32, and half precision refused."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, str):
        if dtype not in DTYPES:
            raise MonoscopeError(f"unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
        dtype = DTYPES[dtype]
    if torch.device(device).type != "cuda" and dtype != torch.float32:
        name = str(dtype).removeprefix("torch.")
        raise MonoscopeError(
            f"{name} asked for on {device}: half precision is for CUDA; on CPU monoscope computes in float32 "
            f"(float16 is emulated there, ~100x slower per matmul, and bfloat16 too on CPUs without AVX512-BF16); "
            f"pass float32 or --device cuda"
        )
    return dtype


def autocast(device: str | torch.device, dtype: torch.dtype):
    """A context that runs matmuls in `dtype` on CUDA; a no-op for fp32 or CPU."""
    dev = torch.device(device)
    if dev.type != "cuda" or dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def pin(t: torch.Tensor) -> torch.Tensor:
    """Page-locked copy for fast asynchronous host-to-GPU transfer (unchanged without CUDA)."""
    return t.pin_memory() if torch.cuda.is_available() else t
