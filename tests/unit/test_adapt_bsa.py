"""Batch-statistics adaptation (issue 14), in process on tiny SNGAN/BigGAN sources: only the
scale/shift parameters and the per-image latents learn (BigGAN: also its conditional-BN
projections), every other pretrained weight and statistic stays bit-identical; the reconstruction
loss falls on a fixed batch; the EMD and gamma/beta terms against hand computations; the adapted
generator rebuilt from its own file (without the source) gives the same images."""
from __future__ import annotations

import pytest
import torch

from adapt_sources import FAMILIES, adapt_spec, build, save_source

pytestmark = pytest.mark.unit


def source_key(name: str) -> str:
    """The source's own name of an adapted generator's entry (the BSA wrappers add ``inner.``)."""
    return name.removeprefix("source.").replace("inner.", "")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_only_the_bsa_parameters_learn_and_the_pretrained_ones_stay_bit_identical(tmp_path, family):
    from ganforge.train.checkpoint import load_checkpoint

    spec = adapt_spec(save_source(tmp_path, family))
    _, _, modules, step = build(spec)
    G = modules.G
    before = {name: value.clone() for name, value in G.state_dict().items()}
    trained = {name for name, p in G.named_parameters() if p.requires_grad}
    for index in range(3):
        step([], index)
    grads = {name for name, p in G.named_parameters() if p.grad is not None}
    assert grads == trained
    names = {name for name, _ in G.named_parameters()}
    expected = {"latents"} | {n for n in names if n.endswith((".adapt.gamma", ".adapt.beta"))}
    if family == "biggan":  # the conditional-BN projections, and the class map replacing the embedding
        expected |= {n for n in names if ".gain." in n or ".bias.parametrizations" in n} | {"source.shared.weight"}
    assert trained == expected
    state = G.state_dict()
    source = load_checkpoint(tmp_path)["G"]
    for name, value in state.items():
        if name not in trained and source_key(name) in source:  # weights AND BatchNorm statistics
            assert torch.equal(value, source[source_key(name)]), name
    assert all(not torch.equal(state[name], before[name]) for name in trained), "every trained parameter moved"
    assert set(source) <= {source_key(n) for n in state}  # nothing of the source was dropped
    if family == "biggan":  # the class embedding [classes, dim] became one learnt vector [dim]
        assert source["shared.weight"].shape == (10, 4) and state["source.shared.weight"].shape == (4,)


def test_the_reconstruction_loss_falls_on_a_fixed_batch(tmp_path):
    spec = adapt_spec(save_source(tmp_path), images=4, settings={"emd": 0.0, "regulariser": 0.0})
    *_, step = build(spec)
    losses = [step([], index)["g_l1"] for index in range(15)]
    assert losses[-1] < 0.8 * losses[0], losses


def test_the_emd_term_is_the_reference_chamfer_distance_by_hand():
    from ganforge.adapt.bsa_losses import emd_to_normal

    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    reference = torch.tensor([[0.0, 1.0], [2.0, 2.0], [0.0, 0.0]])
    # squared distances z x reference: [[1, 8, 0], [1, 2, 2]]
    nearest_z = (1 + 2 + 0) / 3  # each reference point to its nearest latent
    nearest_reference = (0 + 1) / 2  # each latent to its nearest reference point
    assert emd_to_normal(z, reference).item() == pytest.approx(nearest_z + nearest_reference)


def test_the_regulariser_pulls_gamma_to_one_beta_to_zero_by_hand(tmp_path):
    from ganforge.adapt.bsa_layers import ConstantEmbedding, ScaleShift

    _, _, modules, _ = build(adapt_spec(save_source(tmp_path, "biggan")))
    G = modules.G
    expected = 0.0
    with torch.no_grad():
        for index, module in enumerate(G.adapters()):
            if isinstance(module, ScaleShift):
                module.gamma.fill_(1.0 + 0.1 * (index + 1))
                module.beta.fill_(-0.2)
                expected += (0.1 * (index + 1)) ** 2 + 0.04
            else:
                assert isinstance(module, ConstantEmbedding)
                module.weight.fill_(0.5)
                expected += 0.25
    assert G.regulariser().item() == pytest.approx(expected)


def test_the_adapted_generator_is_rebuilt_from_its_own_file_without_the_source(tmp_path):
    from ganforge.sampling import generator_from_payload, sample_images
    from ganforge.train.checkpoint import generator_state

    spec = adapt_spec(save_source(tmp_path / "src", "sngan") if (tmp_path / "src").mkdir() is None else None)
    task, meta, modules, step = build(spec)
    for index in range(2):
        step([], index)
    payload = generator_state(modules.G, spec.to_dict(), meta, 2)
    (tmp_path / "src" / "checkpoint.pt").unlink()  # the source is gone: the file alone rebuilds it
    rebuilt = generator_from_payload(payload)
    assert (rebuilt.z_dim, rebuilt.num_classes, rebuilt.img_shape) == (16, 0, (1, 32, 32))
    assert torch.equal(sample_images(rebuilt, 4, seed=3), sample_images(modules.G.eval(), 4, seed=3))
    assert torch.equal(rebuilt.reconstruct(torch.arange(2)), modules.G.reconstruct(torch.arange(2)))
