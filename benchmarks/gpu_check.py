"""The prepared GPU check: every GPU question in one run of at most 8 minutes, one table.

Parts, each with its own time budget (a part stops starting new cases when its budget is spent;
those print as "skipped: budget"):
  throughput  images/s of the real training step (build_modules/build_step, random batches on
              the device) for DCGAN-32, SNGAN-32, BigGAN-32, BigGAN-128 and StyleGAN-lite at
              batch 64 and 256 in fp32, bf16, bf16 + channels_last and bf16 + compile, beside a
              plain PyTorch loop with the same model and mode (compile: no plain loop); peak
              memory; achieved TFLOP/s (FlopCounterMode) as a fraction of the measured matmul rate
  matmul      the bf16 matmul rate the device reaches (the fraction-of-peak denominator)
  ddp         2 processes on one GPU through train/step.py's all-reduce (NCCL; gloo if NCCL
              refuses two ranks on one device): the ranks must stay identical
  serve       the generator replica's batched forward vs one forward per request at
              concurrency 16 (in process), then benchmarks/bench_serve.py over HTTP
  fid         time of a 10,000-sample Inception FID of a generator

``--dry-run`` runs the same on the CPU at tiny sizes (a test runs it). It installs nothing.

    .venv/bin/python benchmarks/gpu_check.py              # on a GPU machine
    .venv/bin/python benchmarks/gpu_check.py --dry-run    # anywhere
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Sizes:
    """How big each part runs: the real check, or the dry run's tiny version."""

    device: str
    batches: tuple[int, ...]
    resolutions: dict[str, int]  # model label -> resolution
    options: dict[str, dict]  # model name -> options (empty: the family's defaults)
    seconds: float  # timed seconds per throughput case
    matmul: int
    fid_n: int
    fid_extractor: str
    serve_requests: int
    budgets: dict[str, float]
    warmup: int = 2  # untimed steps per case (compilation, cudnn autotuning)
    min_steps: int = 3  # timed steps per case at least
    compile_labels: tuple[str, ...] | None = None  # models whose compile case runs (None: all)
    compile_reserve: float = 60.0  # a compile case starts only with this much budget left (inductor is slow)


REAL = Sizes("cuda", (64, 256), {"dcgan-32": 32, "sngan-32": 32, "biggan-32": 32, "biggan-128": 128, "stylegan-lite-32": 32},
             {}, 1.5, 8192, 10_000, "inception", 200,
             {"throughput": 250, "matmul": 15, "ddp": 60, "serve": 90, "fid": 60})  # 475 s of 480
DRY = Sizes("cpu", (4,), {"dcgan-32": 32, "sngan-32": 32, "biggan-32": 32, "biggan-128": 64, "stylegan-lite-32": 32},
            {"dcgan": {"ngf": 4, "ndf": 4}, "sngan": {"g_ch": 4, "d_ch": 4},
             "biggan": {"g_ch": 4, "d_ch": 4, "shared_dim": 8, "attn_res": 8},
             "stylegan-lite": {"ngf": 4, "ndf": 4, "w_dim": 8, "mapping_layers": 2, "w_avg_samples": 64}},
            0.0, 64, 16, "domain:digits", 0,
            {"throughput": 30, "matmul": 2, "ddp": 20, "serve": 10, "fid": 20}, warmup=1, min_steps=1,
            compile_labels=("dcgan-32",), compile_reserve=0.0)  # dynamo takes 5-30 s a model on a CPU
FAMILIES = {"dcgan": ("non-saturating", 1, False), "sngan": ("hinge", 2, True), "biggan": ("hinge", 2, True),
            "stylegan-lite": ("non-saturating", 1, False)}  # family -> (loss, n_critic, conditional)
MODES = {"fp32": {}, "bf16": {"precision": "bf16"}, "bf16+channels_last": {"precision": "bf16", "channels_last": True},
         "bf16+compile": {"precision": "bf16", "compile": True}}


@dataclass
class Row:
    """One line of the table."""

    part: str
    case: str
    value: str
    plain: str = ""
    note: str = ""


# ---------------------------------------------------------------- helpers
def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def model_spec(label: str, batch: int, mode: str, sizes: Sizes):
    """The ExperimentSpec of one throughput case (data: digits at the case's resolution)."""
    from ganforge.config import spec_from_dict

    family = label.rsplit("-", 1)[0]
    loss, n_critic, conditional = FAMILIES[family]
    document = {"data": {"name": "digits", "resolution": sizes.resolutions[label]},
                "model": {"name": family, "conditional": conditional, "options": sizes.options.get(family, {})},
                "loss": {"name": loss, "n_critic": n_critic},
                "train": {"batch_size": batch, "ema": 0.999, **MODES[mode]}}
    return spec_from_dict(document, source=f"gpu_check {label}")


