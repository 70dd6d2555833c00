"""CycleGAN's step alone (tasks/unpaired_step.py) on tiny real modules: the terms it logs against
hand computations (LSGAN both ways, cycle, identity, D on the pooled translations), which
parameters each update moves, a weight of 0 leaving its term (or D) out, and bad setups refused."""
from __future__ import annotations

import pytest
import torch

from ganforge.losses import LOSSES
from ganforge.models.cyclegan import CycleDiscriminator, CycleGANOptions, CycleGenerator
from ganforge.tasks.unpaired_step import UnpairedConfig, UnpairedStep, add_pools
from ganforge.train.step import GanModules

pytestmark = pytest.mark.unit

OPTS = CycleGANOptions(ngf=2, ndf=2, n_blocks=1, n_layers_d=1, pool_size=0)
SHAPE = (1, 8, 8)


def modules(shape_b=SHAPE, pool_size: int = 0, lr: float = 0.1) -> GanModules:
    torch.manual_seed(0)
    G, D = CycleGenerator(SHAPE, shape_b, OPTS), CycleDiscriminator(SHAPE, shape_b, OPTS)
    opt_g, opt_d = torch.optim.SGD(G.parameters(), lr=lr), torch.optim.SGD(D.parameters(), lr=lr)
    const = lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)  # noqa: E731
    return add_pools(GanModules(G, D, None, opt_g, opt_d, const(opt_g), const(opt_d)), pool_size)


def domains(n: int = 4, channels_b: int = 1):
    generator = torch.Generator().manual_seed(1)
    a = torch.rand(n, 1, 8, 8, generator=generator) * 2 - 1
    b = torch.rand(n, channels_b, 8, 8, generator=generator) * 2 - 1
    return a, b


def step_for(m, weights: dict) -> UnpairedStep:
    return UnpairedStep(m, LOSSES.get("lsgan")(), UnpairedConfig(weights))


