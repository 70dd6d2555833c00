"""The fine-tuning baselines and the adaptation runs' state (issue 14), in process: finetune moves
all of G and D, freezed keeps exactly D's lower layers; a stopped, checkpointed and resumed
adaptation ends bit for bit where the uninterrupted one ends; 2 DDP ranks adapt as 1 process."""
from __future__ import annotations

import pytest
import torch

from statecompare import differences
from adapt_sources import adapt_spec, build, save_source

pytestmark = pytest.mark.unit


DATASETS: dict = {}


def real_batches(spec, step: int):
    """The loop's batch at ``step`` (the few-shot images, unlabelled) for the adversarial methods."""
    from ganforge.data import build_dataset
    from ganforge.train.batches import BatchStream

    key = repr(spec.data)
    dataset = DATASETS[key] = DATASETS.get(key) or build_dataset(spec.data)
    stream = BatchStream(dataset, spec.per_worker_batch(), spec.train.seed)
    stream.seek(step)
    return [stream.next()]


def run_steps(spec, modules, step_fn, start: int, stop: int) -> None:
    for index in range(start, stop):
        step_fn(real_batches(spec, index), index)


def adversarial(tmp_path, method: str, settings: dict | None = None, steps: int = 1):
    spec = adapt_spec(save_source(tmp_path), method, settings, loss={"name": "hinge"})
    _, _, modules, step = build(spec)
    before = {"G": {k: v.clone() for k, v in modules.G.named_parameters()},
              "D": {k: v.clone() for k, v in modules.D.named_parameters()}}
    run_steps(spec, modules, step, 0, steps)
    moved = {net: {k for k, v in getattr(modules, net).named_parameters() if not torch.equal(v, before[net][k])}
             for net in ("G", "D")}
    return modules, before, moved


def test_finetune_trains_all_of_g_and_d(tmp_path):
    modules, before, moved = adversarial(tmp_path, "finetune")
    assert moved["G"] == set(before["G"]) and moved["D"] == set(before["D"])


def test_freezed_keeps_exactly_the_lower_half_of_d(tmp_path):
    modules, before, moved = adversarial(tmp_path, "freezed")
    lower = {k for k in before["D"] if k.startswith(("blocks.0.", "blocks.1."))}  # 2 of the 4 blocks at 32 px
    assert lower and moved["D"] == set(before["D"]) - lower
    assert moved["G"] == set(before["G"])


def test_freezed_counts_the_layers_it_is_told(tmp_path):
    modules, before, moved = adversarial(tmp_path / "a" if (tmp_path / "a").mkdir() is None else None,
                                         "freezed", {"frozen_layers": 3})
    assert {k.split(".")[1] for k in set(before["D"]) - moved["D"]} == {"0", "1", "2"}
    with pytest.raises(ValueError, match="frozen_layers=4: D has 4 layers"):
        adversarial(tmp_path / "b" if (tmp_path / "b").mkdir() is None else None, "freezed", {"frozen_layers": 4})


def final_state(modules) -> dict:
    from ganforge.train.checkpoint import training_state

    return training_state(modules, 0, {}, {})


@pytest.mark.parametrize("method", ["bsa", "freezed"])
def test_a_resumed_adaptation_ends_where_the_uninterrupted_one_ends(tmp_path, method):
    from ganforge.train.checkpoint import load_checkpoint, restore, save_checkpoint

    settings = {"latent_noise": 0.05} if method == "bsa" else None  # the noise is drawn per step: exact too
    spec = adapt_spec(save_source(tmp_path), method, settings, loss={"name": "hinge"},
                      schedule={"name": "step", "options": {"step_size": 2, "gamma": 0.5}}, train={"steps": 4})
    _, meta, whole, step = build(spec)
    run_steps(spec, whole, step, 0, 4)
    _, _, first, step = build(spec)
    run_steps(spec, first, step, 0, 2)
    save_checkpoint(first, 2, spec.to_dict(), meta, tmp_path / "ckpt")
    _, _, second, step = build(spec)
    assert restore(second, load_checkpoint(tmp_path / "ckpt")) == 2
    run_steps(spec, second, step, 2, 4)
    expected, got = final_state(whole), final_state(second)
    assert not differences(expected, got), differences(expected, got)[:5]
    assert expected["opt_g"]["state"] and expected["sched_g"]["last_epoch"] == 4  # compared something real


def gradients(step_fn, modules, step: int) -> dict:
    """The gradients of one rank's loss at ``step`` (no all-reduce), and its loss terms."""
    modules.G.zero_grad(set_to_none=True)
    terms = step_fn.terms(step)
    sum(value for _, value in terms).backward()
    return {n: p.grad.clone() for n, p in modules.G.named_parameters() if p.grad is not None}, dict(
        (name, value.item()) for name, value in terms)


def test_two_ranks_gradients_average_to_the_one_process_gradients(tmp_path):
    """What apply_update all-reduces (the mean of the ranks' gradients and losses) is exactly the
    single process's: each rank's rows r::2 of the global batch, EMD and regulariser alike on both."""
    from ganforge.tasks import task_of

    source = save_source(tmp_path)
    _, _, single, step = build(adapt_spec(source, settings={"latent_noise": 0.05}))
    expected, expected_terms = gradients(step, single, 1)
    spec = adapt_spec(source, settings={"latent_noise": 0.05}, scaling={"workers": 2})
    _, _, modules, _ = build(spec)
    ranks = [gradients(task_of(spec).build_step(spec, modules, rank, 2), modules, 1) for rank in range(2)]
    for name, grad in expected.items():
        assert torch.allclose((ranks[0][0][name] + ranks[1][0][name]) / 2, grad, atol=1e-7, rtol=1e-5), name
    for name, value in expected_terms.items():
        assert (ranks[0][1][name] + ranks[1][1][name]) / 2 == pytest.approx(value, rel=1e-5), name
    assert ranks[0][1]["g_l1"] != ranks[1][1]["g_l1"]  # the ranks did see different images


def test_finetune_accepts_an_unconditional_source_trained_on_labelled_data(tmp_path):
    """A source trained on Fashion-MNIST records the data's 10 classes in its meta though its G is
    unconditional (model.conditional false): fine-tuning must take it (jobs/adapt/finetune-*.yaml)."""
    from ganforge.train.checkpoint import atomic_save, load_checkpoint

    payload = load_checkpoint(save_source(tmp_path))
    payload["meta"]["num_classes"] = 10
    atomic_save(payload, tmp_path / "checkpoint.pt")
    _, _, modules, _ = build(adapt_spec(tmp_path, "finetune", loss={"name": "hinge"}))
    assert modules.G.num_classes == 0
    conditional = save_source(tmp_path / "c" if (tmp_path / "c").mkdir() is None else None, "biggan")
    with pytest.raises(ValueError, match="adapts unconditional generators; adapt.source is conditional"):
        build(adapt_spec(conditional, "finetune", loss={"name": "hinge"}))
