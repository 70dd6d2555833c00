"""The domain classifier behind ``--extractor domain:<data set>``: train once, cache, reuse.

A small CNN is trained with a fixed seed on a labelled data set (the data set's defaults at
32 x 32); its 128-d penultimate activations are the features for FID/KID/PRC/MiFID/KMMD and its
logits give the Inception Score. The trained weights are cached under
``<cache root>/extractors/`` keyed by a hash of the data set, the architecture and the training
settings, written atomically, and loaded with ``weights_only=True``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.metrics import realdata
from ganforge.metrics.cache import atomic_write, cache_dir, content_key
from ganforge.metrics.images import resize_like_training

ARCH_VERSION = 2
RESOLUTION = 32


@dataclass(frozen=True)
class TrainSettings:
    """How the classifier is trained (part of its cache key)."""

    epochs: int = 8
    batch_size: int = 64
    lr: float = 2e-3
    seed: int = 0
    holdout: float = 0.1  # fraction kept aside to report accuracy
    max_images: int = 20000  # caps training time on large data sets


class DomainClassifier(nn.Module):
    """conv16-conv32-conv64 (each ReLU + 2x2 max-pool) -> fc128 ("pool" features) -> fc K (logits)."""

    def __init__(self, channels: int, num_classes: int, width: int = 16, features: int = 128):
        super().__init__()
        self.config = {"channels": channels, "num_classes": num_classes, "width": width, "features": features}
        layers, c_in = [], channels
        for c_out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            c_in = c_out
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(c_in * (RESOLUTION // 8) ** 2, features), nn.ReLU())
        self.head = nn.Linear(features, num_classes)
        # Set after training so real features have unit RMS, like Inception's pool features;
        # keeps KID's polynomial kernel (x.y / d + 1)^3 and FID in familiar ranges.
        self.register_buffer("feature_scale", torch.ones(()))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[-1, 1] images [B, channels, 32, 32] -> (features [B, 128], logits [B, K])."""
        pool = self.body(x)
        return pool * self.feature_scale, self.head(pool)


def classifier_path(name: str, data: dict, dataset, settings: TrainSettings) -> Path:
    """Cache file for the classifier of data set ``name`` (identity: data, arch, settings)."""
    shape = (len(dataset), tuple(dataset.img_shape), dataset.num_classes)
    key = content_key(name, data, shape, ARCH_VERSION, asdict(settings))
    return cache_dir("extractors") / f"domain-{name}-{key}.pt"


def _split(length: int, settings: TrainSettings) -> tuple[list[int], list[int]]:
    order = torch.randperm(length, generator=torch.Generator().manual_seed(settings.seed)).tolist()
    order = order[: settings.max_images]
    cut = int(len(order) * (1 - settings.holdout))
    return order[:cut], order[cut:]


def _load_all(dataset, indices: list[int], channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The images (resized / quantised as at feature time) and labels at ``indices``."""
    batches = list(realdata.image_batches(dataset, indices, 512))
    images = torch.cat([resize_like_training(images, channels, RESOLUTION) for images, _ in batches])
    return images, torch.cat([labels for _, labels in batches])


def train_classifier(dataset, settings: TrainSettings = TrainSettings()) -> tuple[DomainClassifier, float]:
    """Train a :class:`DomainClassifier` on ``dataset``; returns it (eval mode) and hold-out accuracy.

    Runs inside ``torch.random.fork_rng``: training the extractor during a training run's first
    evaluation must not move the run's global RNG (exact resume, identical DDP ranks).
    """
    if not getattr(dataset, "num_classes", 0):
        raise ValueError("a domain extractor needs a labelled data set (num_classes > 0)")
    channels = dataset.img_shape[0]
    train_idx, held_idx = _split(len(dataset), settings)
    x, y = _load_all(dataset, train_idx, channels)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        net = DomainClassifier(channels, dataset.num_classes)
        _fit(net, x, y, settings)
    _calibrate_scale(net, x)
    return net, _accuracy(net, *_load_all(dataset, held_idx, channels)) if held_idx else float("nan")


def _fit(net: DomainClassifier, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings) -> None:
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    shuffler = torch.Generator().manual_seed(settings.seed)
    for _ in range(settings.epochs):
        for batch in torch.randperm(len(x), generator=shuffler).split(settings.batch_size):
            loss = F.cross_entropy(net(x[batch])[1], y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    net.eval()


@torch.no_grad()
def _calibrate_scale(net: DomainClassifier, x: torch.Tensor) -> None:
    net.feature_scale.fill_(1.0)
    rms = torch.cat([net(batch)[0] for batch in x.split(512)]).square().mean().sqrt()
    net.feature_scale.fill_(1.0 / float(rms.clamp_min(1e-12)))


@torch.no_grad()
def _accuracy(net: DomainClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((net(x)[1].argmax(1) == y).float().mean())


def save_classifier(net: DomainClassifier, path: Path, meta: dict) -> Path:
    """Atomically write the classifier's config, state dict and ``meta`` (plain values)."""
    payload = {"config": net.config, "state_dict": net.state_dict(), "meta": meta}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_classifier(path: str | Path) -> tuple[DomainClassifier, dict]:
    """Rebuild a saved classifier (no unpickling of code) and return it with its meta."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    # Building the net draws its (overwritten) initial weights from torch's global RNG: a fork
    # keeps a training run's RNG where it was, so a resumed run loading it again stays exact.
    with torch.random.fork_rng(devices=[]):
        net = DomainClassifier(**payload["config"])
    net.load_state_dict(payload["state_dict"])
    return net.eval().requires_grad_(False), payload["meta"]


def ensure_classifier(name: str, base_spec=None, settings: TrainSettings = TrainSettings(),
                      dataset=None, data: dict | None = None) -> Path:
    """Path of the cached classifier for data set ``name``, training it first if absent.

    ``dataset``/``data`` (the data set and its spec dict) replace the canonical data set; tests
    use them to train on a small stand-in.
    """
    if dataset is None:
        dataset, data = realdata.canonical_dataset(name, base_spec)
    path = classifier_path(name, data or {}, dataset, settings)
    if not path.is_file():
        net, accuracy = train_classifier(dataset, settings)
        save_classifier(net, path, {"data_set": name, "holdout_accuracy": accuracy, "images": len(dataset)})
    return path
