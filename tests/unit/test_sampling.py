import pytest
import torch
from registered_model import same_weights, save_tiny_generator, tiny_registry

from ganforge.config import ExperimentSpec
from ganforge.models import build_models
from ganforge.sampling import SourceError, check_source, interpolate, latents, load_generator, sample_images
from ganforge.train.checkpoint import atomic_save, generator_state

pytestmark = pytest.mark.unit


def test_latents_seeded_and_truncated():
    assert torch.equal(latents(4, 8, seed=3), latents(4, 8, seed=3))
    assert not torch.equal(latents(4, 8, seed=3), latents(4, 8, seed=4))
    z = latents(256, 16, seed=0, truncation=0.5)
    assert z.abs().max() <= 0.5 and z.std() > 0.2  # resampled, not clamped to the bound


def test_checkpoint_dir_round_trip_and_sampling(tmp_path):
    spec = ExperimentSpec(model={"z_dim": 8, "conditional": True, "options": {"ngf": 8, "ndf": 8}})
    G, _ = build_models(spec.model, (1, 16, 16), 10)
    atomic_save(generator_state(G, spec.to_dict(), {"img_shape": [1, 16, 16], "num_classes": 10}, 5),
                tmp_path / "generator.pt")
    loaded = load_generator(str(tmp_path))
    assert loaded.info["step"] == 5 and not loaded.generator.training
    a = sample_images(loaded.generator, 6, seed=1, class_id=3)
    assert a.shape == (6, 1, 16, 16) and torch.equal(a, sample_images(loaded.generator, 6, seed=1, class_id=3))
    assert not torch.equal(a, sample_images(loaded.generator, 6, seed=1, class_id=4))
    with pytest.raises(ValueError, match="class_id 10"):
        sample_images(loaded.generator, 1, class_id=10)
    strip = interpolate(loaded.generator, 1, 2, steps=5)
    assert strip.shape == (5, 1, 16, 16)
    with pytest.raises(ValueError, match="style-based"):
        interpolate(loaded.generator, 1, 2, steps=5, space="w")


# ------------------------------------------------------------------ generator sources
@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """models:/tiny versions 1 (alias champion) and 2, each logged from its own run; run 1 also
    holds its generator.pt as a plain artifact under checkpoints/."""
    import mlflow

    registry = tiny_registry(tmp_path_factory.mktemp("sources"))
    mlflow.MlflowClient(registry.uri).log_artifact(registry.runs[0], str(registry.files[0]), "checkpoints")
    return registry


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> str:
    import mlflow

    uri = f"sqlite:///{tmp_path_factory.mktemp('other') / 'other.db'}"
    mlflow.MlflowClient(uri).search_experiments()  # creates the empty store
    return uri


@pytest.fixture
def other_default_store(empty_store, monkeypatch):
    """MLflow's process default points at another (empty) store: the caller's URI must win."""
    import mlflow

    mlflow.set_tracking_uri(None)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", empty_store)


FORMS = [  # (source, with {run0}/{run1}/{model0} filled in, version whose weights it names, registry version)
    ("models:/tiny/1", 1, "1"),
    ("models:/tiny/2", 2, "2"),
    ("models:/tiny/latest", 2, "2"),
    ("models:/tiny/LATEST", 2, "2"),
    ("models:/tiny@champion", 1, "1"),
    ("models:/{model0}", 1, None),
    ("runs:/{run1}/generator", 2, None),
    ("runs:/{run0}/checkpoints/generator.pt", 1, None),
    ("runs:/{run0}/checkpoints", 1, None),
    ("{run1}", 2, None),
]


def _fill(source: str, store) -> str:
    return source.format(run0=store.runs[0], run1=store.runs[1], model0=store.model_ids[0])


@pytest.mark.parametrize("source,number,version", FORMS, ids=[f[0] for f in FORMS])
def test_every_source_form_loads_the_weights_it_names(store, other_default_store, source, number, version):
    loaded = load_generator(_fill(source, store), tracking_uri=store.uri)
    assert same_weights(loaded.generator, store.files[number - 1])
    assert not same_weights(loaded.generator, store.files[2 - number])
    assert loaded.run_id == store.runs[number - 1]
    assert loaded.info.get("version") == version and loaded.info["step"] == 7


def test_checkpoint_directory_and_file(tmp_path):
    file = save_tiny_generator(tmp_path / "ckpt", seed=3, step=9)
    for source in (str(file.parent), str(file)):
        loaded = load_generator(source)
        assert same_weights(loaded.generator, file) and loaded.run_id is None and loaded.info["step"] == 9


def test_check_source_resolves_without_downloading_and_pins_the_version(store, monkeypatch):
    import mlflow

    def no_download(*args, **kwargs):
        raise AssertionError("check_source downloaded artifacts")

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", no_download)
    assert check_source("models:/tiny/latest", store.uri).pinned == "models:/tiny/2"
    assert check_source("models:/tiny@champion", store.uri).pinned == "models:/tiny/1"
    assert check_source(store.runs[0], store.uri).pinned == f"runs:/{store.runs[0]}/generator"
    assert check_source(f"models:/{store.model_ids[1]}", store.uri).run_id == store.runs[1]


BAD = [  # (source, fragments the one-line message must hold)
    ("models:/nope/latest", ["no registered model 'nope'", "registered there: tiny"]),
    ("models:/tiny/9", ["no version 9", "versions: 2, 1"]),
    ("models:/tiny@gone", ["no alias 'gone'", "aliases: champion"]),
    ("models:/tiny/Production", ["'Production' is neither a version number nor 'latest'", "models:/tiny@ALIAS"]),
    ("models:/tiny", ["no logged model 'tiny'", "models:/tiny/latest"]),
    ("models:/a/b/c", ["not a models:/ URI", "models:/name@alias"]),
    ("runs:/{run0}", ["names a run and a path"]),
    ("runs:/{run0}/nothing", ["no logged model or artifact 'nothing'", "checkpoints", "runs:/{run0}/generator"]),
    ("0123456789abcdef0123456789abcdef", ["no MLflow run '0123456789abcdef0123456789abcdef'"]),
    ("no/such/dir", ["neither an existing checkpoint path", "models:/name/version", "runs:/<run id>/<path>"]),
]


@pytest.mark.parametrize("source,fragments", BAD, ids=[b[0] for b in BAD])
def test_bad_sources_get_one_line_naming_the_problem(store, source, fragments):
    with pytest.raises(SourceError) as caught:
        check_source(_fill(source, store), store.uri)
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, ValueError)
    for fragment in fragments:
        assert _fill(fragment, store) in message, message


def test_missing_sqlite_store_is_named_and_not_created(tmp_path):
    uri = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    with pytest.raises(SourceError, match="the MLflow store .* does not exist.*MLFLOW_TRACKING_URI"):
        check_source("models:/tiny/latest", uri)
    assert not (tmp_path / "nowhere").exists()


def test_a_file_that_is_not_a_generator_fails_to_load_with_one_line(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "generator.pt").write_bytes(b"not a checkpoint")
    assert check_source(str(tmp_path / "broken")).location.endswith("generator.pt")  # resolving is not loading
    with pytest.raises(SourceError, match="cannot be loaded as a ganforge generator"):
        load_generator(str(tmp_path / "broken"))
