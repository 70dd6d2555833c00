"""benchmarks/gpu_check.py --dry-run: the prepared GPU check runs every part on the CPU at tiny
sizes and prints one table, so the real check is not first run when a GPU is lent."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_the_dry_run_prints_one_table_with_every_part_and_no_errors(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import gpu_check

    gpu_check.main(["--dry-run"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()[2:]]
    assert out.count("ganforge / value") == 1  # one table
    assert {row[0] for row in rows} == set(gpu_check.PARTS)
    assert not [row for row in rows if "error" in row or "failed" in row], out
    cases = {" ".join(row[1:4]) for row in rows if row[0] == "throughput" and row[1] != "(part"}
    assert cases == {f"{label} b4 {mode}" for label in gpu_check.DRY.resolutions for mode in gpu_check.MODES}
    measured = [row for row in rows if row[0] == "throughput" and "img/s" in row]
    assert measured and all("x)" in " ".join(row) for row in measured if "compile" not in row[3])  # beside the plain loop
    assert any("ranks identical" in " ".join(row) for row in rows if row[0] == "ddp")
