"""What the monitors look at, computed lazily and at most once per check (rank 0).

``Probe`` holds what stays fixed over a run (a batch of training reals and a held-out batch, both
without augmentation; the fixed-seed latents of the sample batch) and, per check, computes only
what an enabled monitor asks for: r_t from the step's sign meter, D's gap, the sample batch's
features through the evaluation's extractor, the real features the evaluation already cached.
Nothing here changes training state: D and G run in eval mode under no_grad, and every random
draw has its own seeded generator, so a monitored run trains exactly as an unmonitored one.
"""
from __future__ import annotations

from typing import Callable

import torch

from ganforge.noise import derive_seed


def heldout_images(data_spec, n: int):
    """(training images, held-out images) of ``n`` each for D's gap, or None without held-out data.

    Held out: the images just past ``data.limit`` (a run on the first N images of a larger set),
    else None (the data set has no images the run does not train on).
    """
    from ganforge.metrics.realdata import build_real_dataset, image_batches

    if data_spec.limit is None or n < 1:
        return None
    wider = build_real_dataset(data_spec.model_copy(update={"limit": data_spec.limit + n}))
    if len(wider) <= data_spec.limit:
        return None
    start = data_spec.limit
    held = next(image_batches(wider, list(range(start, len(wider))), n))
    train = next(image_batches(wider, list(range(min(n, start))), n))
    return train, held


class Tap:
    """Keeps the extractor features of the generated images of an Evaluator's last call, so the
    monitors read the evaluation's own fixed-seed samples instead of extracting a batch again.

    It wraps two of the Evaluator's fields: its ``sampler`` (to know which image batches are
    generated) and its ``extractor`` (to keep the features of just those batches; real images
    pass through unrecorded). Everything else is delegated to the wrapped extractor.
    """

    def __init__(self, evaluator):
        from ganforge.metrics.evaluation import default_sampler

        self.inner_sampler = evaluator.sampler or default_sampler()
        self.inner = evaluator.extractor
        self.generated: set[int] = set()
        self.chunks: list[dict[str, torch.Tensor]] = []
        evaluator.sampler, evaluator.extractor = self.sample, _TappedExtractor(self)

    def sample(self, *args, **kwargs) -> torch.Tensor:
        """The evaluator's sampler; remembers which tensors it made."""
        images = self.inner_sampler(*args, **kwargs)
        self.generated.add(id(images))
        return images

    def take(self) -> dict[str, torch.Tensor] | None:
        """The generated images' features recorded since the last take, or None."""
        chunks, self.chunks, self.generated = self.chunks, [], set()
        return {key: torch.cat([c[key] for c in chunks]) for key in chunks[0]} if chunks else None


class _TappedExtractor:
    """The evaluator's extractor as seen through a Tap."""

    def __init__(self, tap: Tap):
        self._tap = tap

    def features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        out = self._tap.inner.features(images)
        if id(images) in self._tap.generated:
            self._tap.chunks.append({key: value.detach() for key, value in out.items()})
        return out

    def __getattr__(self, name: str):
        return getattr(self._tap.inner, name)


