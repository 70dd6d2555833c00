"""One DDP step computes what one process computes on the whole batch: 2 ranks x B == 1 x 2B.

What is compared is what the step computes, not what an optimizer makes of it: the averaged
gradients of every D and G update (read by an optimizer step pre-hook, i.e. after GanStep's
all-reduce and just before the update is applied), the losses, and the parameters, buffers and
EMA after plain-SGD updates. (Adam's first step is about lr x sign(g): a gradient near zero whose
sign differs in the last bits moves a parameter by ~2 x lr, and a doubled gradient moves it hardly
at all, so comparing weights after Adam cannot tell a wrong gradient scale from rounding.)

The cases loop over the registries: every model family (at the size tests/zoo_sizes.py gives
it), every adversarial loss (n_critic up to 2), and so every regularizer (a coverage assertion
says which one a new entry left out); plus spectral norm, class conditioning with BatchNorm,
R1 with DiffAugment and an Albumentations preset. Both sides read their batches through the real
data path: the spec's data set and preset, ``BatchStream`` and its ``ResumableSampler``, for
2 steps x n_critic batches (crossing an epoch). The 2 ranks form a gloo group of two processes
started with torch.multiprocessing (14 s against 40 s for two TorchTrainer fits here); the parent
runs the 1-process reference meanwhile.

Everything runs in float64 (models, latents, batches): in float32, rounding alone moves FastGAN's
first G gradient at this tiny size by 0.6 % (float32 against float64, one process), the size of
the errors the test must catch. In float64 the worst 2-rank error is ~1e-13, and ``RTOL`` = 1e-4
(a tensor's error relative to its own norm) fails a 1 % gradient error by 100x. Tensors whose true
value is ~0 (a bias before BatchNorm) are compared relative to ``FLOOR`` x the norm of the whole
update instead, where only rounding lives.
"""
from __future__ import annotations

import itertools
from functools import partial

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from zoo_sizes import PAIRED_TINY, UNPAIRED_TINY, missing_families, missing_paired, missing_unpaired, tiny

pytestmark = pytest.mark.integration

GLOBAL_BATCH, STEPS, IMAGES = 8, 2, 24  # 24 images = 3 global batches an epoch: the stream rolls over
RTOL, FLOOR, STATE_FLOOR = 1e-4, 1e-2, 1e-4
SGD = {"name": "sgd", "lr": 1e-3, "momentum": 0.0}
SMALL = {"z_dim": 16, "options": {"ngf": 8, "ndf": 8}}  # DCGAN with BatchNorm in G and D
LOSS_MODEL = {"realness": "realnessgan"}  # losses that need a particular discriminator output
FEATURES = {
    "hinge-spectral-norm": {"loss": {"name": "hinge"}, "model": {
        "z_dim": 16, "options": {"ngf": 8, "ndf": 8, "spectral_norm_d": True, "spectral_norm_g": True, "d_norm": "none"}}},
    "lsgan-conditional-bn": {"loss": {"name": "lsgan"}, "model": {**SMALL, "conditional": True}},
    "r1-diffaugment-preset": {"loss": {"name": "non-saturating", "regularizers": [{"name": "r1", "weight": 1.0}]},
                              "augment": {"preset": "blur+flip+affine", "diffaugment": "color,translation,cutout"},
                              "model": SMALL},
    # p moves after every D update from the all-reduced r_t, and the next update augments with it:
    # a rank that moved p from its own half of the batch would augment, and so differ, on its own.
    "ada": {"augment": {"ada": {"target": 0.6, "interval": 1, "kimg": 1, "p": 0.5}}, "model": SMALL},
    # The adaptation step (issue 14): BSA's latents and scale/shift from a tiny SNGAN source (the
    # bsa_source fixture fills adapt.source), L1 + EMD + the gamma/beta pull; no D update.
    "adapt-bsa": {"res": 32, "data": {"channels": 1}, "adapt": {"method": "bsa", "settings": {"perceptual_network": "none"}}},
}
G_ONLY = {"adapt-bsa"}  # cases whose step updates G alone


def _spec(document: dict, world: int):
    """The ExperimentSpec of one case for ``world`` workers (SGD, tiny data, EMA on)."""
    from ganforge.config import ExperimentSpec

    document = dict(document)
    res = document.pop("res", 16)
    data = {"name": "digits", "resolution": res, **document.pop("data", {}), "limit": IMAGES}
    return ExperimentSpec(**document, data=data,
                          optim={"g": SGD, "d": SGD}, train={"batch_size": GLOBAL_BATCH, "ema": 0.9, "steps": STEPS},
                          scaling={"workers": world})


