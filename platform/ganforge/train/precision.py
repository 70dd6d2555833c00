"""Numeric precision and the device-specific settings of training: the one place that branches
on CUDA.

``train.precision`` picks the autocast dtype of a step's adversarial forwards: ``fp32`` (none),
``bf16`` or ``fp16``. Autocast runs on the step's own device type, so bf16/fp16 also run (and
are tested) on a CPU. fp16 needs loss scaling on a GPU: one ``torch.amp.GradScaler`` per
optimizer, kept in ``GanModules.extras`` so the scale survives a resume; on a CPU the scaler is
built disabled (``scale``/``step`` pass through), so the fp16 code path is the same everywhere.
Gradient penalties (GP, R1) run under ``full_precision()``: their double backward in fp16/bf16
loses the small input gradients they measure.

Also here: cudnn.benchmark / deterministic algorithms, the CUDA RNG states a checkpoint
carries, pinned non-blocking host-to-device copies, whether a step may defer its host reads
(``sync_free``), and ``torch.compile`` of the step's forwards.
"""
from __future__ import annotations

import contextlib
import os

import torch

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
COMPILE_BACKEND = "inductor"  # torch.compile's default; tests use "aot_eager" (no C++ build)


def autocast(precision: str, device: torch.device):
    """The context a step's adversarial forwards run in: autocast to ``precision``'s dtype on
    ``device``'s type, or nothing for fp32."""
    dtype = DTYPES[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def full_precision(device: torch.device):
    """Autocast off: what runs inside is fp32 even within a bf16/fp16 step (GP, R1)."""
    return torch.autocast(device.type, enabled=False)


class ScalerState:
    """A ``GradScaler`` as a checkpoint extra; an empty saved state (a disabled scaler's, i.e. an
    fp16 run on a CPU) leaves the scale as built, so a CPU checkpoint resumes on a GPU."""

    def __init__(self, scaler: torch.amp.GradScaler):
        self.scaler = scaler

    def state_dict(self) -> dict:
        return self.scaler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if state and self.scaler.is_enabled():
            self.scaler.load_state_dict(state)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A loss scaler for fp16 (enabled on CUDA only); None for fp32 and bf16 (which need none)."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type, enabled=device.type == "cuda")


def sync_free(device: torch.device) -> bool:
    """Whether a step defers reading its losses to the host: on a GPU a read drains the queue;
    on a CPU the values are already there and an immediate read costs nothing."""
    return device.type == "cuda"


def configure_backends(device: torch.device, deterministic: bool) -> None:
    """cudnn autotuning on a GPU (fastest kernels for fixed shapes), or deterministic algorithms
    everywhere when ``train.deterministic`` asks for bit-reproducible GPU runs."""
    if deterministic:
        # cuBLAS reads this when its handle is created: set before the first matmul on the GPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = not deterministic
        torch.backends.cudnn.deterministic = deterministic


def rng_states() -> dict:
    """torch's CPU RNG state, plus every visible GPU's once CUDA is in use (dropout and models'
    own noise on a GPU draw from those)."""
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict) -> None:
    """Restore what ``rng_states`` saved; CUDA states only where this process has the same GPUs
    (a CPU resume of a GPU checkpoint keeps the CPU state, which is all it uses)."""
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda")
    if cuda and torch.cuda.is_available() and torch.cuda.device_count() == len(cuda):
        torch.cuda.set_rng_state_all(cuda)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """``tensor`` on ``device``; to a GPU through pinned memory without blocking the host (a
    pageable copy waits for the GPU's queue to drain)."""
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


def pin_memory(device: torch.device) -> bool:
    """Whether DataLoaders pin their batches (GPU only: pinning costs a copy on a CPU)."""
    return device.type == "cuda"


def memory_format(channels_last: bool) -> torch.memory_format:
    """The memory format models and image batches use."""
    return torch.channels_last if channels_last else torch.contiguous_format


def compiled(module: torch.nn.Module, enabled: bool):
    """``module`` compiled for the step's forwards (the module itself, its state dict keys
    unchanged, stays what checkpoints and regularizers' double backward use)."""
    return torch.compile(module, backend=COMPILE_BACKEND) if enabled else module
