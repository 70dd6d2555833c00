"""One tiny, CPU-cheap configuration per registered model family, shared by the tests that loop
over the models registry (DDP equivalence, the zoo contract tests).

``TINY[family]`` is a partial spec (model, loss, data resolution) that trains a step in well under
a second. ``missing_families()`` names registered families without an entry, so a family added
to the registry without a tiny size fails those tests with a message saying what to add here.
"""
from __future__ import annotations

Z = 20  # divisible into BigGAN's 4 (32 px) and 5 (64 px) latent chunks

TINY: dict[str, dict] = {
    "biggan": {"res": 32, "loss": {"name": "hinge"},
               "model": {"z_dim": Z, "conditional": True,
                         "options": {"g_ch": 4, "d_ch": 4, "shared_dim": 8, "attn_res": 16}}},
    "cgan": {"res": 16, "loss": {"name": "lsgan"},
             "model": {"z_dim": Z, "conditional": True, "options": {"g_hidden": [32], "d_hidden": [32]}}},
    "dcgan": {"res": 16, "loss": {"name": "non-saturating"},
              "model": {"z_dim": Z, "options": {"ngf": 4, "ndf": 4, "minibatch_kernels": 4, "minibatch_dim": 3}}},
    "fastgan": {"res": 32, "loss": {"name": "hinge"},
                "model": {"z_dim": Z, "options": {"ngf": 2, "ndf": 2, "sle_ratio": 8, "decoder_res": 16}}},
    "gan": {"res": 16, "loss": {"name": "minimax"},
            "model": {"z_dim": Z, "options": {"g_hidden": [32], "d_hidden": [32]}}},
    "infogan": {"res": 16, "loss": {"name": "non-saturating"},
                "model": {"z_dim": Z, "options": {"ngf": 4, "ndf": 4, "n_categories": 3, "n_cont": 2, "q_hidden": 8}}},
    "realnessgan": {"res": 16, "loss": {"name": "realness"},
                    "model": {"z_dim": Z, "options": {"ngf": 4, "ndf": 4, "num_outcomes": 5}}},
    "sngan": {"res": 32, "loss": {"name": "ralsgan"},
              "model": {"z_dim": Z, "options": {"g_ch": 2, "d_ch": 2, "minibatch_kernels": 4}}},
    "stylegan-lite": {"res": 16, "loss": {"name": "non-saturating", "regularizers": [{"name": "r1", "weight": 1.0}]},
                      "model": {"z_dim": Z, "options": {"ngf": 4, "ndf": 4, "w_dim": 8, "mapping_layers": 2}}},
}


def tiny(family: str) -> dict:
    """TINY[family] as a partial spec document, with ``model.name`` set to the family."""
    document = dict(TINY[family])
    document["model"] = {"name": family, **document["model"]}
    return document


def missing_families(names) -> str:
    """'' when every family in ``names`` has a TINY entry, else a message naming the others."""
    missing = sorted(set(names) - set(TINY))
    return f"add a tiny configuration to tests/zoo_sizes.py TINY for: {', '.join(missing)}" if missing else ""


# Paired (image-to-image) families: a whole partial spec each, data included (their data sets
# differ). Dropout off: pix2pix's dropout masks come from torch's global RNG, which 2 ranks draw
# differently from 1 process (exact resume still covers it: the RNG is in the checkpoint).
PAIRED_TINY: dict[str, dict] = {
    "pix2pix": {"data": {"name": "silhouettes", "resolution": 32, "options": {"source": "digits"}},
                "model": {"name": "pix2pix", "options": {"ngf": 4, "ndf": 4, "dropout": 0.0}}},
    "srresnet": {"data": {"name": "sr", "resolution": 16, "options": {"source": "digits", "scale": 2}},
                 "model": {"name": "srresnet", "options": {"n_blocks": 1, "ngf": 8, "ndf": 8, "dense": 16}},
                 "loss": {"weights": {"adversarial": 1e-3}}},  # SRResNet trains no D: give it one to compare
    "srgan": {"data": {"name": "sr", "resolution": 16, "options": {"source": "digits", "scale": 2}},
              "model": {"name": "srgan", "options": {"n_blocks": 1, "ngf": 8, "ndf": 8, "dense": 16}},
              "loss": {"weights": {"content": 0.0, "mse": 1.0}}},  # content's Inception is costly; the term is unit-tested
}


def missing_paired(names) -> str:
    """'' when every paired family in ``names`` has a PAIRED_TINY entry, else what to add."""
    missing = sorted(set(names) - set(PAIRED_TINY))
    return f"add a tiny configuration to tests/zoo_sizes.py PAIRED_TINY for: {', '.join(missing)}" if missing else ""


# Unpaired (two-domain) families: a whole partial spec each. A pool smaller than the global batch
# (8), so the second step already answers D from the pool's history.
UNPAIRED_TINY: dict[str, dict] = {
    "cyclegan": {"task": "unpaired", "data": {"name": "digits-inverted", "resolution": 16},
                 "model": {"name": "cyclegan", "options": {"ngf": 4, "ndf": 4, "n_blocks": 1, "n_layers_d": 2,
                                                           "pool_size": 4}}},
}


def missing_unpaired(names) -> str:
    """'' when every unpaired family in ``names`` has an UNPAIRED_TINY entry, else what to add."""
    missing = sorted(set(names) - set(UNPAIRED_TINY))
    return f"add a tiny configuration to tests/zoo_sizes.py UNPAIRED_TINY for: {', '.join(missing)}" if missing else ""
