"""KMMD as R kernlab's ``kmmd`` computes it, repeated over subsets: the form of the
BigGAN-vs-SNGAN small-data report's tables (metric ``kmmd_gauss``).

Definition followed (kernlab, R/kmmd.R by A. Karatzoglou: ``kmmd``, ``.submmd`` and
``.submmd3bound``; Gretton, Borgwardt, Rasch, Schoelkopf & Smola, "A Kernel Method for the
Two-Sample-Problem", NIPS 2007). For samples x [m, d] (generated) and y [n, d] (real), M = min(m, n):

- kernel: kernlab's ``rbfdot``, k(a, b) = exp(-sigma |a - b|^2), with ``kpar="automatic"``:
  sigma = ``sigest(rbind(x, y), scaled=FALSE)[2]``, 1 / the median squared distance between rows
  (sigest draws random pairs; here every distinct pair, so the value is reproducible);
- ``mmdstats[1]`` (first order, biased): sqrt(max(0, sum Kxx / m^2 + sum Kyy / n^2 - 2 sum Kxy / (m n)));
- ``mmdstats[2]`` (kernlab's "3rd order" statistic, the unbiased MMD^2_u of the first M rows):
  sum over i != j of (Kxx_ij + Kyy_ij - Kxy_ij - Kxy_ji) / (M (M - 1));
- ``H0`` (rejected) when mmdstats[1] > the Rademacher bound 2 sqrt(R / M) + sqrt(4 R log(1/alpha) / M),
  R the largest kernel diagonal entry (1 for this kernel): a distribution-free, conservative test;
- ``AsympH0`` (rejected) when mmdstats[2] > the asymptotic bound: ``ntimes`` bootstraps, each
  drawing ceil(frac M) rows of x and of y (with replacement by default), shuffling the pooled
  draw into two new samples (each ordered x-origin rows first, as kernlab's block assembly does)
  and computing their mmdstats[2]; the bound lies halfway between the floor(alpha ntimes)-th
  largest and the next (kernlab's ``asymptotic=TRUE``, ``frac=1``, ``replace=TRUE``).

Reported over ``kmmd_gauss_repeats`` random subsets of ``kmmd_gauss_subset_size`` rows of each
sample: the H0 acceptance rates at alpha (``accept_rate`` from the asymptotic test, about 1 - alpha
when the generator matches the data; ``rad_accept_rate`` from the Rademacher bound) and the mean and
median of both statistics. Keys start ``kmmd_gauss_`` (the kernel); the evaluator prefixes the
extractor's tag (metrics/names.py).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch

from ganforge.metrics.base import MetricInputs, metric

PREFIX = "kmmd_gauss_"
CHUNK = 2**24  # kernel entries gathered at once in the bootstrap (memory stays about 128 MB)


@dataclass(frozen=True)
class KmmdResult:
    """One kernlab ``kmmd`` call: its statistics, bounds and the two H0 decisions (True: rejected)."""

    mmd1: float
    mmd3: float
    rademacher_bound: float
    asymptotic_bound: float
    rejected: bool  # kernlab's H0: mmd1 > rademacher_bound
    asymptotic_rejected: bool  # kernlab's AsympH0: mmd3 > asymptotic_bound


def rbf_kernel(z: torch.Tensor, sigma: float | None = None) -> tuple[torch.Tensor, float]:
    """(kernlab rbfdot matrix exp(-sigma |a - b|^2) of the rows of ``z``, sigma); sigma None:
    sigest's median, 1 / median squared distance of distinct rows."""
    squared = torch.cdist(z, z).square()
    if sigma is None:
        off_diagonal = squared[~torch.eye(len(z), dtype=torch.bool)]
        sigma = 1.0 / float(off_diagonal.median().clamp_min(1e-12))
    return torch.exp(-sigma * squared), sigma