def random_batches(spec, device: str):
    import torch

    res, classes = spec.data.resolution, 10 if spec.model.conditional else 0
    gen = torch.Generator().manual_seed(0)
    batch = spec.per_worker_batch()
    return [((torch.rand(batch, 1, res, res, generator=gen) * 2 - 1).to(device),
             torch.randint(0, max(classes, 1), (batch,), generator=gen).to(device)) for _ in range(spec.loss.n_critic)]


def timed_rate(run_step, images_per_step: int, seconds: float, device: str, warmup: int = 2,
               min_steps: int = 3) -> float:
    """images/s of ``run_step(i)`` over about ``seconds`` (at least ``min_steps``) after ``warmup``."""
    for i in range(warmup):
        run_step(i)
    sync(device)
    start, steps = time.perf_counter(), 0
    while steps < min_steps or time.perf_counter() - start < seconds:
        run_step(warmup + steps)
        steps += 1
        if steps % 4 == 0:
            sync(device)
    sync(device)
    return steps * images_per_step / (time.perf_counter() - start)


def plain_step(spec, G, D, device: str):
    """A textbook GAN step with the same models and the case's autocast / memory format."""
    import torch
    import torch.nn.functional as F

    from ganforge.losses import logits_of
    from ganforge.train.precision import autocast, memory_format

    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.0, 0.99))
    batches = random_batches(spec, device)
    layout, dev = memory_format(spec.train.channels_last), torch.device(device)
    classes = 10 if spec.model.conditional else 0

    def run(_):
        for real, y in batches:
            y = y if classes else None
            with autocast(spec.train.precision, dev):
                fake = G(torch.randn(real.shape[0], G.z_dim, device=device), y)
                d = F.softplus(-logits_of(D(real.contiguous(memory_format=layout), y))).mean() + \
                    F.softplus(logits_of(D(fake.detach(), y))).mean()
            opt_d.zero_grad(set_to_none=True)
            d.backward()
            opt_d.step()
        with autocast(spec.train.precision, dev):
            g = F.softplus(-logits_of(D(fake, y))).mean()
        opt_g.zero_grad(set_to_none=True)
        g.backward()
        opt_g.step()
    return run