def cases() -> dict[str, dict]:
    """Every registered family and loss, plus the features above."""
    from ganforge.config import ExperimentSpec
    from ganforge.losses import LOSSES
    from ganforge.models import families

    assert not missing_families(families("generate")), missing_families(families("generate"))
    found = {f"family-{name}": tiny(name) for name in families("generate")}
    assert not missing_paired(families("paired")), missing_paired(families("paired"))
    found.update({f"paired-{name}": PAIRED_TINY[name] for name in families("paired")})
    assert not missing_unpaired(families("unpaired")), missing_unpaired(families("unpaired"))
    found.update({f"unpaired-{name}": UNPAIRED_TINY[name] for name in families("unpaired")})  # with its image pools
    for name in LOSSES.names():
        model = tiny(LOSS_MODEL[name])["model"] if name in LOSS_MODEL else SMALL
        n_critic = min(ExperimentSpec(loss={"name": name}).loss.n_critic, 2)  # WGAN's 5 critics: 2 suffice
        found[f"loss-{name}"] = {"loss": {"name": name, "n_critic": n_critic}, "model": model}
    return {**found, **FEATURES}


class GradientRecorder:
    """Copies the gradients each optimizer is about to apply, keyed '<D|G><update>.<param>'.

    A parameter without a gradient is recorded as None, so that 'no gradient' on one side and
    'a zero gradient' on the other show up as the difference they are for stateful optimizers.
    """

    def __init__(self, modules):
        self.grads: dict[str, torch.Tensor | None] = {}
        for tag, module, optimizer in (("D", modules.D, modules.opt_d), ("G", modules.G, modules.opt_g)):
            names = {id(p): n for n, p in module.named_parameters()}
            optimizer.register_step_pre_hook(partial(self._record, tag, names, itertools.count()))

    def _record(self, tag, names, counter, optimizer, args, kwargs):
        update = next(counter)
        for group in optimizer.param_groups:
            for p in group["params"]:
                grad = None if p.grad is None else p.grad.detach().clone()
                self.grads[f"{tag}{update}.{names[id(p)]}"] = grad


def run_case(document: dict, rank: int, world: int) -> dict:
    """Train one case for STEPS steps as the worker loop does, in float64 (see the module
    docstring); returns its gradients, losses, final states and regularizer names."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # models, latents and random draws: float64
    try:
        return _train_case(document, rank, world)
    finally:
        torch.set_default_dtype(previous)


def _train_case(document: dict, rank: int, world: int) -> dict:
    from ganforge.augment import build_pipeline
    from ganforge.data import build_dataset
    from ganforge.losses import build_loss
    from ganforge.tasks import task_of
    from ganforge.train.batches import BatchStream

    spec = _spec(document, world)
    dataset = build_dataset(spec.data)  # as train/loop.py builds it: data set, preset, seed
    dataset.set_transform(build_pipeline(spec.augment))
    dataset.seed = spec.train.seed
    task = task_of(spec)
    modules = task.build_modules(spec, task.meta(dataset), world)
    step = task.build_step(spec, modules, rank, world)
    recorder = GradientRecorder(modules)
    stream = BatchStream(dataset, spec.per_worker_batch(), spec.train.seed, rank, world)
    stream.seek(0)
    losses = []
    for t in range(STEPS):
        batches = [stream.next() for _ in range(spec.loss.n_critic)]
        losses.append(step([tuple(part.double() if part.is_floating_point() else part for part in batch)
                            for batch in batches], t))
    states = {f"{tag}.{k}": v.detach().clone() for tag, module in (("G", modules.G), ("D", modules.D), ("E", modules.G_ema))
              for k, v in module.state_dict().items()}
    return {"grads": recorder.grads, "losses": losses, "states": states,
            "regularizers": [r.name for r in build_loss(spec.loss)[1]]}


def _rank_main(rank: int, init_file: str, out: str, documents: dict) -> None:
    """One of the two DDP ranks (a spawned process): every case, then rank 0 saves the results."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        results = {name: run_case(document, rank, 2) for name, document in documents.items()}
        if rank == 0:
            torch.save(results, out)
    finally:
        dist.destroy_process_group()


