"""Benchmark: the paired task's measured results (issue 12) at the CPU configs of jobs/.

In one run, on one local Ray instance (ganforge.raycluster.connect) and a temp sqlite MLflow store,
each spec trains in-process through ``run_training`` (the same Ray Train loop as ``ganforge
train``), then its generator (as ``ganforge evaluate`` loads it: the run's checkpoint, EMA G) is
scored on the held-out pairs by ``evaluate_translation`` with the baseline of the same run beside it:

1. SRResNet x4 (jobs/srresnet.yaml) on the ``sr`` photos: PSNR-Y / SSIM-Y against bicubic
   (target: +0.5 dB PSNR-Y);
2. SRGAN (jobs/srgan.yaml) with ``model.init_from`` = that SRResNet run: FID (and LPIPS where its
   weights are on disk) against SRResNet's, PSNR-Y against bicubic (target: FID or LPIPS below
   SRResNet's, PSNR-Y above bicubic);
3. pix2pix (jobs/pix2pix.yaml, edges2photos) against the L1-only U-Net (the same spec with
   ``loss.weights.adversarial=0``) for the same steps: held-out FID of both (target: pix2pix
   lower); sample grids (input | output | target) are logged to each MLflow run;
4. training images/s and peak memory per model: each spec's real training step (task.build_step on
   a real batch of its data) timed in its own subprocess, median over --repeats timings after a
   warm-up; peak memory is that process's peak RSS (VmHWM of /proc/self/status, reset through
   /proc/self/clear_refs once the data set is loaded, so it is the peak while the models are built
   and trained) and, as "+models MB", its growth over the RSS just before the models are built. Beside it, the median ``images_per_s`` the training run
   logged (Ray worker, data loading, MLflow included), after its first quarter.

FID: Inception-v3 features (torch-fidelity's weights when on disk, else the fid-helper port, the
same network) of the outputs against the targets over --n held-out pairs: at this n it is biased
upwards and only comparable within this table. Exit status 1 if a target is missed.

    .venv/bin/python benchmarks/bench_paired.py              # 500 / 100 / 200 steps, 64 pairs
    .venv/bin/python benchmarks/bench_paired.py --speed-only    # part 4 alone, a few minutes
    .venv/bin/python benchmarks/bench_paired.py --sr-steps 2000 --srgan-steps 300 --p2p-steps 1000 --n 136

Measured on 2 shared cores (load average ~13) with the defaults: 21 min wall, 7 min CPU. At these
steps SRResNet is still 4.3 dB below bicubic (its MSE is still falling) and pix2pix's FID is level
with the L1-only U-Net's. Longer runs (the jobs' own 2000 / 1000 / 2000 steps) were not measured. Those figures predate
``skip: bicubic`` in jobs/srresnet.yaml and srgan.yaml (G starts at the bicubic baseline); the
figures since, measured outside this benchmark, are in docs/paired.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

ROOT = Path(__file__).resolve().parent.parent
L1_ONLY = ["loss.weights.adversarial=0"]  # pix2pix's ablation: the same U-Net, L1 alone


def spec_for(job: str, overrides: list[str], steps: int, storage: str, uri: str):
    """jobs/<job>.yaml with ``overrides``, shortened to ``steps``, no periodic evaluation (the
    benchmark scores the final generator itself), grids at the middle and the end."""
    from ganforge.config import load_spec

    spec = load_spec(ROOT / "jobs" / f"{job}.yaml", overrides)
    spec.train.steps = steps
    spec.train.log_every = max(1, steps // 20)
    spec.train.sample_every = max(1, steps // 2)
    spec.train.checkpoint_every = steps
    # EMA at 0.999 averages over ~1000 steps: after a few hundred it would still be mostly the
    # initial G. Copy G until two thirds in, then average (as bench_zoo_quality.py).
    spec.train.ema_start = 2 * steps // 3
    spec.eval.every = 0
    spec.scaling.storage_path = storage
    spec.tracking.tracking_uri = uri
    spec.tracking.experiment = "paired-bench"
    spec.tracking.registered_model = None
    return spec


def metric_names() -> list[str]:
    """psnr_y, ssim_y, fid, and lpips only when its weights are on this machine."""
    from ganforge.metrics.weights import LPIPS_LIN, VGG16, find_weights

    names = ["psnr_y", "ssim_y", "fid"]
    return names + ["lpips"] if find_weights(LPIPS_LIN) and find_weights(VGG16) else names


def score(run_id: str, uri: str, n: int, metrics: list[str]) -> dict[str, float]:
    """The run's generator on its first ``n`` held-out pairs, the baseline under ``baseline.*``."""
    from ganforge.metrics.translation import evaluate_translation
    from ganforge.sampling import load_generator
    from ganforge.tasks.paired import held_out

    loaded = load_generator(run_id, "cpu", uri)
    pairs = held_out(loaded.spec, n)
    return evaluate_translation(loaded.generator, pairs, pairs.scale, metrics, "cpu", 16)


