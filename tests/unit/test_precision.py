"""train.precision, channels_last and compile on a CPU: what each changes in a step, the fp32
regularizers under autocast, fp16's scalers as checkpoint extras, and train.amp's old spelling."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters

from ganforge.config import ExperimentSpec
from ganforge.documents import SpecError
from ganforge.config import spec_from_dict
from ganforge.train import precision as device_policy
from ganforge.train.checkpoint import load_checkpoint, restore, save_checkpoint
from ganforge.train.setup import build_modules, build_step

pytestmark = pytest.mark.unit

META = {"img_shape": [1, 16, 16], "num_classes": 0}


def spec_with(**train):
    return ExperimentSpec(model={"z_dim": 8, "options": {"ngf": 8, "ndf": 8}},
                          loss={"regularizers": [{"name": "r1", "weight": 1.0}]},
                          train={"batch_size": 8, "ema": 0.5, **train})


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.rand(8, 1, 16, 16, generator=g) * 2 - 1, torch.zeros(8, dtype=torch.long))]


def first_conv_dtypes(D: nn.Module) -> list[torch.dtype]:
    """Output dtypes of D's first convolution, one per forward (hooked)."""
    seen: list[torch.dtype] = []
    conv = next(m for m in D.modules() if isinstance(m, nn.Conv2d))
    conv.register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_low_precision_forwards_with_r1_in_fp32(precision, dtype):
    spec = spec_with(precision=precision)
    modules = build_modules(spec, (1, 16, 16), 0)
    step = build_step(spec, modules)
    seen = first_conv_dtypes(modules.D)
    metrics = step(batch(), 0)
    # D update: real, fake (autocast), R1 on the reals (fp32); G update: fake (autocast)
    assert seen == [dtype, dtype, torch.float32, dtype]
    assert set(metrics) == {"d_loss", "d_r1", "g_loss"} and all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert all(p.dtype == torch.float32 for p in modules.G.parameters())  # weights stay fp32


def test_fp16_scalers_are_checkpoint_extras_and_a_cpu_checkpoint_resumes_with_a_live_scaler(tmp_path):
    spec = spec_with(precision="fp16")
    modules = build_modules(spec, (1, 16, 16), 0)
    step = build_step(spec, modules)
    assert sorted(modules.extras) == ["grad_scaler_d", "grad_scaler_g"]
    assert not step.cfg.scalers["d"].is_enabled()  # CPU: scale/step pass through
    step(batch(), 0)
    save_checkpoint(modules, 1, spec.to_dict(), META, tmp_path)
    assert load_checkpoint(tmp_path)["extras"]["grad_scaler_d"] == {}
    # On a GPU the scaler is live: loading a disabled scaler's empty state keeps its initial scale.
    live = device_policy.ScalerState(torch.amp.GradScaler("cpu", init_scale=1024.0))
    live.load_state_dict({})
    assert live.scaler.get_scale() == 1024.0
    grown = torch.amp.GradScaler("cpu", init_scale=8.0)
    live.load_state_dict(grown.state_dict())
    assert live.scaler.get_scale() == 8.0
    fresh = build_modules(spec_with(), (1, 16, 16), 0)  # an fp32 run has no scalers
    assert restore(fresh, load_checkpoint(tmp_path)) == 1 and not fresh.extras