def relative_error(ref: torch.Tensor, other: torch.Tensor, scale: float) -> float:
    """||ref - other|| relative to ||ref||, or to ``scale`` where ref is smaller (values ~0)."""
    ref, other = ref.double(), other.double()
    return float((ref - other).norm() / max(float(ref.norm()), scale, 1e-30))


def gradient_errors(reference: dict, double: dict) -> dict[str, float | str]:
    """Per recorded gradient: its relative error, or a message where only one side has one.

    The scale of a tensor whose true gradient is ~0 is FLOOR x the norm of its whole update.
    """
    grads_1, grads_2 = reference["grads"], double["grads"]
    assert grads_1.keys() == grads_2.keys(), sorted(set(grads_1) ^ set(grads_2))
    errors: dict[str, float | str] = {}
    for update in {key.split(".", 1)[0] for key in grads_1}:
        keys = [k for k in grads_1 if k.split(".", 1)[0] == update]
        total = float(torch.cat([grads_1[k].double().flatten() for k in keys if grads_1[k] is not None]).norm())
        for key in keys:
            a, b = grads_1[key], grads_2[key]
            if (a is None) != (b is None):
                errors[key] = f"{'no' if a is None else 'a'} gradient in 1 process, {'no' if b is None else 'a'} with 2 ranks"
            elif a is not None:
                errors[key] = relative_error(a, b, FLOOR * total)
    return errors


def mismatches(reference: dict, double: dict) -> list[str]:
    """Every gradient, loss and state of the 2-rank run that differs beyond the tolerance."""
    bad = [f"grad {key}: {err if isinstance(err, str) else f'relative error {err:.2e}'}"
           for key, err in gradient_errors(reference, double).items() if isinstance(err, str) or err > RTOL]
    for t, (a, b) in enumerate(zip(reference["losses"], double["losses"])):
        assert a.keys() == b.keys()
        bad += [f"step {t} {k}: {a[k]:.6g} vs {b[k]:.6g}" for k in a
                if abs(a[k] - b[k]) > RTOL * max(abs(a[k]), 1e-3)]
    for key, a in reference["states"].items():
        b = double["states"][key]
        if not a.is_floating_point():
            bad += [] if torch.equal(a, b) else [f"state {key}: {a.tolist()} vs {b.tolist()}"]
        elif (err := relative_error(a, b, STATE_FLOOR)) > RTOL:
            bad.append(f"state {key}: relative error {err:.2e}")
    return bad


def worst_error(reference: dict, double: dict) -> float:
    """The largest relative gradient error of a case (printed: the margin to RTOL)."""
    return max((e for e in gradient_errors(reference, double).values() if not isinstance(e, str)), default=0.0)


@pytest.fixture
def bsa_source(tmp_path):
    """A tiny SNGAN source checkpoint (32 px, 1 channel), as the adaptation unit tests save one."""
    from adapt_sources import save_source

    return str(save_source(tmp_path / "source"))


def with_source(documents: dict, source: str) -> dict:
    """The cases with an adapt: section pointed at ``source``."""
    return {name: {**document, "adapt": {**document["adapt"], "source": source}} if "adapt" in document else document
            for name, document in documents.items()}


def test_two_ranks_compute_what_one_process_computes_on_the_double_batch(tmp_path, bsa_source):
    from ganforge.losses import LOSSES, REGULARIZERS

    documents = with_source(cases(), bsa_source)
    context = mp.spawn(_rank_main, args=(str(tmp_path / "pg"), str(tmp_path / "double.pt"), documents),
                       nprocs=2, join=False)
    reference = {name: run_case(document, 0, 1) for name, document in documents.items()}
    while not context.join():
        pass
    double = torch.load(tmp_path / "double.pt", weights_only=True)

    covered = {name for case in reference.values() for name in case["regularizers"]}
    assert covered == set(REGULARIZERS.names()), f"no case runs {set(REGULARIZERS.names()) - covered}"
    assert {f"loss-{name}" for name in LOSSES.names()} <= set(reference)
    failures = {name: bad for name in documents if (bad := mismatches(reference[name], double[name]))}
    assert not failures, "\n".join(f"{name}: {bad[:5]}" for name, bad in failures.items())
    # Not a vacuous comparison: every case's D and G updates had gradients to compare.
    for name, case in reference.items():
        for tag in ("G0",) if name in G_ONLY else ("D0", "G0"):
            assert any(g is not None and g.abs().sum() > 0 for k, g in case["grads"].items() if k.startswith(tag + ".")), name
    print({name: f"{worst_error(reference[name], double[name]):.1e}" for name in documents})  # the margin to RTOL
