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


def test_a_variant_setting_a_whole_section_keeps_the_studys_schedule():
    """A variant's ``eval: {...}`` (or ``train: {...}``) replaces that section of its document;
    the trial still trains to max(at) and evaluates, checkpoints and samples on every ``at`` step
    (before, such a variant trained with eval.every 0: no metric, every cell n/a)."""
    from ganforge.study.run import _trial_fn, search_spec, variant_trial
    from ganforge.tune.trial import trial_spec

    eval_section = {"metrics": ["fid"], "n": 32, "extractor": "domain:digits"}
    parsed = study(at=[4, 6], variants=[{"name": "a", "set": {"eval": eval_section}},
                                        {"name": "b", "set": {"train": {"batch_size": 16, "torch_threads": 1}}}])
    bound = {}
    _trial_fn(parsed, trial=lambda config, **kwargs: bound.update(kwargs))({"study.variant": "a", "train.seed": 0})
    base = search_spec(parsed).user_document()
    for name in ("a", "b"):
        params, document = variant_trial({"study.variant": name, "train.seed": 0}, bound["variants"],
                                         bound["documents"], base)
        spec = trial_spec(document, params, {})
        assert (spec.train.steps, spec.eval.every, spec.train.checkpoint_every, spec.train.sample_every) == (6, 2, 2, 2)
    assert spec.train.batch_size == 16
    assert parsed.variants["a"] == {"eval": eval_section}  # the plan (study.json) keeps what the document wrote


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
    ({"variants": [{"name": "x", "spec": "no/such.yaml"}]}, "study variant 'x' spec: spec file 'no/such.yaml' not found"),
    ({"base": None}, "study base: missing; give base: (a spec path or document) or a spec: for every variant (without one: a, b)"),
    ({"real_data_tables": ["nope"]}, "study real_data_tables: unknown table 'nope'; valid: is_sample_size"),
    ({"table_per": "data.nope"}, "study table_per: 'data.nope' is not a spec key"),
    ({"variants": [{"name": "it's"}]}, "study variants.0.name: String should match pattern"),
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


SHIPPED = {  # study -> (variants, the most steps: CPU-sized)
    "augmentation": (4, 1000), "spectral-norm": (4, 1000), "six-models-mifid": (6, 1000),
    "fastgan-ablation": (3, 1000), "stylegan-lite-lr-optim-schedule": (8, 1000),
    "sngan-biggan-adaptation": (8, 5000),  # the report's 500/2,000/5,000 iterations: 25 images at 32 px
}


def _forward(spec, datasets: dict) -> None:
    """The variant's G makes images of its data's shape that its D takes."""
    import torch

    from ganforge.data import build_dataset
    from ganforge.tasks import task_of

    key = spec.data.model_dump_json()
    if key not in datasets:  # variants mostly share their data
        datasets[key] = build_dataset(spec.data.model_copy(update={"limit": 16}))
    dataset = datasets[key]
    task = task_of(spec)
    modules = task.build_modules(spec, task.meta(dataset))
    step = task.build_step(spec, modules)
    z, y = step.latents(2, 0, "z-g")
    with torch.no_grad():
        images = modules.G.eval()(z, y)
        modules.D.eval()(images, y if step.num_classes else None)
    assert images.shape == (2, *dataset.img_shape)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_studies_validate_and_their_variants_build(name):
    """Each variant of a shipped study is a spec whose G's images go through its D; an
    adaptation variant is an adapt-task spec (its source is a registered model, checked when the
    study starts)."""
    from ganforge.adapt import ADAPT_METHODS
    from ganforge.config import spec_from_dict
    from ganforge.study.spec import load_study, variant_document
    from ganforge.tune.space import apply_params

    parsed = load_study(REPO / "jobs" / "studies" / f"{name}.yaml")
    count, most = SHIPPED[name]
    assert len(parsed.variants) == count and max(parsed.at) <= most
    datasets: dict = {}
    built = set()
    for variant, params in parsed.variants.items():
        spec = spec_from_dict(apply_params(variant_document(parsed, variant), params))
        assert spec.tracking.experiment == f"study-{name}"  # every child run beside its parent
        if spec.adapt is not None:
            assert spec.task == "adapt" and spec.adapt.method in ADAPT_METHODS
            continue
        networks = (spec.model.model_dump_json(), spec.loss.model_dump_json(), spec.data.model_dump_json())
        if networks not in built:  # cells differing only in optimiser or schedule share their networks
            built.add(networks)
            _forward(spec, datasets)


