"""``ganforge evaluate SOURCE``: FID/KID/IS/... of a trained generator (PSNR/SSIM/... of a paired
translation model, beside its baseline), printed and logged to MLflow."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional

import typer

from ganforge.commands import fail

METRICS_HELP = "comma-separated: fid, kid, is, prc, mifid, kmmd (default: the spec's eval.metrics, else fid,kid)"
EXTRACTOR_HELP = ("auto, inception, inception:port, domain:<data set>, clip (default: the spec's eval.extractor); "
                  "numbers from different extractors are not comparable")


def _key_values(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """["kid_subsets=50"] -> {"kid_subsets": 50} (values read as YAML)."""
    from ganforge.documents import SpecError, parse_override

    out: dict[str, Any] = {}
    for text in pairs or []:
        try:
            path, value = parse_override(text)
        except SpecError as err:
            fail(f"{what}: {err}")
        out[".".join(path)] = value
    return out


def _device(name: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def _spec_with_overrides(spec, data: str | None, overrides: list[str] | None):
    """The generator's spec, evaluated against ``--data`` and with ``--set`` overrides applied."""
    from ganforge.config import SpecError, apply_overrides, spec_from_dict

    document = spec.to_dict()
    if data:
        document["data"] = {**document["data"], "name": data, "root": None, "options": {}}
    try:
        return spec_from_dict(apply_overrides(document, overrides or []), source="spec of the evaluated model")
    except SpecError as err:
        fail(str(err))


def _metric_names(text: str | None, spec) -> list[str]:
    if text:
        return [name.strip() for name in text.split(",") if name.strip()]
    return list(spec.eval.metrics) or ["fid", "kid"]


def evaluate(
    source: str = typer.Argument(..., metavar="SOURCE", help="models:/name/version, models:/name/latest, models:/name@alias, "
                                                             "runs:/ID/PATH, an MLflow run id, or a checkpoint dir"),
    metrics: Optional[str] = typer.Option(None, "--metrics", help=METRICS_HELP),
    n: Optional[int] = typer.Option(None, "--n", min=2, help="generated (and real) images (default: the spec's eval.n)"),
    extractor: Optional[str] = typer.Option(None, "--extractor", help=EXTRACTOR_HELP),
    data: Optional[str] = typer.Option(None, "--data", help="compare with this registered data set instead of the training one"),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="override a spec key: --set data.root=DIR, --set eval.truncation=0.7"),
    seed: Optional[int] = typer.Option(None, "--seed", help="seed of the generated latents and metric subsets (default: the spec's train.seed)"),
    option: Optional[List[str]] = typer.Option(None, "--option", help="metric option KEY=VALUE, e.g. kid_subsets=50, mifid_eps=0.1"),
    inception_weights: Optional[str] = typer.Option(None, "--inception-weights", help="torch-fidelity's weights-inception-2015-12-05-6726825d.pth (or its directory); also GANFORGE_INCEPTION_WEIGHTS"),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto"),
    refresh_real: bool = typer.Option(False, "--refresh-real-stats", help="recompute the cached real-data statistics"),
    log: bool = typer.Option(True, "--log/--no-log", help="log the metrics to MLflow"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="MLflow tracking URI the source is looked up "
                                               "in and logged to (default: MLFLOW_TRACKING_URI, else ./mlflow.db)"),
) -> None:
    """Evaluate a trained generator: print a table and log the metrics to its MLflow run."""
    from ganforge.metrics import WeightsNotFoundError
    from ganforge.sampling import SourceError, check_source, load_generator
    from ganforge.tracking import resolve_tracking_uri

    options, device = _key_values(option, "--option"), _device(device)
    source_uri = tracking_uri or resolve_tracking_uri()
    try:
        check_source(source, source_uri)  # before any weights are read or an MLflow run exists
    except SourceError as err:
        fail(str(err))
    request = Request(metrics, n, extractor, device, seed, options, inception_weights, refresh_real)
    try:
        loaded = load_generator(source, device, source_uri)
        spec = _spec_with_overrides(loaded.spec, data, set_)
        result = EVALUATIONS[spec.task](loaded, spec, request)
    except (WeightsNotFoundError, FileNotFoundError, ValueError) as err:
        fail(str(err))
    except KeyError as err:  # unknown metric / extractor names, listing the valid ones
        fail(str(err.args[0]))
    # An MLflow source's run lives in the store it came from; a checkpoint's evaluation goes to a new
    # run in --tracking-uri, else in the store its spec names.
    log_uri = source_uri if (tracking_uri or loaded.run_id) else resolve_tracking_uri(spec)
    _report(source, loaded, spec, result, log, log_uri)


