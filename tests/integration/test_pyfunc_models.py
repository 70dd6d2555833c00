"""Every registered generator predicts through MLflow's pyfunc.

For each family of the models registry (unconditional and conditional, where the family builds
both; InfoGAN with its categorical and continuous codes), a tiny generator is saved the way
training saves it (``generator_state`` + ``atomic_save``), logged and registered into one sqlite
store for the module, loaded with ``mlflow.pyfunc.load_model("models:/NAME/1")`` and asked for
images: the right shape and range, equal to calling the generator itself with the same latents,
labels and codes, and different when only the label (or the codes) change.
"""
from __future__ import annotations

import json
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from ganforge.models import families
from zoo_sizes import missing_families, tiny

pytestmark = pytest.mark.integration

CLASSES, ROWS = 10, 3  # the digits data set's labels; images per prediction


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One sqlite MLflow store (and artifact folder) for the whole module."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("pyfunc-models")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(uri)
    experiment = client.create_experiment("pyfunc-models", artifact_location=str(root / "artifacts"))
    return SimpleNamespace(root=root, uri=uri, client=client, experiment=experiment)


def variants(family: str) -> list[tuple[str, torch.nn.Module, dict]]:
    """(label, generator in eval mode, spec document) for each of unconditional / conditional that
    ``family`` builds; a family refuses the other with an error that says so."""
    from ganforge.config import ExperimentSpec
    from ganforge.models import build_models

    document = tiny(family)
    built = []
    for conditional in (False, True):
        spec = ExperimentSpec(data={"name": "digits", "resolution": document["res"]}, loss=document["loss"],
                              model={**document["model"], "conditional": conditional})
        try:
            torch.manual_seed(0)
            generator, _ = build_models(spec.model, (3, document["res"], document["res"]), CLASSES)
        except ValueError as err:
            assert "conditional" in str(err), err  # a refused variant, not a broken build
            continue
        built.append(("cond" if conditional else "uncond", generator.eval(), spec.to_dict()))
    assert built, f"{family} builds neither unconditionally nor conditionally"
    return built


def register(store, generator: torch.nn.Module, spec: dict, name: str, directory):
    """Save ``generator`` as training does, log and register it as ``name``; load it back."""
    import mlflow

    from ganforge.tracking import log_generator
    from ganforge.train.checkpoint import GENERATOR_FILE, atomic_save, generator_state

    meta = {"img_shape": list(generator.img_shape), "num_classes": CLASSES}
    path = atomic_save(generator_state(generator, spec, meta, step=1), directory / GENERATOR_FILE)
    run_id = store.client.create_run(store.experiment).info.run_id
    log_generator(run_id, store.uri, path, registered_name=name)
    return mlflow.pyfunc.load_model(f"models:/{name}/1")


def frame(z: torch.Tensor, labels: torch.Tensor | None = None, codes: torch.Tensor | None = None) -> pd.DataFrame:
    """The input a client sends: rows of plain float lists (as JSON gives them), ints for labels."""
    columns = {"z": z.tolist()}
    if labels is not None:
        columns["class_id"] = labels.tolist()
    if codes is not None:
        columns["codes"] = codes.tolist()
    return pd.DataFrame(columns)


def direct(generator, z, labels, codes=None) -> np.ndarray:
    """What the generator itself makes of the same input."""
    with torch.no_grad():
        if codes is not None:
            z = generator.latent_with_codes(z, codes)
        return generator(z, labels).numpy()


def over_rest(model, rows: pd.DataFrame) -> np.ndarray:
    """What ``mlflow models serve`` answers to POST /invocations with these rows as JSON records
    (MLflow's scoring-server handler, in process)."""
    from mlflow.pyfunc.scoring_server import invocations

    body = json.dumps({"dataframe_records": rows.to_dict("records")})
    reply = invocations(body, "application/json", model, model.metadata.get_input_schema())
    assert reply.status == 200, reply.response
    return np.asarray(json.loads(reply.response)["predictions"], dtype=np.float32)


def check_schema(model, generator) -> None:
    """The signature names what this generator needs, and the metadata its own sizes."""
    n_codes = getattr(generator, "n_cont", 0)
    expected = ["z"] + ["class_id"] * bool(generator.num_classes) + ["codes"] * bool(n_codes)
    schema = model.metadata.get_input_schema()
    assert schema.input_names() == expected
    assert schema.required_input_names() == [n for n in expected if n != "codes"]
    assert model.metadata.get_output_schema().inputs[0].shape == (-1, *generator.img_shape)
    assert model.metadata.metadata == {"z_dim": generator.z_dim, "num_classes": generator.num_classes,
                                       "num_codes": n_codes, "img_shape": list(generator.img_shape)}


