import pytest

from ganforge.config import ExperimentSpec, SpecError, apply_overrides, dump_spec, load_spec, spec_from_dict

pytestmark = pytest.mark.unit


def write(tmp_path, text):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_round_trip(tmp_path):
    spec = load_spec(write(tmp_path, "model: {name: dcgan, options: {ngf: 32}}\ntrain: {steps: 7}\n"))
    out = tmp_path / "out.yaml"
    dump_spec(spec, out)
    assert load_spec(out) == spec
    assert spec.name == "spec" and spec.train.steps == 7 and spec.model.options["ngf"] == 32


def test_overrides_typed_and_nested(tmp_path):
    spec = load_spec(write(tmp_path, "train: {steps: 7}\n"),
                     ["train.steps=200", "optim.g.lr=1e-4", "model.options.ngf=16", "augment.preset=blur"])
    assert spec.train.steps == 200 and spec.optim.g.lr == pytest.approx(1e-4)
    assert spec.optim.d.lr == pytest.approx(2e-4)
    assert spec.model.options["ngf"] == 16


def test_unknown_key_names_key_and_lists_valid(tmp_path):
    with pytest.raises(SpecError) as err:
        load_spec(write(tmp_path, "train: {stepz: 5}\n"))
    message = str(err.value)
    assert "train.stepz" in message and "steps" in message and "batch_size" in message


def test_wrong_type_names_key(tmp_path):
    with pytest.raises(SpecError, match=r"train\.steps"):
        load_spec(write(tmp_path, "train: {steps: many}\n"))


def test_unknown_model_option_is_an_error():
    with pytest.raises(SpecError, match="ngff"):
        spec_from_dict({"model": {"name": "dcgan", "options": {"ngff": 3}}})


def test_unknown_registered_names_list_valid_ones():
    with pytest.raises(SpecError, match="dcgan"):
        spec_from_dict({"model": {"name": "dcgaan"}})
    with pytest.raises(SpecError, match="wgan-gp"):
        spec_from_dict({"loss": {"name": "wgan-ggp"}})
    with pytest.raises(SpecError, match="nesterov"):
        spec_from_dict({"optim": {"g": {"name": "adamm"}}})


def test_bad_override_syntax():
    with pytest.raises(SpecError, match="KEY=VALUE"):
        apply_overrides({}, ["train.steps"])


def test_batch_must_split_across_workers():
    with pytest.raises(SpecError, match="global batch"):
        spec_from_dict({"train": {"batch_size": 63}, "scaling": {"workers": 2}})


def test_wgan_gets_paper_optimizer_unless_spec_sets_one():
    spec = ExperimentSpec(loss={"name": "wgan"})
    assert spec.optim.g.name == "rmsprop" and spec.optim.d.lr == pytest.approx(5e-5) and spec.loss.n_critic == 5
    own = ExperimentSpec(loss={"name": "wgan", "n_critic": 2}, optim={"g": {"name": "adam", "lr": 1e-3}})
    assert own.optim.g.name == "adam" and own.optim.g.lr == pytest.approx(1e-3) and own.loss.n_critic == 2
    assert own.optim.d.name == "rmsprop"  # not set by the spec: the paper's


def test_missing_and_invalid_yaml(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="mapping"):
        load_spec(write(tmp_path, "- a\n- b\n"))


def test_a_family_implies_its_task_and_recommends_the_papers_settings():
    spec = ExperimentSpec(data={"name": "silhouettes"}, model={"name": "pix2pix"})
    assert spec.task == "paired" and spec.train.ema == 0.0
    assert (spec.schedule.name, spec.schedule.options["hold_fraction"]) == ("constant-linear", 0.5)


def test_a_section_named_otherwise_than_recommended_keeps_none_of_its_options():
    """schedule: cosine under pix2pix's recommended constant-linear (whose hold_fraction cosine lacks)."""
    spec = ExperimentSpec(data={"name": "silhouettes"}, model={"name": "pix2pix"}, schedule={"name": "cosine"})
    assert spec.schedule.name == "cosine" and "hold_fraction" not in spec.schedule.options


def test_a_family_of_another_task_is_refused_naming_both():
    with pytest.raises(ValueError, match=r"model.name='pix2pix' is a paired model.*task='generate'"):
        ExperimentSpec(task="generate", model={"name": "pix2pix"}, data={"name": "silhouettes"})
    with pytest.raises(ValueError, match=r"data.name='digits' is a generate data set but task='paired'"):
        ExperimentSpec(model={"name": "pix2pix"}, data={"name": "digits"})
    with pytest.raises(ValueError, match="diffaugment"):
        ExperimentSpec(model={"name": "pix2pix"}, data={"name": "silhouettes"}, augment={"diffaugment": "color"})


@pytest.mark.parametrize("model, data", [("pix2pix", "silhouettes"), ("cyclegan", "digits-inverted")])
def test_ada_on_a_translation_task_is_refused_not_ignored(model, data):
    """Only the generate step augments D's view; a translation step would silently skip augment.ada."""
    with pytest.raises(ValueError, match=r"augment.ada .*augment.preset"):
        ExperimentSpec(model={"name": model}, data={"name": data}, augment={"ada": {"target": 0.6}})


def test_paired_only_fields_are_refused_on_a_generate_spec_instead_of_ignored():
    with pytest.raises(ValueError, match=r"loss.weights \['l1'\] weigh a paired model's terms"):
        ExperimentSpec(loss={"weights": {"l1": 1.0}})
    with pytest.raises(ValueError, match="--resume RUN_ID"):
        ExperimentSpec(model={"init_from": "models:/x/1"})
