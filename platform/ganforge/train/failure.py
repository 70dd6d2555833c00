"""One line for a run that failed outside the training step: the cause in a few words, the
step of the last checkpoint, and the exact command that continues it."""
from __future__ import annotations

# (text found in the error or its worker failures, what the person is told); first match wins.
CAUSES: tuple[tuple[str, str], ...] = (
    ("OutOfMemoryError", "out of memory: Ray's memory monitor killed a worker (lower train.batch_size "
                         "or scaling.workers)"),
    ("placement group", "the run's placement group was removed"),
    ("NodeDiedError", "a node of the cluster was lost"),
    ("node died", "a node of the cluster was lost"),
    ("ActorDiedError", "a training worker process died"),
    ("worker process has died", "a training worker process died"),
    ("WorkerHealthCheckFailedError", "a training worker stopped answering (its process died or hung)"),
    ("ActorUnavailableError", "a training worker became unreachable"),
    ("WorkerCrashedError", "a training worker process crashed"),
    ("startup timed out", "the training workers did not start in time"),
)


def _texts(err: BaseException) -> str:
    """The error, its chain and its per-worker failures as one searchable text."""
    parts, seen = [], set()
    stack = [err]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts.append(f"{type(current).__name__}: {current}")
        stack += list(getattr(current, "worker_failures", {}).values())
        stack += [getattr(current, "controller_failure", None), current.__cause__, current.__context__]
    return "\n".join(parts)


def _innermost(err: BaseException) -> BaseException:
    """The first worker's own exception when Ray wrapped it, else ``err``."""
    failures = list(getattr(err, "worker_failures", {}).values())
    return failures[0] if failures else err


def describe(err: BaseException) -> str:
    """The cause of a failed fit in a few words."""
    text = _texts(err)
    for needle, cause in CAUSES:
        if needle.lower() in text.lower():
            return cause
    inner = _innermost(err)
    first_line = (str(inner).strip().splitlines() or [""])[-1][:300]
    return f"{type(inner).__name__} in the training loop: {first_line}"


def continue_hint(checkpoint_step: int | None, resume_command: str) -> str:
    """Where the run stands and the command that continues it."""
    if checkpoint_step is None:
        return f"No checkpoint was written yet; `{resume_command}` trains it from step 0 in the same MLflow run."
    return f"Last checkpoint: step {checkpoint_step}. Continue with: {resume_command}"