def _mmd3(xx: torch.Tensor, yy: torch.Tensor, yx: torch.Tensor) -> torch.Tensor:
    """mmdstats[2] of equal-size blocks [..., M, M] (``yx``: rows y, columns x; its diagonal pairs
    y_i with x_i, as kernlab's ``dg``)."""
    M = xx.shape[-1]
    within = xx.sum((-2, -1)) - xx.diagonal(dim1=-2, dim2=-1).sum(-1) + yy.sum((-2, -1)) - yy.diagonal(dim1=-2, dim2=-1).sum(-1)
    across = yx.sum((-2, -1)) - yx.diagonal(dim1=-2, dim2=-1).sum(-1)
    return (within - 2 * across) / (M * (M - 1))


def submmd(kernel: torch.Tensor, m: int, alpha: float) -> tuple[float, float, float]:
    """kernlab's ``.submmd`` on the pooled kernel matrix of x (rows :m) and y: (mmd1, mmd3, D1)."""
    n = len(kernel) - m
    M = min(m, n)
    kxx, kyy, kxy = kernel[:m, :m], kernel[m:, m:], kernel[:m, m:]
    mmd1 = math.sqrt(max(0.0, float(kxx.sum() / m**2 + kyy.sum() / n**2 - 2 * kxy.sum() / (m * n))))
    mmd3 = float(_mmd3(kxx[:M, :M], kyy[:M, :M], kxy[:M, :M].T))
    R = float(torch.cat([kxx.diagonal()[:M], kyy.diagonal()[:M]]).max())  # kernlab's RM
    bound = 2 * math.sqrt(R / M) + math.sqrt(math.log(1 / alpha) * 4 * R / M)
    return mmd1, mmd3, bound


