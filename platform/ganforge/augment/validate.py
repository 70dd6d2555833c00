"""Checking user-listed Albumentations transforms (``augment.transforms``) before a run starts.

Albumentations 2.x ignores an unknown keyword with only a warning, and falls back to defaults
when its own schema check fails in a way it does not expect: ``GaussNoise(var_limit=...)``
(the 1.x name) silently becomes default noise. Here an unknown keyword is an error naming it
and the valid ones, and any warning raised while building the transform is an error too.
"""
from __future__ import annotations

import difflib
import inspect
import warnings
from typing import Any

import albumentations as A

# 1.x keyword -> its 2.x replacement: the fix a user upgrading a spec most likely needs.
RENAMED_IN_2X = {
    "var_limit": "std_range", "cval": "fill", "cval_mask": "fill_mask", "mask_value": "fill_mask",
    "value": "fill", "mode": "border_mode", "always_apply": "p=1.0",
}


def transform_class(name: str) -> type:
    """The Albumentations transform class ``name``; otherwise ValueError with close matches."""
    cls = getattr(A, name, None)
    if isinstance(cls, type) and issubclass(cls, A.BasicTransform):
        return cls
    candidates = [n for n in dir(A) if isinstance(getattr(A, n), type) and issubclass(getattr(A, n), A.BasicTransform)]
    close = difflib.get_close_matches(name, candidates, n=5)
    hint = f"; did you mean {', '.join(close)}?" if close else " (names are case-sensitive class names, e.g. GaussianBlur)"
    raise ValueError(f"{name!r} is not an Albumentations {A.__version__} transform{hint}")


def accepted_params(cls: type) -> set[str]:
    """Keyword arguments ``cls`` accepts: its pydantic InitSchema fields and named __init__ parameters."""
    names = set(getattr(getattr(cls, "InitSchema", None), "model_fields", {}))
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        names |= {p.name for p in inspect.signature(init).parameters.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names - {"self", "strict"}


def build_transform(name: str, params: dict[str, Any]) -> A.BasicTransform:
    """``name(**params)`` after the checks of ``validate_transform``; warnings become errors."""
    cls = transform_class(name)
    valid = accepted_params(cls)
    unknown = sorted(set(params) - valid)
    if unknown:
        renames = "".join(f"; {k} is {RENAMED_IN_2X[k]} in 2.x" for k in unknown if k in RENAMED_IN_2X)
        raise ValueError(f"{name}: unknown parameter(s) {', '.join(unknown)} for Albumentations "
                         f"{A.__version__}{renames}; valid: {', '.join(sorted(valid))}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a warning here means a value was dropped or replaced
            return cls(**params)
    except Exception as err:
        raise ValueError(f"{name}({_call_args(params)}) is invalid: {err}") from None


def validate_transform(name: str, params: dict[str, Any]) -> None:
    """Raise ValueError unless ``name(**params)`` is a valid Albumentations 2.x transform."""
    build_transform(name, params)


def _call_args(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())