def logged_rate(uri: str, run_id: str, steps: int) -> float:
    """Median of the run's logged images_per_s after its first quarter (warm-up)."""
    from mlflow.tracking import MlflowClient

    history = MlflowClient(uri).get_metric_history(run_id, "images_per_s")
    late = [m.value for m in history if m.step > steps // 4] or [m.value for m in history]
    return statistics.median(late) if late else float("nan")


def grids(uri: str, run_id: str) -> list[str]:
    """The sample-grid artifacts logged to the run."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    return [f.path for f in client.list_artifacts(run_id, "samples")]


def measure(job: str, overrides: list[str], steps: int, warmup: int, repeats: int) -> dict:
    """Images/s of the spec's training step on one real batch, and the peak-RSS growth (MB)."""
    import torch

    from ganforge.config import load_spec
    from ganforge.data import build_dataset
    from ganforge.tasks import task_of

    spec = load_spec(ROOT / "jobs" / f"{job}.yaml", overrides)
    torch.set_num_threads(spec.train.torch_threads or 1)
    dataset = build_dataset(spec.data)
    task = task_of(spec)
    batch = spec.per_worker_batch()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True)
    real = [next(iter(loader)) for _ in range(spec.loss.n_critic)]
    rss_before = reset_peak_rss()
    modules = task.build_modules(spec, task.meta(dataset))
    step = task.build_step(spec, modules)
    for i in range(warmup):
        step(real, i)
    rates = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(steps):
            step(real, warmup + r * steps + i)
        rates.append(steps * batch / (time.perf_counter() - start))
    peak_mb = proc_status_kib("VmHWM") / 1024
    return {"images_per_s": statistics.median(rates), "peak_mb": peak_mb, "step_mb": peak_mb - rss_before / 1024,
            "batch": batch}


