"""The console is for people: ganforge's status lines on stderr, library logs in a file.

``capture_library_logs`` sends the Python logging and warnings of Ray, MLflow and the rest to
one file per command (its path is printed once) unless ``--verbose`` asks for them on the
console. Status lines (``say``) and failure lines (``fail_line``) always show.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

LOG_DIR_ENV = "GANFORGE_LOG_DIR"
# Loggers that write to the console on their own (handlers of their own, or via the root logger).
LIBRARY_LOGGERS = ("ray", "mlflow", "alembic", "urllib3", "filelock", "py.warnings", "torch", "fsspec")


def say(message: str) -> None:
    """One status line for the person at the console."""
    print(f"[ganforge] {message}", file=sys.stderr, flush=True)


def log_dir() -> Path:
    """Where command logs go: $GANFORGE_LOG_DIR, default ~/.cache/ganforge/logs."""
    return Path(os.environ.get(LOG_DIR_ENV) or Path.home() / ".cache" / "ganforge" / "logs").expanduser()


def capture_library_logs(command: str, verbose: bool = False) -> Path | None:
    """Route library logs and warnings to a new log file (or leave them on the console when
    ``verbose``); returns the file's path, None when verbose."""
    logging.captureWarnings(True)
    if verbose:
        logging.basicConfig(level=logging.INFO)
        return None
    path = log_dir() / f"{command}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # MLflow gives its loggers a console handler when first imported, unless told not to.
    os.environ["MLFLOW_CONFIGURE_LOGGING"] = "false"
    for name in LIBRARY_LOGGERS:  # already configured ones: everything flows to the root's file
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    say(f"library logs: {path} (--verbose shows them here)")
    return path


def is_terminal() -> bool:
    """True when stderr is a terminal (a progress bar redraws; otherwise plain lines)."""
    return sys.stderr.isatty()