def test_a_variant_can_be_a_full_spec_given_inline_or_as_a_path(tmp_path):
    """Its own document replaces the base (set and the study's set on top); a plain variant
    keeps the base; the trial of each trains from its own document."""
    import yaml

    from ganforge.study.run import variant_trial
    from ganforge.study.spec import variant_document

    own = {**BASE, "model": {"name": "gan", "z_dim": 8}, "tracking": {"experiment": "elsewhere"}}
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(own))
    parsed = study(base={**BASE, "tracking": {"experiment": "mine"}}, set={"train.batch_size": 8},
                   variants=[{"name": "a"}, {"name": "inline", "spec": own, "set": {"loss.name": "hinge"}},
                             {"name": "file", "spec": str(tmp_path / "own.yaml")}])
    assert sorted(parsed.documents) == ["file", "inline"]
    for name in ("inline", "file"):
        document = variant_document(parsed, name)
        assert document["model"]["name"] == "gan" and document["train"]["batch_size"] == 8
        assert document["tracking"]["experiment"] == "mine"  # the child run lands beside the parent
    assert variant_document(parsed, "a")["model"]["name"] == "dcgan"
    documents = {name: variant_document(parsed, name) for name in parsed.documents}
    params, document = variant_trial({"study.variant": "inline", "train.seed": 3}, parsed.variants, documents, parsed.base)
    assert params == {"loss.name": "hinge", "train.seed": 3} and document["model"]["name"] == "gan"
    assert variant_trial({"study.variant": "a", "train.seed": 0}, parsed.variants, documents, parsed.base)[1] is parsed.base


def test_an_adaptation_variant_is_an_adapt_trial_and_needs_no_base():
    """Variants given as ganforge adapt specs (no base): the adapt task, its method, the
    study's schedule; table_per groups them by target data set."""
    from ganforge.config import spec_from_dict
    from ganforge.study.spec import parse_study, variant_document

    adapt = REPO / "jobs" / "adapt"
    parsed = parse_study({"name": "t", "at": [10, 20], "metrics": ["fid"], "table_per": "data.name",
                          "variants": [{"name": "bsa", "spec": str(adapt / "bsa-sngan-faces.yaml")},
                                       {"name": "ft", "spec": str(adapt / "finetune-sngan-faces.yaml")}],
                          "grid": {"data.limit": [25, 50]}})
    assert parsed.groups["bsa / data.limit=25"] == "data.name=lfw-faces"
    spec = spec_from_dict(variant_document(parsed, "ft / data.limit=50"))
    assert (spec.task, spec.adapt.method, spec.train.steps, spec.eval.every) == ("adapt", "finetune", 20, 10)
    assert parsed.base["adapt"]["method"] == "bsa"  # the search's own settings come from the first


def test_the_command_pins_an_adaptation_variants_source_before_ray(monkeypatch):
    """What ganforge adapt checks (and its pinning of models:/NAME/latest) runs for every
    adaptation variant, and the pinned source is what the trials train from."""
    import ganforge.commands.adapt as adapt_command
    from ganforge.commands.study import check_variant_specs
    from ganforge.study.spec import parse_study, variant_document

    def pinned(spec):
        return spec.model_copy(update={"adapt": spec.adapt.model_copy(update={"source": "models:/adapt-sngan-fashion/3"})})

    monkeypatch.setattr(adapt_command, "checked_spec", pinned)
    parsed = parse_study({"name": "t", "at": [10], "metrics": ["fid"],
                          "variants": [{"name": "bsa", "spec": str(REPO / "jobs" / "adapt" / "bsa-sngan-faces.yaml")}]})
    check_variant_specs(parsed)
    assert variant_document(parsed, "bsa")["adapt"]["source"] == "models:/adapt-sngan-fashion/3"


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