def step_flops(step, batches) -> float | None:
    """Floating-point operations of one ganforge step (counted, not timed); None where the
    counter's module tracker fails (it does on StyleGAN-lite's mapping network)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    try:
        with counter:
            step(batches, 0)
    except AssertionError:
        return None
    return float(counter.get_total_flops())


# ---------------------------------------------------------------- parts
def part_matmul(sizes: Sizes, deadline: float, state: dict) -> list[Row]:
    import torch

    n = sizes.matmul
    a = torch.randn(n, n, device=sizes.device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=sizes.device, dtype=torch.bfloat16)
    rate = timed_rate(lambda _: a @ b, 2 * n**3, min(2.0, max(0.0, deadline - time.perf_counter() - 1)), sizes.device)
    state["matmul_flops"] = rate
    return [Row("matmul", f"bf16 {n}x{n}", f"{rate / 1e12:.1f} TFLOP/s")]


def one_case(label: str, batch: int, mode: str, sizes: Sizes, state: dict) -> Row:
    """ganforge step vs the plain loop for one (model, batch, mode)."""
    import torch

    from ganforge.models import build_models
    from ganforge.train.setup import build_modules, build_step

    spec = model_spec(label, batch, mode, sizes)
    shape, classes = (1, spec.data.resolution, spec.data.resolution), 10 if spec.model.conditional else 0
    per_step = batch * spec.loss.n_critic
    if sizes.device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    modules = build_modules(spec, shape, classes, device=sizes.device)
    step = build_step(spec, modules, device=sizes.device)
    batches = random_batches(spec, sizes.device)
    ours = timed_rate(lambda i: step(batches, i), per_step, sizes.seconds, sizes.device, sizes.warmup, sizes.min_steps)
    step.guard.check()
    peak = torch.cuda.max_memory_allocated() / 2**20 if sizes.device == "cuda" else float("nan")
    key = (label, batch)
    if key not in state.setdefault("flops", {}):
        state["flops"][key] = step_flops(build_step(spec, modules, device=sizes.device), batches)
    flops = state["flops"][key]
    achieved = flops * ours / per_step if flops else float("nan")
    fraction = f", {100 * achieved / state['matmul_flops']:.0f}% of matmul" if flops and state.get("matmul_flops") else ""
    plain = ""
    if not spec.train.compile:
        torch.manual_seed(0)
        G, D = build_models(spec.model, shape, classes)
        layout = torch.channels_last if spec.train.channels_last else torch.contiguous_format
        G, D = G.to(sizes.device, memory_format=layout), D.to(sizes.device, memory_format=layout)
        rate = timed_rate(plain_step(spec, G, D, sizes.device), per_step, sizes.seconds, sizes.device, sizes.warmup,
                          sizes.min_steps)
        plain = f"{rate:,.0f} ({ours / rate:.2f}x)"
    return Row("throughput", f"{label} b{batch} {mode}", f"{ours:,.0f} img/s", plain,
               f"peak {peak:,.0f} MiB, {achieved / 1e12:.2f} TFLOP/s{fraction}")


def part_throughput(sizes: Sizes, deadline: float, state: dict) -> list[Row]:
    import torch

    rows = []
    # Every eager case first, then the compiled ones (slow to start): a spent budget skips those.
    cases = [(label, batch, mode) for mode in MODES for label in sizes.resolutions for batch in sizes.batches]
    cases.sort(key=lambda case: case[2] == "bf16+compile")
    for label, batch, mode in cases:
        compiling = bool(MODES[mode].get("compile"))
        if time.perf_counter() > deadline - (sizes.compile_reserve if compiling else 0.0):
            rows.append(Row("throughput", f"{label} b{batch} {mode}", "skipped: budget"))
            continue
        if compiling and sizes.compile_labels is not None and label not in sizes.compile_labels:
            rows.append(Row("throughput", f"{label} b{batch} {mode}", "skipped: dry run"))
            continue
        try:
            rows.append(one_case(label, batch, mode, sizes, state))
        except torch.cuda.OutOfMemoryError:
            rows.append(Row("throughput", f"{label} b{batch} {mode}", "out of memory"))
        except Exception as err:  # one broken case must not hide the others
            rows.append(Row("throughput", f"{label} b{batch} {mode}", "error", note=first_line(err)))
    return rows


def _ddp_rank(rank: int, backend: str, init_file: str, device: str, out: str) -> None:
    """One of two ranks: three DDP steps of a small DCGAN, then its G's parameter checksum."""
    import torch
    import torch.distributed as dist

    from ganforge.config import spec_from_dict
    from ganforge.train.setup import build_modules, build_step

    torch.set_num_threads(1)
    dist.init_process_group(backend, init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        spec = spec_from_dict({"data": {"name": "digits", "resolution": 16}, "scaling": {"workers": 2},
                               "model": {"z_dim": 8, "options": {"ngf": 8, "ndf": 8}}, "train": {"batch_size": 8}})
        modules = build_modules(spec, (1, 16, 16), 0, world=2, device=device)
        step = build_step(spec, modules, rank, 2, device)
        gen = torch.Generator().manual_seed(rank)
        for t in range(3):
            step([((torch.rand(4, 1, 16, 16, generator=gen) * 2 - 1).to(device), torch.zeros(4, dtype=torch.long).to(device))], t)
        step.guard.check()
        total = sum(p.double().sum().item() for p in modules.G.parameters())
        Path(f"{out}.{rank}").write_text(repr(total))
    finally:
        dist.destroy_process_group()


def part_ddp(sizes: Sizes, deadline: float, state: dict) -> list[Row]:
    import tempfile

    import torch.multiprocessing as mp

    rows = []
    backends = ["nccl", "gloo"] if sizes.device == "cuda" else ["gloo"]
    context = mp.get_context("spawn" if sizes.device == "cuda" else "fork")  # CUDA needs spawn
    for backend in backends:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            procs = [context.Process(target=_ddp_rank, args=(r, backend, f"{tmp}/pg", sizes.device, f"{tmp}/out"))
                     for r in range(2)]
            for proc in procs:
                proc.start()
            for proc in procs:
                proc.join(timeout=max(1.0, deadline - time.perf_counter()))
            alive = [proc for proc in procs if proc.is_alive()]
            for proc in alive:
                proc.kill()
            results = [Path(f"{tmp}/out.{r}").read_text() if Path(f"{tmp}/out.{r}").exists() else None for r in range(2)]
            elapsed = time.perf_counter() - start
        if None not in results:
            same = results[0] == results[1]
            rows.append(Row("ddp", f"2 ranks on one device, {backend}", "ranks identical" if same else "RANKS DIFFER",
                            note=f"{elapsed:.0f} s incl. start-up"))
            break
        rows.append(Row("ddp", f"2 ranks on one device, {backend}", "timed out" if alive else "failed",
                        note="exit codes " + ", ".join(str(proc.exitcode) for proc in procs)))
    return rows


def part_serve(sizes: Sizes, deadline: float, state: dict) -> list[Row]:
    import torch

    sys.path.insert(0, str(ROOT))
    from ganforge.models import build_models
    from serving.generate import forward_jobs

    spec = model_spec("dcgan-32", 16, "fp32", sizes)
    generator = build_models(spec.model, (3, 32, 32), 0)[0].eval().to(sizes.device)
    jobs = [{"model": "g", "n": 1, "seed": i, "truncation": None, "format": "png", "class_id": None} for i in range(16)]
    rows = []
    for precision in ("fp32", "bf16"):
        batched = timed_rate(lambda _: forward_jobs({"g": generator}, jobs, {"g": precision}), 16, sizes.seconds,
                             sizes.device, 1, sizes.min_steps)
        naive = timed_rate(lambda _: [forward_jobs({"g": generator}, [job], {"g": precision}) for job in jobs], 16,
                           sizes.seconds, sizes.device, 1, sizes.min_steps)
        rows.append(Row("serve", f"replica forwards, 16 requests, {precision}", f"{batched:,.0f} req/s batched",
                        f"{naive:,.0f} naive", f"{batched / naive:.1f}x (target 4x over HTTP)"))
    if sizes.serve_requests and time.perf_counter() < deadline:
        command = [sys.executable, str(ROOT / "benchmarks" / "bench_serve.py"), "--requests", str(sizes.serve_requests),
                   "--requests-c1", "40"]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=max(5.0, deadline - time.perf_counter()))
            lines = [line for line in done.stdout.splitlines() if "ratio" in line.lower() or ">=" in line or "<=" in line]
            rows.append(Row("serve", "bench_serve.py over HTTP (replica device: its num_gpus)",
                            "ok" if done.returncode == 0 else f"exit {done.returncode}", note=" | ".join(lines)[:300]))
        except subprocess.TimeoutExpired:
            rows.append(Row("serve", "bench_serve.py over HTTP", "skipped: budget"))
    return rows