@dataclass
class Request:
    """What the command line asked for, the same for every task."""

    metrics: str | None
    n: int | None
    extractor: str | None
    device: str
    seed: int | None
    options: dict
    inception_weights: str | None
    refresh_real: bool


@dataclass
class Result:
    """An evaluation's values, the feature network they came from (None: the images' own
    pixels) and how many images were scored."""

    values: dict[str, float]
    extractor: Any
    n: int


def _evaluate_samples(loaded, spec, request: Request) -> Result:
    """generate: generated samples against the real data set's, through the extractor."""
    from ganforge.metrics.evaluation import Evaluator

    evaluator = Evaluator.from_spec(spec, _metric_names(request.metrics, spec), request.n, request.extractor,
                                    request.device, seed=request.seed, options=request.options,
                                    inception_weights=request.inception_weights)
    typer.echo(f"extractor: {evaluator.extractor.name}")
    evaluator.real_stats(refresh=request.refresh_real)
    return Result(evaluator(loaded.generator), evaluator.extractor, evaluator.n)


def _evaluate_pairs(loaded, spec, request: Request) -> Result:
    """paired: translations of the held-out pairs against their targets, beside the baseline."""
    from ganforge.metrics.translation import evaluate_translation
    from ganforge.tasks.paired import PairedTask, held_out

    names = request.metrics or ",".join(spec.eval.metrics or PairedTask.default_metrics)
    pairs = held_out(spec, request.n or spec.eval.n)
    values = evaluate_translation(loaded.generator, pairs, pairs.scale, names, request.device, spec.eval.batch_size,
                                  extractor=request.extractor or "inception", inception_weights=request.inception_weights)
    return Result(values, None, len(pairs))


def _evaluate_domains(loaded, spec, request: Request) -> Result:
    """unpaired: held-out domains translated both ways, FID beside FID(A, B), cycle L1."""
    from ganforge.metrics.unpaired import evaluate_unpaired, metric_names, resolve
    from ganforge.tasks.unpaired import UnpairedTask, eval_extractor, held_out_domains

    names = metric_names(request.metrics or ",".join(spec.eval.metrics or UnpairedTask.default_metrics))
    a, b = held_out_domains(spec, request.n or spec.eval.n)
    extractor = None
    if "fid" in names:
        choice = request.extractor if request.extractor not in (None, "auto") else eval_extractor(spec)
        extractor = resolve(choice, device=request.device,
                            inception_weights=request.inception_weights)
        typer.echo(f"extractor: {extractor.name}")
    values = evaluate_unpaired(loaded.generator, a, b, names, request.device, spec.eval.batch_size, extractor=extractor)
    return Result(values, extractor, len(a) + len(b))


# spec.task -> how its models are scored
EVALUATIONS = {"generate": _evaluate_samples, "paired": _evaluate_pairs, "unpaired": _evaluate_domains,
               "adapt": _evaluate_samples}  # an adapted generator is G(z): scored as a generate model


def _report(source: str, loaded, spec, result: Result, log: bool, tracking_uri: str) -> None:
    from ganforge.metrics.report import EVAL_PREFIX, EvaluationTarget, format_table, log_evaluation

    typer.echo(format_table(result.values, result.extractor, result.n))
    if not log:
        return
    target = EvaluationTarget(source, loaded.run_id, spec.tracking.experiment, spec.name, int(loaded.info.get("step") or 0))
    run_id = log_evaluation(tracking_uri, target, result.values, result.extractor, result.n,
                            extra_tags={"eval.source": source, "eval.data": spec.data.name})
    typer.echo(f"logged to MLflow run {run_id} as {EVAL_PREFIX}*")


def register(app: typer.Typer) -> None:
    """Add ``ganforge evaluate`` to the CLI."""
    app.command()(evaluate)
