"""k8s/ manifests validate against the KubeRay v1.7.0 CRDs and agree with the project."""

import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRDS = {
    "RayJob": "ray.io_rayjobs.yaml",
    "RayCluster": "ray.io_rayclusters.yaml",
    "RayService": "ray.io_rayservices.yaml",
}


def _strict(node):
    """Unknown fields are errors (the API server prunes or rejects them)."""
    if isinstance(node, dict):
        if (
            node.get("type") == "object"
            and "properties" in node
            and "additionalProperties" not in node
            and not node.get("x-kubernetes-preserve-unknown-fields")
        ):
            node["additionalProperties"] = False
        for v in node.values():
            _strict(v)
    elif isinstance(node, list):
        for v in node:
            _strict(v)
    return node


def _schema(kind: str) -> dict:
    crd = yaml.safe_load((ROOT / "k8s" / "crds" / CRDS[kind]).read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return _strict(version["schema"]["openAPIV3Schema"])


MANIFESTS = sorted((ROOT / "k8s").glob("*.yaml"))


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_against_the_crd(path):
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "ray.io/v1"
    errors = list(jsonschema.Draft7Validator(_schema(doc["kind"])).iter_errors(doc))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_validation_catches_unknown_fields_and_wrong_types():
    doc = yaml.safe_load((ROOT / "k8s" / "rayjob.yaml").read_text())
    doc["spec"]["shutdownAfterJobFinish"] = True  # misspelt
    doc["spec"]["ttlSecondsAfterFinished"] = "ten minutes"
    errors = list(jsonschema.Draft7Validator(_schema("RayJob")).iter_errors(doc))
    assert len(errors) == 2


def test_entrypoint_runs_a_real_command_with_valid_overrides():
    from distml.cli import check_overrides

    doc = yaml.safe_load((ROOT / "k8s" / "rayjob.yaml").read_text())
    argv = shlex.split(doc["spec"]["entrypoint"])
    assert argv[:4] == ["python", "-m", "distml", "run"]
    check_overrides("run", argv[4:])  # raises a UserError naming an unknown key


def test_image_ray_version_matches_the_project_and_manifests():
    import ray

    docker = (ROOT / "k8s" / "Dockerfile").read_text()
    base = re.search(r"FROM rayproject/ray:([0-9.]+)", docker).group(1)
    pinned = re.search(r"ray\[default,serve\]==([0-9.]+)", docker).group(1)
    assert base == pinned == ray.__version__
    assert re.search(r"^USER 1000$", docker, re.M)
    for path in MANIFESTS:
        spec = yaml.safe_load(path.read_text())["spec"]
        cluster = spec.get("rayClusterSpec") or spec.get("rayClusterConfig") or spec
        assert cluster["rayVersion"] == ray.__version__, path.name


def test_image_pins_every_runtime_dependency():
    """The image installs distml with --no-deps: each dependency must be pinned there."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    docker = (ROOT / "k8s" / "Dockerfile").read_text()
    for dep in deps:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0)
        assert re.search(rf'"{re.escape(name)}(\[[^\]]*\])?==[0-9.]+"', docker), name


def test_rayservice_serve_config_is_valid_and_builds_distml_serve():
    """serveConfigV2 passes Ray Serve's own schema (types; its unknown keys are checked here, as
    Serve's schema lets them through), names distml's application builder, and its overrides
    compose against conf/serve.yaml."""
    from ray.serve.schema import HTTPOptionsSchema, ServeApplicationSchema, ServeDeploySchema

    from distml.cli import check_overrides
    from distml.serve.deployment import build_app

    doc = yaml.safe_load((ROOT / "k8s" / "rayservice.yaml").read_text())
    cfg = yaml.safe_load(doc["spec"]["serveConfigV2"])
    ServeDeploySchema.model_validate(cfg)  # raises on an unknown or mistyped field
    (app,) = cfg["applications"]
    assert set(cfg) <= set(ServeDeploySchema.model_fields)
    assert set(cfg["http_options"]) <= set(HTTPOptionsSchema.model_fields)
    assert set(app) <= set(ServeApplicationSchema.model_fields)
    module, attr = app["import_path"].split(":")
    assert f"{module}:{attr}" == "distml.serve.deployment:build_app" and callable(build_app)
    overrides = app["args"]["overrides"]
    check_overrides("serve", overrides)  # raises a UserError naming an unknown key
    assert any(o.startswith("model_run=") for o in overrides)
