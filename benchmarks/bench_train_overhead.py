"""Platform overhead and input-pipeline headroom of `ganforge train` (1 worker).

Measures, in one run:
  1. images/s of a plain PyTorch loop: the same DCGAN, batch, data (digits 32 px, tensors in
     memory), Adam, non-saturating loss and thread count, no Ray, no MLflow;
  2. images/s of `ganforge train` on the same spec (Ray Train worker, MLflow logging, EMA,
     checkpoints), read from the run's `images_per_s` metric after warm-up;
  3. images/s the loader + augmentation delivers (benchmarks/bench_input_pipeline.py).
Prints a table of medians and the ratios (targets: overhead ratio >= 0.95, headroom >= 2).

    .venv/bin/python benchmarks/bench_train_overhead.py [--steps 300] [--warmup 60]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from bench_input_pipeline import loader_images_per_second  # noqa: E402

from ganforge.config import load_spec  # noqa: E402
from ganforge.data import build_dataset  # noqa: E402
from ganforge.models import build_models  # noqa: E402

SPEC = Path(__file__).resolve().parents[1] / "jobs" / "quickstart.yaml"


def plain_loop_images_per_second(spec, steps: int, warmup: int, window: int = 20) -> float:
    """Median images/s over windows of a textbook GAN loop with the spec's model and batch."""
    torch.set_num_threads(spec.train.torch_threads or 1)
    dataset = build_dataset(spec.data)
    images = torch.stack([dataset[i][0] for i in range(len(dataset))])
    torch.manual_seed(0)
    G, D = build_models(spec.model, dataset.img_shape, 0)
    opt_g = torch.optim.Adam(G.parameters(), lr=spec.optim.g.lr, betas=tuple(spec.optim.g.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=spec.optim.d.lr, betas=tuple(spec.optim.d.betas))
    batch = spec.train.batch_size
    rates, start = [], time.perf_counter()
    for step in range(warmup + steps):
        real = images[torch.randint(0, len(images), (batch,))]
        fake = G(torch.randn(batch, G.z_dim))
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(fake)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if step >= warmup and (step - warmup + 1) % window == 0:
            rates.append(window * batch / (time.perf_counter() - start))
        if step == warmup - 1 or (step >= warmup and (step - warmup + 1) % window == 0):
            start = time.perf_counter()
    return statistics.median(rates)


def ganforge_images_per_second(spec, steps: int, warmup: int) -> float:
    """Median of the run's logged images_per_s after warm-up (logged every 20 steps)."""
    import mlflow

    from ganforge.train.driver import run_training

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        spec = spec.model_copy(deep=True)
        spec.train.steps = warmup + steps
        spec.train.log_every = 20
        spec.train.sample_every = 0
        spec.train.checkpoint_every = warmup + steps
        spec.tracking.tracking_uri = uri
        spec.tracking.registered_model = None
        spec.scaling.storage_path = f"{tmp}/ray"
        outcome = run_training(spec)
        history = mlflow.MlflowClient(uri).get_metric_history(outcome.run_id, "images_per_s")
    return statistics.median(m.value for m in history if m.step > warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=60)
    args = parser.parse_args()
    spec = load_spec(SPEC)
    plain = plain_loop_images_per_second(spec, args.steps, args.warmup)
    platform = ganforge_images_per_second(spec, args.steps, args.warmup)
    loader = loader_images_per_second(spec)
    heavy_spec = spec.model_copy(deep=True)
    heavy_spec.augment.preset = "blur+flip+affine"
    heavy = loader_images_per_second(heavy_spec)
    print(f"\nquickstart spec: DCGAN ngf/ndf 32, batch {spec.train.batch_size}, digits 32 px, "
          f"{spec.train.torch_threads} threads; medians after {args.warmup} warm-up steps\n")
    print(f"{'measurement':<44}{'images/s':>10}")
    print(f"{'plain PyTorch loop':<44}{plain:>10.0f}")
    print(f"{'ganforge train (1 Ray Train worker)':<44}{platform:>10.0f}")
    print(f"{'loader + augmentation (' + spec.augment.preset + ')':<44}{loader:>10.0f}")
    print(f"{'loader + augmentation (blur+flip+affine)':<44}{heavy:>10.0f}")
    print(f"\n{'ratio':<44}{'value':>10}{'target':>10}")
    print(f"{'platform overhead: ganforge / plain':<44}{platform / plain:>10.2f}{'>= 0.95':>10}")
    print(f"{'input headroom: loader / ganforge step':<44}{loader / platform:>10.2f}{'>= 2':>10}")
    print(f"{'headroom with blur+flip+affine':<44}{heavy / platform:>10.2f}{'>= 2':>10}")


if __name__ == "__main__":
    main()
