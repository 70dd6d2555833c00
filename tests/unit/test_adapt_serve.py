"""An adapted generator serves (issue 14): the Serve app's own model side of /v1/generate, in
process (no Serve app is started: tests/integration/test_serve.py covers the HTTP layer). The BSA
generator's own file is read as the replica reads it (GeneratorServer._read), described as a
generate-task model the route accepts, and answered by forward_jobs with the adapted G's images."""
from __future__ import annotations

import importlib
import io
import types

import numpy as np
import pytest
import torch
from PIL import Image

from ganforge.commands.serve import serving_module
from adapt_sources import adapt_spec, build, save_source

pytestmark = pytest.mark.unit


def test_the_adapted_generator_is_answered_on_the_generate_route(tmp_path):
    from ganforge.sampling import latents
    from ganforge.train.checkpoint import atomic_save, generator_state

    serving_module()  # serving/ sits beside platform/: puts the checkout on the path
    app = importlib.import_module("serving.app")
    generate = importlib.import_module("serving.generate")
    translate = importlib.import_module("serving.translate")

    spec = adapt_spec(save_source(tmp_path / "src" if (tmp_path / "src").mkdir() is None else None))
    _, meta, modules, step = build(spec)
    for index in range(2):
        step([], index)
    file = atomic_save(generator_state(modules.G, spec.to_dict(), meta, 2), tmp_path / "adapted" / "generator.pt")
    (tmp_path / "src" / "checkpoint.pt").unlink()  # served without the source

    replica = types.SimpleNamespace(sources={"faces": str(file.parent)}, device="cpu", tracking_uri=None, precisions={})
    generator, info = app.GeneratorServer.func_or_class._read(replica, "faces")
    assert (info["task"], info["z_dim"], info["num_classes"], info["channels"]) == ("generate", 16, 0, 1)
    translate.require_task(info, "generate", "/v1/generate")  # the route's own check passes
    job = {**app.GenerateRequest(n=1, seed=7).model_dump(), "model": "faces"}
    reply = generate.forward_jobs({"faces": generator}, [job], replica.precisions)[0]
    served = np.asarray(Image.open(io.BytesIO(reply["png"])))
    with torch.no_grad():
        expected = modules.G.eval()(latents(1, 16, 7, None))[0, 0]
    assert served.shape == (32, 32)
    assert np.abs(served.astype(float) - ((expected.clamp(-1, 1) + 1) * 127.5).round().numpy()).max() <= 1
    assert served.std() > 0  # an image, not a blank
