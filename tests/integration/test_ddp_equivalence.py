"""One update with 2 Ray Train workers x batch B equals one update with 1 worker x batch 2B.

For every loss (gradient penalty included), R1, spectral norm on, BatchNorm in G and D
(cross-replica under DDP), class conditioning and DiffAugment, and every zoo family (SNGAN,
BigGAN with attention and orthogonal regularisation, minibatch discrimination over the global
batch, StyleGAN-lite, RealnessGAN, FastGAN's decoders, InfoGAN's Q head): parameters after two
steps are allclose. Two TorchTrainer fits (1 and 2 workers) run all cases, to pay Ray's start-up once.
"""
from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.integration

SMALL = {"ngf": 8, "ndf": 8}
CASES = {
    "non-saturating-bn": {"loss": {"name": "non-saturating"}, "model": {"options": SMALL}},
    "minimax": {"loss": {"name": "minimax"}, "model": {"options": SMALL}},
    "lsgan-cond": {"loss": {"name": "lsgan"}, "model": {"conditional": True, "options": SMALL}},
    "hinge-sn": {"loss": {"name": "hinge"},
                 "model": {"options": {**SMALL, "spectral_norm_d": True, "spectral_norm_g": True, "d_norm": "none"}}},
    "wgan-clip": {"loss": {"name": "wgan", "n_critic": 2}, "model": {"options": SMALL}},
    "wgan-gp": {"loss": {"name": "wgan-gp", "n_critic": 2}, "model": {"options": {**SMALL, "d_norm": "layer"}}},
    "r1-diffaugment": {"loss": {"name": "non-saturating", "regularizers": [{"name": "r1", "weight": 1.0}]},
                       "augment": {"diffaugment": "color,translation,cutout"}, "model": {"options": SMALL}},
}
# The zoo at tiny sizes (z_dim 20 splits into BigGAN's chunks); "res" is the image size of a case.
ZOO = {"z_dim": 20}
CASES.update({
    "sngan-cond-hinge": {"res": 32, "loss": {"name": "hinge"},
                         "model": {**ZOO, "name": "sngan", "conditional": True, "options": {"g_ch": 4, "d_ch": 4}}},
    "sngan-minibatch-ralsgan": {"res": 32, "loss": {"name": "ralsgan"},
                                "model": {**ZOO, "name": "sngan", "options": {"g_ch": 2, "d_ch": 2, "minibatch_kernels": 4}}},
    "dcgan-minibatch": {"model": {**ZOO, "options": {**SMALL, "minibatch_kernels": 4, "minibatch_dim": 3}}},
    "biggan-orthogonal": {"res": 32, "loss": {"name": "hinge"},
                          "model": {**ZOO, "name": "biggan", "conditional": True,
                                    "options": {"g_ch": 4, "d_ch": 4, "shared_dim": 8, "attn_res": 16}}},
    "stylegan-lite-r1": {"loss": {"name": "non-saturating", "regularizers": [{"name": "r1", "weight": 1.0}]},
                         "model": {**ZOO, "name": "stylegan-lite", "options": {"ngf": 4, "ndf": 4, "w_dim": 8}}},
    "realnessgan": {"loss": {"name": "realness"},
                    "model": {**ZOO, "name": "realnessgan", "options": {"ngf": 4, "ndf": 4, "num_outcomes": 5}}},
    "fastgan-reconstruction": {"res": 32, "loss": {"name": "hinge"},
                               "model": {**ZOO, "name": "fastgan", "options": {"ngf": 2, "ndf": 2, "sle_ratio": 8,
                                                                               "decoder_res": 16}}},
    "infogan": {"model": {**ZOO, "name": "infogan", "options": {"ngf": 4, "ndf": 4, "n_categories": 3, "n_cont": 2}}},
})
GLOBAL_BATCH = 8
STEPS = 2


def _worker(config):
    import ray.train

    from ganforge.config import ExperimentSpec
    from ganforge.train.setup import build_modules, build_step

    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    torch.set_num_threads(1)
    results = {}
    for name, document in config["cases"].items():
        document = dict(document)
        res = document.pop("res", 16)
        generator = torch.Generator().manual_seed(123)  # the same global batches on every rank
        real = torch.rand(STEPS * 2, GLOBAL_BATCH, 1, res, res, generator=generator) * 2 - 1
        labels = torch.randint(0, 10, (STEPS * 2, GLOBAL_BATCH), generator=generator)
        spec = ExperimentSpec(**document, data={"resolution": res}, train={"batch_size": GLOBAL_BATCH, "ema": 0.9},
                              scaling={"workers": world})
        modules = build_modules(spec, (1, res, res), 10, world)
        step = build_step(spec, modules, rank, world)
        for t in range(STEPS):
            batches = [(real[2 * t + k, rank::world], labels[2 * t + k, rank::world]) for k in range(spec.loss.n_critic)]
            step(batches, t)
        results[name] = {key: value.detach().clone() for key, value in
                         {**{f"G.{k}": v for k, v in modules.G.state_dict().items()},
                          **{f"D.{k}": v for k, v in modules.D.state_dict().items()},
                          **{f"E.{k}": v for k, v in modules.G_ema.state_dict().items()}}.items()}
    if rank == 0:
        torch.save(results, config["out"])


def _fit(workers: int, out):
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer
    import uuid

    TorchTrainer(_worker, train_loop_config={"cases": CASES, "out": str(out)},
                 scaling_config=ScalingConfig(num_workers=workers, resources_per_worker={"CPU": 1}),
                 run_config=RunConfig(name=f"ddp-eq-{uuid.uuid4().hex[:8]}", storage_path=str(out.parent))).fit()
    return torch.load(out, weights_only=True)


def test_two_workers_equal_one_worker_with_double_batch(ray_session, tmp_path):
    single = _fit(1, tmp_path / "single.pt")
    double = _fit(2, tmp_path / "double.pt")
    initial_differs = False
    for case in CASES:
        for key, value in single[case].items():
            other = double[case][key]
            if value.is_floating_point():
                assert torch.allclose(value, other, rtol=1e-4, atol=1e-5), f"{case}: {key} differs " \
                    f"(max abs diff {(value - other).abs().max():.2e})"
            else:
                assert torch.equal(value, other), f"{case}: {key}"
        initial_differs = initial_differs or any(
            not torch.equal(single[case][k], single["minimax"][k]) for k in single[case] if k in single["minimax"])
    assert initial_differs  # the cases really trained different models