def proc_status_kib(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS, VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> int:
    """Reset the process's peak RSS (VmHWM) to its current RSS and return that RSS (KiB).

    Loading the data set peaks higher than some models' training does, so ru_maxrss (which
    cannot be reset) would hide their step; Linux resets VmHWM on writing 5 to clear_refs.
    """
    Path("/proc/self/clear_refs").write_text("5")
    return proc_status_kib("VmRSS")


def measure_in_child(job: str, overrides: list[str], args) -> dict:
    """``measure`` in a fresh subprocess, so each model's peak RSS is its own."""
    cmd = [sys.executable, __file__, "--child", job, "--measure-steps", str(args.measure_steps),
           "--repeats", str(args.repeats)] + [f"--child-set={item}" for item in overrides]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# name, job, overrides, which --*-steps flag; SRGAN's init_from is added once SRResNet has trained
MODELS = [("srresnet", "srresnet", [], "sr_steps"), ("srgan", "srgan", [], "srgan_steps"),
          ("pix2pix", "pix2pix", [], "p2p_steps"), ("l1-only u-net", "pix2pix", L1_ONLY, "p2p_steps")]


def train_all(args, root: Path, uri: str, metrics: list[str]) -> dict[str, dict]:
    """Train and score every model in order; SRGAN starts from the SRResNet run."""
    from ganforge.train.driver import run_training

    rows: dict[str, dict] = {}
    for name, job, overrides, flag in MODELS:
        steps = getattr(args, flag)
        if name == "srgan":
            overrides = overrides + [f"model.init_from={rows['srresnet']['run_id']}"]
        spec = spec_for(job, overrides, steps, str(root / "ray"), uri)
        start = time.perf_counter()
        outcome = run_training(spec)
        seconds = time.perf_counter() - start
        values = score(outcome.run_id, uri, args.n, metrics)
        rows[name] = {"job": job, "steps": steps, "run_id": outcome.run_id, "train_s": seconds, "values": values,
                      "logged_rate": logged_rate(uri, outcome.run_id, steps), "grids": grids(uri, outcome.run_id)}
        print(f"{name}: trained {steps} steps in {seconds:.0f} s, {json.dumps(values)}", flush=True)
    return rows


def targets(rows: dict[str, dict]) -> list[tuple[str, str, bool]]:
    """(target, measured figures, met?) for each of the issue's targets."""
    sr, gan = rows["srresnet"]["values"], rows["srgan"]["values"]
    p2p, l1 = rows["pix2pix"]["values"], rows["l1-only u-net"]["values"]
    gain = sr["psnr_y"] - sr["baseline.psnr_y"]
    out = [("SRResNet PSNR-Y >= bicubic + 0.5 dB", f"{sr['psnr_y']:.2f} vs {sr['baseline.psnr_y']:.2f} dB "
            f"({gain:+.2f} dB)", gain >= 0.5)]
    perceptual = [f"FID {gan['fid']:.1f} vs {sr['fid']:.1f}"]
    better = gan["fid"] < sr["fid"]
    if "lpips" in gan:
        perceptual.append(f"LPIPS {gan['lpips']:.4f} vs {sr['lpips']:.4f}")
        better = better or gan["lpips"] < sr["lpips"]
    out.append(("SRGAN FID or LPIPS below SRResNet's", ", ".join(perceptual), better))
    out.append(("SRGAN PSNR-Y above bicubic", f"{gan['psnr_y']:.2f} vs {gan['baseline.psnr_y']:.2f} dB",
                gan["psnr_y"] > gan["baseline.psnr_y"]))
    out.append(("pix2pix FID below L1-only U-Net's", f"{p2p['fid']:.1f} vs {l1['fid']:.1f}", p2p["fid"] < l1["fid"]))
    return out


def report(rows: dict[str, dict], speed: dict[str, dict], args, uri: str) -> bool:
    """Print the table; True when every target is met."""
    print(f"\nheld-out pairs per evaluation: {args.n}; FID: Inception-v3 pool features, outputs vs targets; "
          f"LPIPS: {'VGG16' if 'lpips' in rows['srresnet']['values'] else 'not measured (no weights here)'}; "
          f"MLflow: {uri}")
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg())
          + f" on {os.cpu_count()} cores (other processes share them: speeds vary with it)")
    head = (f"{'model':<15}{'steps':>6}{'PSNR-Y':>8}{'base':>7}{'SSIM-Y':>8}{'base':>7}{'FID':>7}{'base':>7}"
            f"{'LPIPS':>7}{'train s':>8}{'img/s':>7}{'run img/s':>10}{'peak MB':>8}{'+models':>8}  run id")
    print(head)
    print("-" * len(head))
    for name, row in rows.items():
        v, s = row["values"], speed.get(name, {})
        lpips = f"{v['lpips']:>7.3f}" if "lpips" in v else f"{'-':>7}"
        rate = f"{s['images_per_s']:>7.1f}{row['logged_rate']:>10.1f}{s['peak_mb']:>8.0f}{s['step_mb']:>8.0f}" \
            if "images_per_s" in s else f"{'err':>7}{row['logged_rate']:>10.1f}{'err':>8}{'err':>8}"
        print(f"{name:<15}{row['steps']:>6}{v['psnr_y']:>8.2f}{v['baseline.psnr_y']:>7.2f}{v['ssim_y']:>8.3f}"
              f"{v['baseline.ssim_y']:>7.3f}{v['fid']:>7.1f}{v['baseline.fid']:>7.1f}{lpips}{row['train_s']:>8.0f}"
              f"{rate}  {row['run_id']}")
    print("base: bicubic x4 (SR) or the input edges (pix2pix) on the same pairs; img/s: the training step alone "
          "(batch x steps / s, median), run img/s: logged by the Ray Train run; peak MB: peak RSS (VmHWM) of a "
          "process building and training only that model, +models: its growth over the RSS before the models")
    for name, s in speed.items():
        if "error" in s:
            print(f"{name}: speed measurement failed: {s['error']}")
    print(f"\n{'target':<40}{'measured':<44}met")
    results = targets(rows)
    for target, figures, met in results:
        print(f"{target:<40}{figures:<44}{'yes' if met else 'NO'}")
    print("\nsample grids (input | output | target): " + "; ".join(
        f"{name} {row['run_id']} {', '.join(row['grids']) or 'none'}" for name, row in rows.items()
        if row["job"] == "pix2pix"))
    return all(met for _, _, met in results)


