"""`ganforge adapt SPEC` refuses bad input with one error line before Ray starts (issue 14): no
adapt section, an unknown source, a source BSA cannot adapt, few-shot images of another shape, a
model section; and the spec's adapt section is validated where it is read."""
from __future__ import annotations

import pytest
import yaml

from adapt_sources import save_source

pytestmark = pytest.mark.unit


@pytest.fixture
def adapt_cli(monkeypatch):
    """Runs `ganforge adapt` in process; reaching training (Ray) fails the test."""
    from typer.testing import CliRunner

    import ganforge.train.driver as driver
    from ganforge.cli import _register_commands, app

    if not app.registered_commands:
        _register_commands()

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started for input that should have been refused")

    monkeypatch.setattr(driver, "run_training", no_ray)

    def run(tmp_path, document: dict):
        path = tmp_path / "spec.yaml"
        path.write_text(yaml.safe_dump(document))
        return CliRunner().invoke(app, ["adapt", str(path)])

    return run


DATA = {"name": "lfw-faces", "resolution": 32, "channels": 1, "limit": 8}


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_a_spec_without_an_adapt_section_is_refused(adapt_cli, tmp_path):
    line = error_line(adapt_cli(tmp_path, {"data": DATA}))
    assert "no adapt: section" in line and "jobs/adapt/" in line


def test_an_unknown_source_is_refused_naming_the_forms(adapt_cli, tmp_path):
    line = error_line(adapt_cli(tmp_path, {"data": DATA, "adapt": {"source": str(tmp_path / "nowhere")}}))
    assert line.startswith("error: adapt.source:") and "checkpoint" in line and "models:/" in line


def test_bsa_of_a_family_it_cannot_adapt_points_at_finetune(adapt_cli, tmp_path):
    from registered_model import save_tiny_generator

    source = save_tiny_generator(tmp_path).parent  # a DCGAN
    line = error_line(adapt_cli(tmp_path, {"data": DATA, "adapt": {"source": str(source)}}))
    assert "adapts biggan, sngan generators" in line and "finetune" in line


def test_few_shot_images_of_another_shape_are_refused(adapt_cli, tmp_path):
    source = save_source(tmp_path)
    line = error_line(adapt_cli(tmp_path, {"data": {**DATA, "channels": 3}, "adapt": {"source": str(source)}}))
    assert "[1, 32, 32]" in line and "[3, 32, 32]" in line and "data.channels" in line


def test_a_model_section_is_refused(adapt_cli, tmp_path):
    source = save_source(tmp_path)
    line = error_line(adapt_cli(tmp_path, {"data": DATA, "model": {"name": "sngan"}, "adapt": {"source": str(source)}}))
    assert "architecture is the source's" in line


def test_finetune_needs_a_source_with_a_discriminator(adapt_cli, tmp_path):
    from ganforge.train.checkpoint import atomic_save, load_checkpoint

    payload = load_checkpoint(save_source(tmp_path / "full" if (tmp_path / "full").mkdir() is None else None))
    del payload["D"]
    atomic_save(payload, tmp_path / "g-only" / "generator.pt")
    line = error_line(adapt_cli(tmp_path, {"data": DATA, "adapt": {"source": str(tmp_path / "g-only"), "method": "finetune"}}))
    assert "holds no discriminator" in line


def test_the_adapt_section_is_validated_and_implies_its_task():
    from ganforge.config import SpecError, spec_from_dict

    spec = spec_from_dict({"adapt": {"source": "models:/src/1"}})
    assert (spec.task, spec.adapt.method, spec.schedule.name, spec.schedule.options["step_size"]) == ("adapt", "bsa", "step", 3000)
    assert spec.train.ema == 0.0 and spec.adapt.settings["emd"] == 0.1
    with pytest.raises(SpecError, match=r"adapt.method: unknown adaptation method 'bsb'; valid: bsa, finetune, freezed"):
        spec_from_dict({"adapt": {"source": "x", "method": "bsb"}})
    with pytest.raises(SpecError, match=r"options of 'bsa'.*lamda"):
        spec_from_dict({"adapt": {"source": "x", "settings": {"lamda": 1}}})
    for augment in ({"diffaugment": "color"}, {"ada": {"target": 0.6}}):
        with pytest.raises(SpecError, match="remove the augment section"):
            spec_from_dict({"adapt": {"source": "x"}, "augment": augment})
    with pytest.raises(SpecError, match="task=adapt needs an adapt: section"):
        spec_from_dict({"task": "adapt"})