def test_channels_last_models_and_batches_compute_the_same_step():
    spec, last = spec_with(), spec_with(channels_last=True)
    plain_m, last_m = build_modules(spec, (1, 16, 16), 0), build_modules(last, (1, 16, 16), 0)
    conv = next(m for m in last_m.D.modules() if isinstance(m, nn.Conv2d) and m.in_channels > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    expected = build_step(spec, plain_m)(batch(), 0)
    got = build_step(last, last_m)(batch(), 0)
    assert got == pytest.approx(expected, rel=1e-4)
    for a, b in zip(plain_m.G.parameters(), last_m.G.parameters()):
        assert torch.allclose(a, b, atol=1e-5)


def test_compiled_forwards_train_like_eager_and_checkpoints_keep_plain_keys(monkeypatch, tmp_path):
    monkeypatch.setattr(device_policy, "COMPILE_BACKEND", "eager")  # dynamo tracing, no C++ build
    torch._dynamo.reset()
    counters.clear()
    spec, compiled = spec_with(), spec_with(compile=True)
    eager_m, compiled_m = build_modules(spec, (1, 16, 16), 0), build_modules(compiled, (1, 16, 16), 0)
    eager, step = build_step(spec, eager_m), build_step(compiled, compiled_m)
    assert step.D is not compiled_m.D  # the step's forwards are compiled, R1 uses D itself (double backward)
    assert step(batch(), 0) == pytest.approx(eager(batch(), 0), rel=1e-4)  # one step: compiling is the cost
    # Dynamo guards on grad mode and on each input's requires_grad: G runs under no_grad (D's
    # update) and with grad, D on inputs without grad (reals, no_grad fakes) and on G's fakes:
    # 2 graphs each, all built in the first step. Freezing D in G's update adds no variant (D
    # sees frozen weights only with an input that requires grad). A guard failing every step
    # would recompile each step (or fall back to eager at dynamo's cache limit).
    assert counters["stats"]["unique_graphs"] == 4
    assert step(batch(1), 1) == pytest.approx(eager(batch(1), 1), rel=1e-4)
    assert counters["stats"]["unique_graphs"] == 4
    for a, b in zip(eager_m.D.parameters(), compiled_m.D.parameters()):
        assert torch.allclose(a, b, atol=1e-5)
    save_checkpoint(compiled_m, 1, compiled.to_dict(), META, tmp_path)
    assert set(load_checkpoint(tmp_path)["G"]) == set(eager_m.G.state_dict())


def test_amp_true_is_bf16_and_a_conflicting_precision_is_refused():
    assert ExperimentSpec(train={"amp": True}).train.precision == "bf16"
    assert ExperimentSpec(train={"amp": True, "precision": "bf16"}).train.precision == "bf16"
    with pytest.raises(SpecError, match="train.amp=true is the old spelling of train.precision=bf16 .* remove train.amp"):
        spec_from_dict({"train": {"amp": True, "precision": "fp16"}})
    with pytest.raises(SpecError, match="train.precision"):
        spec_from_dict({"train": {"precision": "fp8"}})


def test_cpu_rng_states_resume_without_cuda_entries():
    states = device_policy.rng_states()
    assert set(states) == {"torch"}  # no GPU in use
    expected = torch.rand(3)
    device_policy.set_rng_states({**states, "cuda": [torch.zeros(16, dtype=torch.uint8)]})  # a GPU run's checkpoint
    assert torch.equal(torch.rand(3), expected)


def test_serving_forwards_run_batched_in_the_chosen_precision(monkeypatch):
    from pathlib import Path

    from ganforge.models import build_models

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))  # serving/ is not installed
    from serving.generate import forward_jobs, serving_precision

    generator = build_models(spec_with().model, (1, 16, 16), 0)[0].eval()
    conv = next(m for m in generator.modules() if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)))
    seen = []
    conv.register_forward_hook(lambda module, args, out: seen.append((out.dtype, out.shape[0])))
    jobs = [{"model": "g", "n": n, "seed": n, "truncation": None, "format": "png", "class_id": None} for n in (1, 3)]
    assert len(forward_jobs({"g": generator}, jobs, {"g": "bf16"})) == 2
    assert seen == [(torch.bfloat16, 4)]  # one forward over both jobs, in bf16
    assert serving_precision(spec_with(precision="bf16"), "cpu") == "fp32"  # CPU replicas keep fp32


def test_deterministic_turns_on_deterministic_algorithms(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    before = torch.are_deterministic_algorithms_enabled()
    try:
        device_policy.configure_backends(torch.device("cpu"), deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert device_policy.os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"  # before cuBLAS starts
    finally:
        torch.use_deterministic_algorithms(before)
