"""The study document: validation (one line per problem naming the key), the expansion of
variants x grid, the schedule that lands evaluations on ``at``, and the shipped studies."""
from __future__ import annotations

import pytest

from conftest import REPO

pytestmark = pytest.mark.unit

BASE = {
    "data": {"name": "digits", "resolution": 16},
    "model": {"name": "dcgan", "z_dim": 16, "options": {"ngf": 8, "ndf": 8}},
    "train": {"batch_size": 32, "torch_threads": 1},
    "eval": {"metrics": ["fid"], "n": 64, "extractor": "domain:digits"},
}
FID = "domain-digits.fid"


def study(**fields):
    from ganforge.study.spec import parse_study

    document = {"name": "t", "base": BASE, "at": [4, 6], "metrics": [FID],
                "variants": [{"name": "a"}, {"name": "b", "set": {"loss.name": "hinge"}}], **fields}
    return parse_study(document)


def error(**fields) -> str:
    from ganforge.study.spec import StudyError

    with pytest.raises(StudyError) as caught:
        study(**fields)
    return str(caught.value)


def test_variants_cross_the_grid_with_their_own_keys():
    parsed = study(grid={"train.batch_size": [16, 32]}, repeats=2)
    assert parsed.variants == {
        "a / train.batch_size=16": {"train.batch_size": 16}, "a / train.batch_size=32": {"train.batch_size": 32},
        "b / train.batch_size=16": {"loss.name": "hinge", "train.batch_size": 16},
        "b / train.batch_size=32": {"loss.name": "hinge", "train.batch_size": 32}}
    assert parsed.seeds == [0, 1]


def test_a_grid_alone_names_its_cells():
    parsed = study(variants=[], grid={"loss.name": ["hinge", "wgan"], "model.z_dim": [8]}, repeats=[3, 7])
    assert list(parsed.variants) == ["loss.name=hinge, model.z_dim=8", "loss.name=wgan, model.z_dim=8"]
    assert parsed.seeds == [3, 7]


def test_the_schedule_evaluates_checkpoints_and_samples_on_every_at_step():
    from ganforge.study.run import search_spec

    spec = search_spec(study(at=[6, 4, 10]))
    assert (spec.train.steps, spec.eval.every, spec.train.checkpoint_every, spec.train.sample_every) == (10, 2, 2, 2)
    assert spec.search["space"] == {"train.seed": "grid(0)"} and spec.search["scheduler"] == "none"


def test_a_study_resumes_its_own_search_whatever_its_base_is_called():
    """The Tune pointer (``<storage>/<spec name>-tune.latest.json``) is the study's, not the base spec's."""
    from ganforge.study.run import search_spec

    assert search_spec(study(base={**BASE, "name": "quickstart"})).name == "study-t"


def test_the_search_the_study_runs_passes_tunes_own_validation():
    from ganforge.study.run import search_spec
    from ganforge.tune.space import parse_search

    search = parse_search(search_spec(study(repeats=[1, 2])))
    assert search.metric == FID and search.scheduler == "none" and search.dimensions[0].args == (1, 2)


@pytest.mark.parametrize("fields, expected", [
    ({"bogus": 1}, "study bogus: unknown key; valid keys: name, base, variants"),
    ({"at": []}, "study at: a non-empty list of positive training steps"),
    ({"at": [0, 5]}, "study at: a non-empty list of positive training steps"),
    ({"repeats": 0}, "study repeats: a positive count of seeds"),
    ({"variants": [], "grid": {}}, "study: no axes to vary; add variants:"),
    ({"grid": {"loss.name": []}}, "study grid: axis 'loss.name' has no values; give it a list"),
    ({"variants": [{"name": "x", "set": {"loss.name": "nope"}}]}, "variant 'x': loss.name: unknown loss 'nope'"),
    ({"variants": [{"name": "x", "set": {"model.depth": 3}}]}, "variant 'x': model.depth: unknown key"),
    ({"variants": [{"name": "x"}, {"name": "x"}]}, "the name 'x' appears twice"),
    ({"metrics": ["fid"]}, "study metrics: 'fid' is not reported by variant(s) a, b; reported keys: domain-digits.fid"),
    ({"mode": "best"}, "study mode: Input should be 'min' or 'max'"),
    ({"base": "no/such/spec.yaml"}, "study base: spec file 'no/such/spec.yaml' not found"),
])
def test_bad_documents_get_one_line_naming_the_key_and_the_fix(fields, expected):
    assert expected in error(**fields)


def test_one_line_per_problem():
    assert len(error(bogus=1, at=[]).splitlines()) == 2


def test_set_overrides_apply_to_the_base():
    from ganforge.study.spec import parse_study

    parsed = parse_study({"name": "t", "base": BASE, "at": [4], "metrics": [FID], "grid": {"loss.name": ["hinge"]}},
                         ["train.batch_size=8"])
    assert parsed.base["train"]["batch_size"] == 8


@pytest.mark.parametrize("name", ["augmentation", "spectral-norm"])
def test_shipped_studies_validate_and_their_variants_build(name):
    """Each variant of a shipped study is a spec whose G's images go through its D."""
    import torch

    from ganforge.config import spec_from_dict
    from ganforge.data import build_dataset
    from ganforge.study.spec import load_study, plan_document
    from ganforge.tasks import task_of
    from ganforge.tune.space import apply_params

    parsed = load_study(REPO / "jobs" / "studies" / f"{name}.yaml")
    assert len(parsed.variants) == 4 and max(parsed.at) <= 1000  # CPU-sized
    specs = [spec_from_dict(apply_params(plan_document(parsed.base, parsed), p)) for p in parsed.variants.values()]
    dataset = build_dataset(specs[0].data.model_copy(update={"limit": 16}))  # the variants share the data
    for spec in specs:
        assert spec.data == specs[0].data
        task = task_of(spec)
        modules = task.build_modules(spec, task.meta(dataset))
        step = task.build_step(spec, modules)
        z, y = step.latents(2, 0, "z-g")
        with torch.no_grad():
            images = modules.G.eval()(z, y)
            modules.D.eval()(images, y if step.num_classes else None)
        assert images.shape == (2, *dataset.img_shape)


def test_the_command_refuses_a_bad_study_before_ray_starts(tmp_path, monkeypatch):
    """One error line and exit code 2; the study never reaches Ray."""
    import yaml
    from typer.testing import CliRunner

    import ganforge.study.run as run
    from ganforge.cli import _register_commands, app

    if not app.registered_commands:
        _register_commands()

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started for a study that should have been refused")

    monkeypatch.setattr(run, "run_study", no_ray)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "at": [4], "metrics": [FID], "grid": {"loss.name": ["nope"]}}))
    outcome = CliRunner().invoke(app, ["study", str(path)])
    assert outcome.exit_code == 2, outcome.output
    assert "variant 'loss.name=nope': loss.name: unknown loss 'nope'" in outcome.output
