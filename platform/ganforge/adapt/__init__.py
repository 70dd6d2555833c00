"""Few-shot adaptation of a trained generator (the ``adapt`` task, tasks/adapt.py).

Each method is a registry entry (``ADAPT_METHODS``) that turns the source's pretrained G (and D)
into the modules the shared worker loop trains, and supplies the step:

- ``bsa``: batch-statistics adaptation (Noguchi & Harada 2019): every pretrained weight frozen,
  only normalisation scale/shift parameters and one latent per training image learn, from a
  reconstruction loss (adapt/bsa.py);
- ``finetune``: G and D trained adversarially on the few images (TransferGAN, Wang et al. 2018);
- ``freezed``: fine-tuning with D's lower layers frozen (FreezeD, Mo et al. 2020) (adapt/finetune.py).
"""
from __future__ import annotations

from ganforge.autoload import import_submodules
from ganforge.registry import Registry

ADAPT_METHODS: Registry = Registry("adaptation method")

import_submodules(__name__)