def bootstrap_indices(m: int, n: int, ntimes: int, frac: float, replace: bool,
                      generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """kernlab's bootstrap draws as pooled row indices ([ntimes, k] each; y rows are offset by m):
    k = ceil(frac M) rows of x and of y, shuffled together and split in two, each half ordered with
    its x-origin rows first (the order kernlab's block assembly gives them)."""
    k = math.ceil(frac * min(m, n))

    def draw(size: int) -> torch.Tensor:
        if replace:
            return torch.randint(size, (ntimes, k), generator=generator)
        return torch.rand(ntimes, size, generator=generator).argsort(dim=1)[:, :k]

    pooled = torch.cat([draw(m), draw(n) + m], dim=1)
    pooled = pooled.gather(1, torch.rand(ntimes, 2 * k, generator=generator).argsort(dim=1))
    halves = []
    for half in (pooled[:, :k], pooled[:, k:]):
        order = torch.sort((half >= m).to(torch.int8), dim=1, stable=True).indices
        halves.append(half.gather(1, order))
    return halves[0], halves[1]


def bootstrap_mmd3(kernel: torch.Tensor, x_rows: torch.Tensor, y_rows: torch.Tensor) -> torch.Tensor:
    """mmdstats[2] of every bootstrap draw (rows of ``x_rows``/``y_rows``) from the pooled kernel."""
    k = x_rows.shape[1]
    step = max(1, CHUNK // (4 * k * k))
    values = []
    for start in range(0, len(x_rows), step):
        rows = torch.cat([x_rows[start : start + step], y_rows[start : start + step]], dim=1)
        block = kernel[rows[:, :, None], rows[:, None, :]]
        values.append(_mmd3(block[:, :k, :k], block[:, k:, k:], block[:, k:, :k]))
    return torch.cat(values)


def asymptotic_bound(values: torch.Tensor, alpha: float) -> float:
    """Halfway between the floor(alpha ntimes)-th largest bootstrap statistic and the next."""
    ranked = values.sort(descending=True).values
    index = math.floor(alpha * len(ranked))  # kernlab's aind (1-based)
    if not 1 <= index < len(ranked):
        raise ValueError(f"kmmd_gauss: alpha * ntimes = {alpha} * {len(ranked)} must lie in [1, ntimes): "
                         "raise kmmd_gauss_ntimes (e.g. 150) or kmmd_gauss_alpha")
    return float(ranked[index - 1] + ranked[index]) / 2


def kernlab_kmmd(x: torch.Tensor, y: torch.Tensor, sigma: float | None = None, alpha: float = 0.05,
                 ntimes: int = 150, frac: float = 1.0, replace: bool = True,
                 generator: torch.Generator | None = None) -> KmmdResult:
    """``kmmd(x, y, kernel="rbfdot", alpha=alpha, asymptotic=TRUE, ntimes, frac, replace)`` of kernlab."""
    kernel, _ = rbf_kernel(torch.cat([x, y]).double(), sigma)
    mmd1, mmd3, rademacher = submmd(kernel, len(x), alpha)
    generator = generator or torch.Generator().manual_seed(0)
    draws = bootstrap_indices(len(x), len(y), ntimes, frac, replace, generator)
    bound = asymptotic_bound(bootstrap_mmd3(kernel, *draws), alpha)
    return KmmdResult(mmd1, mmd3, rademacher, bound, mmd1 > rademacher, mmd3 > bound)


def subset_rows(n_fake: int, n_real: int, size: int, repeats: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(generated rows, real rows) of each repeat: ``size`` of each, drawn without replacement."""
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randperm(n_fake, generator=generator)[:size], torch.randperm(n_real, generator=generator)[:size])
            for _ in range(repeats)]


def summarise(results: list[KmmdResult]) -> dict[str, float]:
    """The report's figures over subsets: acceptance rates, mean and median of both statistics."""
    values = {"accept_rate": statistics.fmean(not r.asymptotic_rejected for r in results),
              "rad_accept_rate": statistics.fmean(not r.rejected for r in results)}
    for name in ("mmd1", "mmd3"):
        series = [getattr(r, name) for r in results]
        values.update({f"{name}_mean": statistics.fmean(series), f"{name}_median": statistics.median(series)})
    return {PREFIX + key: value for key, value in values.items()}


KEYS = tuple(PREFIX + key for key in ("accept_rate", "rad_accept_rate", "mmd1_mean", "mmd1_median",
                                      "mmd3_mean", "mmd3_median"))


@metric("kmmd_gauss", options={"kmmd_gauss_subset_size": 500, "kmmd_gauss_repeats": 10, "kmmd_gauss_ntimes": 150,
                               "kmmd_gauss_alpha": 0.05, "kmmd_gauss_sigma": None, "kmmd_gauss_frac": 1.0,
                               "kmmd_gauss_replace": True},
        keys=KEYS, lower_is_better=(PREFIX + "mmd1_mean",), higher_is_better=(PREFIX + "accept_rate",))
def kmmd_gauss(inputs: MetricInputs) -> dict[str, float]:
    """kernlab's kmmd (Gaussian kernel) over subsets: H0 acceptance rates, mean/median MMD statistics."""
    fake, real = inputs.fake["pool"].double(), inputs.real.features.double()
    size = min(inputs.option("kmmd_gauss_subset_size"), len(fake), len(real))
    if size < 2:
        raise ValueError(f"kmmd_gauss needs at least 2 generated and 2 real samples, got {len(fake)} and {len(real)}")
    generator = torch.Generator().manual_seed(inputs.seed)
    results = [kernlab_kmmd(fake[rows_x], real[rows_y], inputs.option("kmmd_gauss_sigma"), inputs.option("kmmd_gauss_alpha"),
                            inputs.option("kmmd_gauss_ntimes"), inputs.option("kmmd_gauss_frac"),
                            inputs.option("kmmd_gauss_replace"), generator)
               for rows_x, rows_y in subset_rows(len(fake), len(real), size, inputs.option("kmmd_gauss_repeats"), inputs.seed)]
    return summarise(results)
