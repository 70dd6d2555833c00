"""Contract checks every zoo family passes: shapes, range, conditioning, one training step."""
import copy

import pytest
import torch

from ganforge.config import ExperimentSpec, ModelSpec
from ganforge.models import build_models, families
from ganforge.train.setup import build_modules, build_step
from zoo_sizes import TINY, Z, missing_families

pytestmark = pytest.mark.unit

# Every registered family at its tiny size (tests/zoo_sizes.py), plus variants worth their own
# case; (family, options, resolution, loss, regularizers).
EXTRA = [
    ("sngan", {"g_ch": 4, "d_ch": 4}, 32, "hinge", []),
    ("sngan", {"g_ch": 2, "d_ch": 2, "minibatch_kernels": 4, "minibatch_dim": 3}, 64, "ralsgan", []),
    ("biggan", {"g_ch": 4, "d_ch": 4, "shared_dim": 8, "attn_res": 16}, 32, "hinge",
     [{"name": "orthogonal", "weight": 1e-4}]),
    ("biggan", {"g_ch": 2, "d_ch": 2, "shared_dim": 8, "attn_res": 32}, 64, "rasgan", []),
    ("fastgan", {"ngf": 2, "ndf": 2, "sle": False, "decoders": False}, 16, "hinge",
     [{"name": "reconstruction", "weight": 1.0}]),
]
ZOO = [(name, TINY[name]["model"]["options"], TINY[name]["res"], TINY[name]["loss"]["name"],
        TINY[name]["loss"].get("regularizers", [])) for name in families("generate") if name in TINY] + EXTRA
IDS = [f"{name}-{res}-{loss}" for name, _, res, loss, _ in ZOO]
# What conditioning a family accepts; a new family is expected to take both.
UNCONDITIONAL = {"realnessgan", "fastgan", "infogan"}  # infogan: its categorical code is the label
CONDITIONAL_ONLY = {"cgan"}


def test_every_registered_family_has_a_case():
    assert not missing_families(families("generate")), missing_families(families("generate"))
    assert {name for name, *_ in ZOO} == set(families("generate"))


def tiny_spec(name, options, res, loss="hinge", regularizers=(), conditional=False, z_dim=Z):
    """An ExperimentSpec for one tiny CPU training step."""
    return ExperimentSpec(
        data={"name": "digits", "resolution": res},
        model={"name": name, "z_dim": z_dim, "conditional": conditional, "options": options},
        loss={"name": loss, "regularizers": list(regularizers)},
        train={"steps": 2, "batch_size": 4, "ema": 0.9},
    )


@pytest.mark.parametrize("name,options,res,loss,regs", ZOO, ids=IDS)
@pytest.mark.parametrize("conditional", [False, True])
def test_shapes_range_and_conditioning(name, options, res, loss, regs, conditional):
    spec = ModelSpec(name=name, z_dim=Z, conditional=conditional, options=options)
    if (conditional and name in UNCONDITIONAL) or (not conditional and name in CONDITIONAL_ONLY):
        with pytest.raises(ValueError, match="unconditional.*set model.conditional=false|needs class labels"):
            build_models(spec, (3, res, res), 10)  # the clear error, not a half-built model
        return
    torch.manual_seed(0)
    G, D = build_models(spec, (3, res, res), 10)
    z = torch.randn(4, G.z_dim)
    # Labels whenever G has classes (InfoGAN's categorical code is its label, conditional or not).
    y = torch.tensor([0, 1, 2, 3]) % G.num_classes if G.num_classes else None
    images = G(z, y)
    assert images.shape == (4, 3, res, res) and images.abs().max() <= 1
    assert G.z_dim >= Z and G.img_shape == (3, res, res) and (G.num_classes == 10) == conditional
    out = D(images, y if conditional else None)
    assert getattr(out, "logits", out).shape == (4,)
    if conditional:
        G.eval()
        other = torch.tensor([5, 6, 7, 8])
        assert not torch.allclose(G(z, y), G(z, other))
        assert not torch.allclose(getattr(D(images, y), "logits", D(images, y)),
                                  getattr(D(images, other), "logits", D(images, other)))
        with pytest.raises(ValueError, match="conditional"):
            G(z)


@pytest.mark.parametrize("name,options,res,loss,regs", ZOO, ids=IDS)
def test_one_training_step_changes_parameters(name, options, res, loss, regs):
    spec = tiny_spec(name, options, res, loss, regs, conditional=name not in UNCONDITIONAL)
    modules = build_modules(spec, (3, res, res), 10)
    step = build_step(spec, modules)
    labels = torch.tensor([0, 1, 2, 3]) % max(step.num_classes, 1)
    before_g = copy.deepcopy(modules.G.state_dict())
    before_d = copy.deepcopy(modules.D.state_dict())
    real = torch.rand(4, 3, res, res) * 2 - 1
    metrics = step([(real, labels)], 0)
    assert metrics and all(torch.isfinite(torch.tensor(v)) for v in metrics.values()), metrics
    for before, module in ((before_g, modules.G), (before_d, modules.D)):
        after = module.state_dict()
        assert any(not torch.equal(before[k], after[k]) for k in before if before[k].is_floating_point())


@pytest.mark.parametrize("family, regularizer, weight", [("biggan", "orthogonal", 1e-4), ("fastgan", "reconstruction", 1.0),
                                                         ("infogan", "info", 1.0)])
def test_a_family_adds_the_regularizer_it_is_defined_by(family, regularizer, weight):
    spec = ExperimentSpec(data={"name": "digits"}, model={"name": family},
                          loss={"regularizers": [{"name": "r1", "weight": 2.0}]})
    assert [(r.name, r.weight) for r in spec.loss.regularizers] == [("r1", 2.0), (regularizer, weight)]
    from ganforge.losses import build_loss

    assert [r.name for r in build_loss(spec.loss)[1]] == ["r1", regularizer]