class Probe:
    """Lazy observations for one run's monitors."""

    def __init__(self, spec, modules, meta: dict, device, meter=None,
                 evaluator: Callable[[], object] | None = None, sampler=None):
        self.spec, self.modules, self.device, self.meter = spec, modules, torch.device(device), meter
        self.num_classes = int(meta.get("num_classes", 0) or 0)
        self.evaluator = evaluator  # () -> the run's Evaluator (built on first use), or None
        self.sampler = sampler  # (generator, n, seed) -> images; default ganforge.sampling.sample_images
        self._pairs = None  # (train, held-out) batches, loaded on the first gap check
        self.tap: Tap | None = None  # the evaluation's own sample features, once tapped
        self._real = None
        self.evaluation: dict | None = None
        self._memo: dict[str, object] = {}

    def at(self, evaluation: dict | None = None) -> "Probe":
        """Start a check (forgets the last check's observations)."""
        self.evaluation, self._memo = evaluation, {}
        taken = self.tap.take() if evaluation is not None and self.tap is not None else None
        if taken is not None:
            self._memo["samples"] = taken
        return self

    def watch_evaluator(self, evaluator) -> None:
        """Read the sample features of ``evaluator``'s calls (its fixed latents, its n) from now on."""
        if self.tap is None and getattr(evaluator, "extractor", None) is not None:
            self.tap = Tap(evaluator)

    def _once(self, name: str, compute: Callable[[], object]):
        if name not in self._memo:
            self._memo[name] = compute()
        return self._memo[name]

    def r_t(self) -> float | None:
        """E[sign D(real)] over the D updates since the last check (this rank's reals)."""
        def compute():
            if self.meter is None or float(self.meter.count) == 0:
                return None
            return self.meter.take(world=1)[0]
        return self._once("r_t", compute)

    @torch.no_grad()
    def _mean_logit(self, images: torch.Tensor, labels: torch.Tensor | None) -> float:
        from ganforge.losses import logits_of
        from ganforge.metrics.evaluation import eval_mode

        y = labels.to(self.device) if labels is not None and getattr(self.modules.G, "num_classes", 0) else None
        with eval_mode(self.modules.D) as D:
            return float(logits_of(D(images.to(self.device), y)).float().mean())

    @torch.no_grad()
    def _fakes(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """G's (not the EMA's: D is trained against G) images from fixed latents, with their labels."""
        from ganforge.metrics.evaluation import eval_mode

        G = self.modules.G
        generator = torch.Generator().manual_seed(derive_seed(self.spec.train.seed, "monitor-fakes"))
        z = torch.randn(n, G.z_dim, generator=generator).to(self.device)
        y = torch.arange(n, device=self.device) % G.num_classes if getattr(G, "num_classes", 0) else None
        with eval_mode(G):
            return G(z, y), y

    def d_gap(self) -> float | None:
        """Where held-out reals sit between training reals (0) and fakes (1) in D's mean logit:
        (E D(train) - E D(held-out)) / (E D(train) - E D(fake)). None without held-out data, or while
        D scores fakes at least as high as training reals."""
        def compute():
            if self._pairs is None:
                self._pairs = heldout_images(self.spec.data, self.spec.monitors.heldout) or ()
            if not self._pairs:
                return None
            (train, y_train), (held, y_held) = self._pairs
            on_train, on_held = self._mean_logit(train, y_train), self._mean_logit(held, y_held)
            on_fake = self._mean_logit(*self._fakes(len(train)))
            if on_train <= on_fake:  # D does not yet tell training reals from fakes: no verdict
                return None
            return (on_train - on_held) / (on_train - on_fake)
        return self._once("d_gap", compute)

    def _extractor(self):
        evaluator = self.evaluator() if self.evaluator else None
        return evaluator, getattr(evaluator, "extractor", None)

    def samples(self) -> dict[str, torch.Tensor] | None:
        """Extractor features of a fixed-seed sample batch: the evaluation's own when tapped, else
        ``monitors.samples`` images from fixed latents of the probe's (the same every check)."""
        def compute():
            _, extractor = self._extractor()
            if extractor is None:
                return None
            from ganforge.metrics.evaluation import eval_mode
            from ganforge.train.setup import sampling_generator

            sampler = self.sampler or _sample_images
            seed = derive_seed(self.spec.train.seed, "monitor-samples")
            with eval_mode(sampling_generator(self.modules)) as generator:
                images = sampler(generator, self.spec.monitors.samples, seed)
            return extractor.features(images)
        return self._once("samples", compute)

    def real_pool(self) -> torch.Tensor | None:
        """The real images' pool features the evaluation uses (its cache), else as many as the samples."""
        if self._real is None:
            evaluator, extractor = self._extractor()
            if extractor is None:
                return None
            stats = evaluator.real_stats()
            self._real = stats.features if stats is not None else _real_features(evaluator, self.spec.monitors.samples)
        return self._real


def _sample_images(generator, n: int, seed: int) -> torch.Tensor:
    from ganforge.sampling import sample_images

    return sample_images(generator, n, seed=seed)


def _real_features(evaluator, n: int) -> torch.Tensor:
    from ganforge.metrics.realdata import image_batches, subset_indices

    indices = subset_indices(len(evaluator.dataset), n)
    return torch.cat([evaluator.extractor.features(images)["pool"]
                      for images, _ in image_batches(evaluator.dataset, indices, evaluator.batch_size)])
