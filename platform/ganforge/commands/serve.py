"""``ganforge serve SOURCE...``: the Ray Serve application in serving/ on 127.0.0.1 (or --host)."""
from __future__ import annotations

import importlib
import re
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer

from ganforge.commands import fail

SOURCE_HELP = "models:/name/version, models:/name/latest, models:/name@alias, runs:/ID/PATH, an MLflow run id, or a checkpoint dir"
TRACKING_HELP = "MLflow tracking URI the sources are looked up in (default: MLFLOW_TRACKING_URI, else ./mlflow.db)"


def serving_module():
    """``serving.app`` from this checkout (serving/ sits beside platform/, it is not installed)."""
    try:
        return importlib.import_module("serving.app")
    except ModuleNotFoundError:
        import ganforge

        root = Path(ganforge.__file__).resolve().parents[2]
        if not (root / "serving" / "app.py").is_file():
            fail(f"serving/app.py not found beside {root / 'platform'}: run from a ganforge checkout")
        sys.path.insert(0, str(root))
        return importlib.import_module("serving.app")


def check_sources(sources: List[str], tracking_uri: str) -> None:
    """Resolve every source before Ray starts (no weights loaded); a bad one exits 2 with one line."""
    from ganforge.sampling import SourceError, check_source

    for source in sources:
        try:
            check_source(source, tracking_uri)
        except SourceError as err:
            fail(str(err))


def start_failure(err: Exception, app_name: str = "ganforge") -> str:
    """One line for an application Serve could not start: the loader's own line when a model did not load.

    serve.run's error only names the failed deployment; the replica's error is in ``serve.status()``.
    """
    from ray import serve

    texts = [str(err)]
    try:
        application = serve.status().applications[app_name]
        texts += [application.message, *(d.message for d in application.deployments.values())]
    except Exception:  # noqa: BLE001 - the status is a courtesy; the error itself is still reported
        pass
    found = re.findall(r"SourceError: (.+)", "\n".join(text or "" for text in texts))
    if found:
        return f"a model cannot be loaded: {found[-1].strip()}"
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return f"the application did not start: {lines[-1] if lines else type(err).__name__}"


def serve_command(
    sources: List[str] = typer.Argument(..., metavar="SOURCE...", help=SOURCE_HELP + "; several: A/B by the request's model field"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind (0.0.0.0 exposes it to the network)"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="HTTP port"),
    token_env: Optional[str] = typer.Option(None, "--token-env", help="require a bearer token read from this environment variable"),
    token_file: Optional[str] = typer.Option(None, "--token-file", help="require a bearer token read from this file"),
    replicas: str = typer.Option("1", "--replicas", help="generator replicas: a number, or 'auto' (autoscaling)"),
    max_batch_size: int = typer.Option(16, "--max-batch-size", min=1, max=256, help="requests per batched forward"),
    batch_wait: float = typer.Option(0.01, "--batch-wait", min=0, max=1,
                                     help="seconds a batch waits to fill (CPU-only hosts: 0.05-0.2 and a batch of about "
                                          "half the clients raise throughput; see README, Serving)"),
    cpus: float = typer.Option(1, "--cpus", min=0, help="CPUs per generator replica (its torch threads)"),
    num_gpus: float = typer.Option(0, "--gpus", min=0, help="GPUs per generator replica"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: a local Ray instance)"),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help=TRACKING_HELP),
    verbose: bool = typer.Option(False, "--verbose", help="show Ray's and MLflow's own logs and the replicas' output"),
) -> None:
    """Serve generators over HTTP (POST /v1/generate, /v1/interpolate; playground at /); Ctrl-C stops."""
    from ganforge.tracking import resolve_tracking_uri

    tracking_uri = tracking_uri or resolve_tracking_uri()
    check_sources(sources, tracking_uri)
    if token_env and token_file:
        fail("give --token-env or --token-file, not both")
    if replicas != "auto" and not (replicas.isdigit() and int(replicas) >= 1):
        fail(f"--replicas must be a positive number or 'auto', got {replicas!r}")
    module = serving_module()
    try:
        args = module.ServeArgs(models=sources, tracking_uri=tracking_uri, token_env=token_env, token_file=token_file, max_batch_size=max_batch_size,
                                batch_wait_timeout_s=batch_wait, num_cpus=cpus, num_gpus=num_gpus,
                                num_replicas="auto" if replicas == "auto" else int(replicas))
        application = module.build_app(args)
    except ValueError as err:  # pydantic errors, token problems and SourceError name the field / source
        fail(str(err))
    from ganforge.console import capture_library_logs

    capture_library_logs("serve", verbose)
    _run(application, host, port, address, _describe(args), verbose)


def _describe(args) -> str:
    """What the banner says about the generator replicas (as validated by ServeArgs)."""
    hardware = f"{args.num_gpus:g} GPU" if args.num_gpus else f"{args.num_cpus:g} CPU"
    return (f"{args.num_replicas} replica(s) x {hardware}; batches of up to {args.max_batch_size} requests, "
            f"{args.batch_wait_timeout_s * 1000:g} ms wait")


def _run(application, host: str, port: int, address: Optional[str], description: str, verbose: bool = False) -> None:
    from ray import serve

    from ganforge.raycluster import connect

    connect(address, verbose=verbose)
    serve.start(http_options={"host": host, "port": port})
    try:
        serve.run(application, name="ganforge", route_prefix="/")
    except RuntimeError as err:  # a replica failed to start (e.g. a model that resolves but does not load)
        message = start_failure(err)
        serve.shutdown()
        fail(message)
    typer.echo(f"serving at http://{host}:{port}/  (API docs: /docs, playground: /); Ctrl-C stops")
    typer.echo(description)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        typer.echo("stopping")
    finally:
        serve.shutdown()


def register(app: typer.Typer) -> None:
    """Add ``ganforge serve``."""
    app.command("serve")(serve_command)