def print_speed(speed: dict[str, dict], args) -> None:
    """Part 4's table alone (--speed-only): the training step's img/s and the process's peak memory."""
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"{args.repeats} timings of {args.measure_steps} steps, one torch thread unless the spec sets more")
    print(f"{'model':<15}{'batch':>6}{'img/s':>8}{'peak MB':>9}{'+models':>9}")
    for name, s in speed.items():
        if "error" in s:
            print(f"{name:<15} speed measurement failed: {s['error']}")
        else:
            print(f"{name:<15}{s['batch']:>6}{s['images_per_s']:>8.1f}{s['peak_mb']:>9.0f}{s['step_mb']:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sr-steps", type=int, default=500, help="SRResNet training steps")
    parser.add_argument("--srgan-steps", type=int, default=100, help="SRGAN steps after SRResNet")
    parser.add_argument("--p2p-steps", type=int, default=200, help="steps of pix2pix and of the L1-only U-Net")
    parser.add_argument("--n", type=int, default=64, help="held-out pairs per evaluation")
    parser.add_argument("--measure-steps", type=int, default=2, help="steps per speed timing")
    parser.add_argument("--repeats", type=int, default=3, help="speed timings (the median is reported)")
    parser.add_argument("--tracking-uri", default=None, help="default: a sqlite store in a temp dir")
    parser.add_argument("--speed-only", action="store_true", help="only part 4: each model's step img/s and peak memory")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-set", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.child_set, args.measure_steps, 1, args.repeats)))
        return

    if args.speed_only:
        print_speed({name: measure_in_child(job, overrides, args) for name, job, overrides, _ in MODELS}, args)
        return
    import ray

    from ganforge.raycluster import connect

    root = Path(tempfile.mkdtemp(prefix="paired-bench-"))
    uri = args.tracking_uri or f"sqlite:///{root / 'mlflow.db'}"
    os.environ.setdefault("GANFORGE_CACHE_DIR", str(root / "cache"))
    metrics = metric_names()
    connect(None, num_cpus=2, extra_env={"GANFORGE_CACHE_DIR": os.environ["GANFORGE_CACHE_DIR"]})
    try:
        rows = train_all(args, root, uri, metrics)
    finally:
        ray.shutdown()
    speed = {name: measure_in_child(job, overrides, args) for name, job, overrides, _ in MODELS}
    if not report(rows, speed, args, uri):
        sys.exit(1)


if __name__ == "__main__":
    main()