def check_predictions(model, generator, name: str) -> None:
    """Shape, range, equality with G(z, y) (in Python and over REST), labels and codes honoured,
    and generator.pt where sampling and serving look for it."""
    from ganforge.sampling import load_generator

    z = torch.randn(ROWS, generator.z_dim, generator=torch.Generator().manual_seed(1))
    labels = torch.arange(ROWS) % generator.num_classes if generator.num_classes else None
    images = model.predict(frame(z, labels))
    assert images.shape == (ROWS, *generator.img_shape) and images.dtype == np.float32
    assert np.isfinite(images).all() and np.abs(images).max() <= 1
    np.testing.assert_allclose(images, direct(generator, z, labels), rtol=0, atol=1e-6)
    np.testing.assert_allclose(over_rest(model, frame(z, labels)), images, rtol=0, atol=1e-6)
    # serving and sampling read the generator.pt artifact of the same logged model
    np.testing.assert_allclose(direct(load_generator(f"models:/{name}/1").generator, z, labels), images, rtol=0, atol=1e-6)
    if generator.num_classes:
        zeros, ones = torch.zeros(ROWS, dtype=torch.long), torch.ones(ROWS, dtype=torch.long)
        as_zero, as_one = model.predict(frame(z, zeros)), model.predict(frame(z, ones))
        assert not np.allclose(as_zero, as_one), "class_id 0 and 1 gave the same images"
        np.testing.assert_allclose(as_one, direct(generator, z, ones), rtol=0, atol=1e-6)
    if n_codes := getattr(generator, "n_cont", 0):
        codes = torch.linspace(-0.8, 0.8, ROWS * n_codes).reshape(ROWS, n_codes)
        with_codes = model.predict(frame(z, labels, codes))
        assert not np.allclose(with_codes, images), "the codes column changed nothing"
        np.testing.assert_allclose(with_codes, direct(generator, z, labels, codes), rtol=0, atol=1e-6)


def test_every_family_has_a_tiny_size():
    assert not missing_families(families("generate")), missing_families(families("generate"))


@pytest.mark.parametrize("family", families("generate"))
def test_registered_generator_predicts_through_pyfunc(family, store):
    for label, generator, spec in variants(family):
        name = f"{family}-{label}"
        directory = store.root / name
        model = register(store, generator, spec, name, directory)
        check_schema(model, generator)
        check_predictions(model, generator, name)


def test_wrong_latent_size_and_missing_labels_are_clear_errors():
    """A client that sends the spec's z_dim to InfoGAN (whose z carries its codes) is told the size."""
    from ganforge.pyfunc import GeneratorModel

    (_, generator, _), = variants("infogan")
    model = GeneratorModel()
    model.generator = generator
    z = torch.zeros(2, generator.z_dim - generator.n_cont)
    with pytest.raises(ValueError, match=f"'z' needs {generator.z_dim} floats per row, got {z.shape[1]}"):
        model.predict(None, frame(z, torch.zeros(2, dtype=torch.long)))
    with pytest.raises(ValueError, match="needs a 'class_id' column"):
        model.predict(None, frame(torch.zeros(2, generator.z_dim)))
    with pytest.raises(ValueError, match="class_id must lie in 0..2"):
        model.predict(None, frame(torch.zeros(2, generator.z_dim), torch.tensor([0, 3])))


# ------------------------------------------------------------------ paired models: an image batch in, an image batch out
@pytest.mark.parametrize("family", families("paired"))
def test_registered_translator_predicts_its_image_batch_through_pyfunc(family, store):
    """models:/NAME/1 of a paired generator: [n, C, h, w] float32 in [-1, 1] -> G(x) [n, C', H, W]
    (in Python and over REST), its TensorSpec signature and metadata stating task, shapes and scale."""
    import mlflow
    from registered_model import TINY_TRANSLATORS, save_tiny_translator

    from ganforge.sampling import load_generator
    from ganforge.tracking import log_generator

    name = f"{family}-paired"
    file = save_tiny_translator(store.root / name, family)
    log_generator(store.client.create_run(store.experiment).info.run_id, store.uri, file, registered_name=name)
    model = mlflow.pyfunc.load_model(f"models:/{name}/1")
    generator = load_generator(f"models:/{name}/1").generator
    _, _, input_shape, target_shape, _ = TINY_TRANSLATORS[family]
    assert model.metadata.metadata == {"task": "paired", "input_shape": list(input_shape),
                                       "img_shape": list(target_shape), "scale": target_shape[1] // input_shape[1]}
    assert model.metadata.get_input_schema().inputs[0].shape == (-1, *input_shape)
    assert model.metadata.get_output_schema().inputs[0].shape == (-1, *target_shape)
    x = np.random.default_rng(2).uniform(-1, 1, (ROWS, *input_shape)).astype(np.float32)
    images = model.predict(x)
    assert images.shape == (ROWS, *target_shape) and images.dtype == np.float32
    with torch.no_grad():
        np.testing.assert_allclose(images, generator(torch.from_numpy(x)).numpy(), rtol=0, atol=1e-6)
    assert not np.allclose(model.predict(-x), images), "another input gave the same output"
    np.testing.assert_allclose(translated_over_rest(model, x), images, rtol=0, atol=1e-5)


def translated_over_rest(model, x: np.ndarray) -> np.ndarray:
    """What ``mlflow models serve`` answers to POST /invocations with ``{"inputs": x}`` (in process)."""
    from mlflow.pyfunc.scoring_server import invocations

    reply = invocations(json.dumps({"inputs": x.tolist()}), "application/json", model, model.metadata.get_input_schema())
    assert reply.status == 200, reply.response
    return np.asarray(json.loads(reply.response)["predictions"], dtype=np.float32)


def test_a_translator_told_the_wrong_image_size_says_which_it_takes(tmp_path):
    from registered_model import save_tiny_translator

    from ganforge.pyfunc import GeneratorModel
    from ganforge.sampling import load_generator

    model = GeneratorModel()
    model.generator = load_generator(str(save_tiny_translator(tmp_path / "sr", "srresnet").parent)).generator
    with pytest.raises(ValueError, match=re.escape("input must be float32 [n, 1, 16, 16] in [-1, 1] (the model's "
                                                   "input_shape), got [2, 1, 32, 32]")):
        model.predict(None, np.zeros((2, 1, 32, 32), dtype=np.float32))
    assert model.predict(None, np.zeros((1, 16, 16), dtype=np.float32)).shape == (1, 1, 32, 32)  # one image: a batch of one
