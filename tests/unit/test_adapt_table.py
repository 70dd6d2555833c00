"""The adaptation table (issue 14, adapt/table.py): one per target; rows source model x method plus
the unadapted source shown in every column; columns iterations; Markdown and CSV logged to MLflow
with the sample grids (reading a run's figures back from MLflow: tests/integration/test_adapt.py)."""
from __future__ import annotations

import csv
import io

import pytest

from ganforge.adapt.table import TableRow, csv_table, figure_keys, log_table, markdown_table

pytestmark = pytest.mark.unit

KEYS = figure_keys()


def scores(fid: float) -> dict[str, float]:
    return {key: fid + index / 10 for index, key in enumerate(KEYS)}


def rows() -> list[TableRow]:
    return [TableRow("sngan", "source", {0: scores(90.0)}, baseline=True),
            TableRow("sngan", "bsa", {500: scores(60.0), 2000: scores(40.0)}),
            TableRow("biggan", "finetune", {500: scores(70.0)})]


def test_markdown_has_a_row_per_model_and_method_and_the_baseline_in_every_column():
    text = markdown_table("lfw-faces", rows(), (500, 2000))
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[0] == "| model / method | 500 it. | 2,000 it. |"
    parsed = [[cell.strip() for cell in line.split("|")[1:-1]] for line in lines[1:]]
    cells = {row[0]: row[1:] for row in parsed}
    assert cells["sngan (unadapted source)"] == ["90 / 90.1 / 90.2 / 90.3 / 90.4 / 90.5"] * 2
    assert cells["sngan bsa"] == ["60 / 60.1 / 60.2 / 60.3 / 60.4 / 60.5", "40 / 40.1 / 40.2 / 40.3 / 40.4 / 40.5"]
    assert cells["biggan finetune"] == ["70 / 70.1 / 70.2 / 70.3 / 70.4 / 70.5", ""]  # not evaluated at 2,000
    assert "lfw-faces" in text and "kmmd_gauss_accept_rate" in text


def test_csv_has_one_line_per_row_and_evaluated_iteration_with_extractor_tagged_keys():
    tagged = [TableRow("sngan", "bsa", {500: {f"domain-digits.{k}": 1.0 for k in KEYS}})]
    table = list(csv.DictReader(io.StringIO(csv_table("opencv-digits", tagged, (500, 2000), tag="domain-digits"))))
    assert len(table) == 1 and table[0]["iteration"] == "500" and table[0]["domain-digits.fid"] == "1.0"
    lines = list(csv.DictReader(io.StringIO(csv_table("lfw-faces", rows(), (500, 2000)))))
    assert [(r["model"], r["method"], r["iteration"]) for r in lines] == [
        ("sngan", "source", "500"), ("sngan", "source", "2000"), ("sngan", "bsa", "500"), ("sngan", "bsa", "2000"),
        ("biggan", "finetune", "500")]
    assert float(lines[3]["kmmd_gauss_accept_rate"]) == pytest.approx(40.1)


class RecordingClient:
    """What log_table asks of an MlflowClient (the real store is tests/integration/test_adapt.py's)."""

    def __init__(self):
        self.texts, self.artifacts = {}, {}

    def log_text(self, run_id, text, path):
        self.texts[path] = text

    def log_artifact(self, run_id, local, path):
        with open(local, "rb") as file:
            self.artifacts[f"{path}/{local.rsplit('/', 1)[1]}"] = file.read()


def test_tables_and_grids_are_logged_under_adapt_tables(tmp_path):
    client, grid = RecordingClient(), tmp_path / "grid.png"
    grid.write_bytes(b"\x89PNG fake")
    logged = log_table(client, "run", "lfw-faces", rows(), (500, 2000), grids={"sngan-bsa": str(grid)})
    assert logged == ["adapt_tables/lfw-faces.md", "adapt_tables/lfw-faces.csv", "adapt_tables/lfw-faces_grids/sngan-bsa.png"]
    assert client.texts["adapt_tables/lfw-faces.md"] == markdown_table("lfw-faces", rows(), (500, 2000))
    assert client.texts["adapt_tables/lfw-faces.csv"] == csv_table("lfw-faces", rows(), (500, 2000))
    assert client.artifacts["adapt_tables/lfw-faces_grids/sngan-bsa.png"] == grid.read_bytes()