def params(module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_every_term_is_the_weighted_loss_computed_by_hand():
    m = modules()
    a, b = domains()
    with torch.no_grad():  # before the step: what its one forward sees
        G_AB, G_BA, D_A, D_B = m.G.G_AB, m.G.G_BA, m.D.D_A, m.D.D_B
        fake_b, fake_a = G_AB(a), G_BA(b)
        want = {
            "g_ab_loss": 2.0 * 0.5 * ((D_B(fake_b) - 1) ** 2).mean(), "g_ba_loss": 2.0 * 0.5 * ((D_A(fake_a) - 1) ** 2).mean(),
            "g_cycle_a": 10.0 * (G_BA(fake_b) - a).abs().mean(), "g_cycle_b": 10.0 * (G_AB(fake_a) - b).abs().mean(),
            "g_identity_ab": 5.0 * (G_AB(b) - b).abs().mean(), "g_identity_ba": 5.0 * (G_BA(a) - a).abs().mean(),
            # D is updated after G, on the translations of that same forward (pool size 0: as they are)
            "d_a_loss": 0.5 * ((D_A(a) - 1) ** 2).mean() + 0.5 * (D_A(fake_a) ** 2).mean(),
            "d_b_loss": 0.5 * ((D_B(b) - 1) ** 2).mean() + 0.5 * (D_B(fake_b) ** 2).mean(),
        }
    got = step_for(m, {"adversarial": 2.0, "cycle": 10.0, "identity": 5.0})([(a, b)], 0)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(float(value), rel=1e-5), key


def test_one_step_moves_both_generators_and_both_discriminators():
    m = modules(pool_size=2)
    before = {name: params(part) for name, part in (("G_AB", m.G.G_AB), ("G_BA", m.G.G_BA), ("D_A", m.D.D_A), ("D_B", m.D.D_B))}
    step_for(m, {"adversarial": 1.0, "cycle": 10.0, "identity": 5.0})([domains()], 0)
    after = {"G_AB": m.G.G_AB, "G_BA": m.G.G_BA, "D_A": m.D.D_A, "D_B": m.D.D_B}
    for name, module in after.items():
        assert any(not torch.equal(x, y) for x, y in zip(before[name], params(module))), name
    assert len(m.extras["pool_a"]) == len(m.extras["pool_b"]) == 2  # each D's history filled


def test_the_discriminators_see_the_pooled_translations():
    """A full pool answers partly from its history: d_a_loss is D_A's loss on that answer (drawn
    with the step's seeded draws), not on the fresh translations."""
    import copy

    from ganforge.noise import derive_seed

    m = modules(pool_size=4)
    a, b = domains()
    for name in ("pool_a", "pool_b"):
        m.extras[name].images = torch.full((4, 1, 8, 8), 0.25)
    replica = copy.deepcopy(m.extras["pool_a"])
    with torch.no_grad():
        fake_a = m.G.G_BA(b)
        answer = replica.query(fake_a, torch.Generator().manual_seed(derive_seed(0, 0, "pool_a")))
        want = 0.5 * ((m.D.D_A(a) - 1) ** 2).mean() + 0.5 * (m.D.D_A(answer) ** 2).mean()
        fresh = 0.5 * ((m.D.D_A(a) - 1) ** 2).mean() + 0.5 * (m.D.D_A(fake_a) ** 2).mean()
    from_history = (answer == 0.25).flatten(1).all(1)
    assert from_history.any() and not from_history.all()  # both branches of the pool at this seed
    got = step_for(m, {"adversarial": 1.0})([(a, b)], 0)
    assert got["d_a_loss"] == pytest.approx(float(want), rel=1e-5) and float(want) != pytest.approx(float(fresh))
    assert torch.equal(m.extras["pool_a"].images, replica.images)  # and the pool was updated as the replica


def test_without_an_adversarial_term_d_is_never_updated_and_a_zero_weight_drops_its_term():
    m = modules()
    d_before = params(m.D)
    got = step_for(m, {"adversarial": 0.0, "cycle": 10.0, "identity": 0.0})([domains()], 0)
    assert set(got) == {"g_cycle_a", "g_cycle_b"}
    assert all(torch.equal(x, y) for x, y in zip(d_before, params(m.D)))


def test_identity_needs_domains_of_the_same_channels():
    with pytest.raises(ValueError, match=r"A has 1, B 3.*loss.weights.identity: 0"):
        step_for(modules(shape_b=(3, 8, 8)), {"identity": 5.0})
    m = modules(shape_b=(3, 8, 8))
    got = step_for(m, {"adversarial": 1.0, "cycle": 10.0})([domains(channels_b=3)], 0)  # grey <-> colour works
    assert "g_cycle_b" in got


def test_bad_weights_and_several_batches_are_refused():
    with pytest.raises(ValueError, match="unknown term"):
        step_for(modules(), {"l1": 1.0})
    with pytest.raises(ValueError, match="one \\(a, b\\) batch"):
        step_for(modules(), {"cycle": 1.0})([domains(), domains()], 0)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_train_precision_reaches_the_step(precision):
    """bf16/fp16 autocast (train/precision.py) runs the step's forwards in that dtype with finite
    terms; fp16 registers its loss scalers as checkpoint extras, as the generate step does."""
    from ganforge.config import ExperimentSpec
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of

    spec = ExperimentSpec(data={"name": "digits-inverted", "resolution": 8, "limit": 8}, train={"precision": precision},
                          model={"name": "cyclegan", "options": {"ngf": 2, "ndf": 2, "n_blocks": 1, "n_layers_d": 1}})
    task = task_of(spec)
    m = task.build_modules(spec, task.meta(build_dataset(spec.data)))
    step = task.build_step(spec, m)
    got = step([domains()], 0)
    assert all(torch.isfinite(torch.tensor(v)) for v in got.values())
    assert m.extras["pool_b"].images.dtype == (torch.bfloat16 if precision == "bf16" else torch.float16)  # autocast's
    assert ("grad_scaler_g" in m.extras) == (precision == "fp16")
