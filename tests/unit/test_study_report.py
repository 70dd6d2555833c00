"""The study report from fake histories: mean +- std over seeds per (variant, metric, step),
the Markdown/CSV/HTML tables and the PNG plots."""
from __future__ import annotations

import csv
import math

import pytest

pytestmark = pytest.mark.unit

FID = "fid"


def results(samples=None):
    from ganforge.study.report import StudyResults

    histories = {
        "base": [{FID: {5: 10.0, 10: 8.0}}, {FID: {5: 14.0, 10: 6.0}}],  # two seeds
        "sn": [{FID: {5: 9.0, 10: 7.0}}, {FID: {5: 11.0}}],  # the second seed never reached step 10
        "lost": [],  # no run
    }
    return StudyResults("toy", ["base", "sn", "lost"], [5, 10], [FID], histories, samples or {})


def test_cells_are_mean_and_sample_std_over_the_seeds_that_reported_the_step():
    from ganforge.study.report import cells

    got = cells(results())
    assert got[("base", FID, 5)] == (12.0, pytest.approx(math.sqrt(8)), 2)
    assert got[("base", FID, 10)] == (7.0, pytest.approx(math.sqrt(2)), 2)
    assert got[("sn", FID, 10)] == (7.0, 0.0, 1)
    mean, std, n = got[("lost", FID, 5)]
    assert n == 0 and math.isnan(mean)


def test_the_table_has_a_row_per_variant_and_a_column_per_metric_and_step():
    from ganforge.study.report import markdown, table

    header, rows = table(results())
    assert header == ["variant", "fid @ 5", "fid @ 10"]
    assert rows == [["base", "12 ± 2.8", "7 ± 1.4"], ["sn", "10 ± 1.4", "7 ± 0"], ["lost", "n/a", "n/a"]]
    text = markdown(header, rows)
    assert text.splitlines()[0] == "| variant | fid @ 5 | fid @ 10 |" and "| base | 12 ± 2.8 | 7 ± 1.4 |" in text


def _png(path, shade):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    plt.imsave(path, np.full((8, 8, 3), shade))
    return str(path)


def test_write_report_writes_tables_and_plots(tmp_path):
    import matplotlib.image as mpimg

    from ganforge.study.report import write_report

    samples = {"base": {5: _png(tmp_path / "a5.png", 0.2), 10: _png(tmp_path / "a10.png", 0.4)},
               "sn": {5: _png(tmp_path / "b5.png", 0.8)}}  # no grid at 10: its last is shown
    text = write_report(results(samples), tmp_path / "out")
    out = tmp_path / "out"
    assert (out / "table.md").read_text() == text
    assert "<td>12 ± 2.8</td>" in (out / "table.html").read_text()
    with (out / "table.csv").open() as handle:
        rows = {(r["variant"], int(r["step"])): r for r in csv.DictReader(handle)}
    assert float(rows[("base", 5)]["mean"]) == 12.0 and rows[("sn", 10)]["seeds"] == "1"
    for name in (f"{FID}.png", "samples.png"):
        image = mpimg.imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 100  # a real figure, not an empty file


def test_no_samples_no_mosaic(tmp_path):
    from ganforge.study.report import write_report

    write_report(results(), tmp_path)
    assert (tmp_path / f"{FID}.png").is_file() and not (tmp_path / "samples.png").exists()


def test_an_unfinished_study_says_which_variants_lack_seeds(tmp_path):
    """With the plan's seeds known: a variant short of seeds at the last step is listed, with
    how many runs it started; a complete one is not."""
    from dataclasses import replace

    from ganforge.study.report import missing, write_report

    planned = replace(results(), seeds=[0, 1])
    assert missing(planned) == ["sn: 1 of 2 seed(s) reached step 10 (2 run(s) started)",
                                "lost: 0 of 2 seed(s) reached step 10 (not run yet)"]
    text = write_report(planned, tmp_path)
    assert "Unfinished" in text and "- lost: 0 of 2 seed(s) reached step 10 (not run yet)" in text
    assert "| lost | n/a | n/a |" in text
    assert "Unfinished" not in write_report(replace(planned, variants=["base"]), tmp_path / "done")


def test_table_per_gives_one_table_per_group(tmp_path):
    from dataclasses import replace

    from ganforge.study.report import write_report

    grouped = replace(results(), groups={"base": "data.name=faces", "sn": "data.name=digits", "lost": "data.name=faces"})
    text = write_report(grouped, tmp_path)
    faces, digits = text.split("### data.name=digits")
    assert faces.startswith("### data.name=faces") and "| base |" in faces and "| lost |" in faces
    assert "| sn |" in digits and "| base |" not in digits


def test_real_data_tables_follow_the_variants_table(tmp_path):
    from dataclasses import replace

    from ganforge.study.report import write_report

    real = {"title": "IS of real digits", "header": ["n", "IS, 5 splits"], "rows": [["256", "9.1 ± 0.2"]]}
    text = write_report(replace(results(), real_tables={"is_sample_size": real}), tmp_path)
    assert text.index("| base |") < text.index("### IS of real digits") < text.index("| 256 | 9.1 ± 0.2 |")
    assert (tmp_path / "is_sample_size.md").read_text().startswith("| n | IS, 5 splits |")


LONG = ["lr 2e-4 / optim.g.name=adam, schedule.name=none", "lr 2e-4 / optim.g.name=rmsprop, schedule.name=cosine"]


def long_named(tmp_path):
    """Two grid cells with the long names a study's grid gives them, with samples at both steps."""
    from ganforge.study.report import StudyResults

    histories = {name: [{FID: {5: 10.0 + i, 10: 8.0 + i}}] for i, name in enumerate(LONG)}
    samples = {name: {s: _png(tmp_path / f"{i}-{s}.png", 0.3) for s in (5, 10)} for i, name in enumerate(LONG)}
    return StudyResults("toy", LONG, [5, 10], [FID], histories, samples)


def _extents(fig, artists):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return [a.get_window_extent(renderer) for a in artists]


def test_long_variant_names_stay_inside_their_mosaic_cell(tmp_path):
    """A cell's title is no wider than its sample grid, so neighbouring titles cannot overlap."""
    from ganforge.study.report import mosaic_figure

    fig = mosaic_figure(long_named(tmp_path))
    for ax in fig.axes:
        title, image = _extents(fig, [ax.title, ax.images[0]])
        assert title.x0 >= image.x0 - 2 and title.x1 <= image.x1 + 2, ax.title.get_text()
        assert "@" in ax.title.get_text()


def test_the_metric_plots_legend_covers_no_line(tmp_path):
    """The legend (long names) sits outside the axes: it hides none of the plotted points."""
    from ganforge.study.report import metric_figure

    fig = metric_figure(long_named(tmp_path), FID)
    ax = fig.axes[0]
    legend, axes = _extents(fig, [ax.get_legend(), ax])
    assert not legend.overlaps(axes)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == LONG