def part_fid(sizes: Sizes, deadline: float, state: dict) -> list[Row]:
    from ganforge.metrics import Evaluator
    from ganforge.models import build_models

    spec = model_spec("dcgan-32", 64, "fp32", sizes)
    generator = build_models(spec.model, (1, 32, 32) if sizes.device == "cuda" else (1, 16, 16), 0)[0].eval().to(sizes.device)
    start = time.perf_counter()
    evaluator = Evaluator.from_spec(spec, metrics=["fid"], n=sizes.fid_n, extractor=sizes.fid_extractor, device=sizes.device)
    values = evaluator(generator)
    elapsed = time.perf_counter() - start
    return [Row("fid", f"{sizes.fid_n:,} samples, {sizes.fid_extractor}", f"{elapsed:.1f} s",
                note=", ".join(f"{k}={v:.1f}" for k, v in values.items()))]


PARTS = {"matmul": part_matmul, "throughput": part_throughput, "ddp": part_ddp, "serve": part_serve, "fid": part_fid}


def first_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:200]


def run_parts(sizes: Sizes, names: list[str]) -> list[Row]:
    """Each named part under its budget; a part that fails is one error row."""
    rows: list[Row] = []
    state: dict = {}
    for name in names:
        start = time.perf_counter()
        try:
            rows.extend(PARTS[name](sizes, start + sizes.budgets[name], state))
        except Exception as err:
            rows.append(Row(name, "(part)", "error", note=first_line(err)))
        rows.append(Row(name, "(part time)", f"{time.perf_counter() - start:.0f} s", note=f"budget {sizes.budgets[name]:.0f} s"))
    return rows


def table(rows: list[Row]) -> str:
    """The one table the check prints."""
    header = Row("part", "case", "ganforge / value", "plain loop", "notes")
    widths = [max(len(getattr(r, f)) for r in [header, *rows]) for f in ("part", "case", "value", "plain")]
    lines = []
    for r in [header, *rows]:
        cells = [getattr(r, f).ljust(w) for f, w in zip(("part", "case", "value", "plain"), widths)]
        lines.append("  ".join(cells + [r.note]).rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="the same parts on the CPU at tiny sizes")
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    args = parser.parse_args(argv)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    import torch

    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("gpu_check: no CUDA device here; run it on the GPU machine, or pass --dry-run")
    sizes = DRY if args.dry_run else REAL
    from ganforge.train import precision

    backend, threads = precision.COMPILE_BACKEND, torch.get_num_threads()
    if args.dry_run:
        precision.COMPILE_BACKEND = "eager"  # dynamo's tracing only: no C++ build for the tiny CPU version
        torch.set_num_threads(1)  # tiny tensors; and the CPU may be shared
    device = torch.cuda.get_device_name() if sizes.device == "cuda" else "CPU (dry run)"
    print(f"gpu_check on {device}, torch {torch.__version__}", flush=True)
    try:
        print(table(run_parts(sizes, args.parts)), flush=True)
    finally:  # the dry run also runs inside a test process
        precision.COMPILE_BACKEND = backend
        torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
