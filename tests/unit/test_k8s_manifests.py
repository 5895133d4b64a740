"""k8s/ manifests validate against the KubeRay v1.7.0 CRDs and agree with the project."""

import re
import shlex
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CRDS = {"RayJob": "ray.io_rayjobs.yaml", "RayCluster": "ray.io_rayclusters.yaml"}


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
    pinned = re.search(r"ray\[default\]==([0-9.]+)", docker).group(1)
    assert base == pinned == ray.__version__
    assert re.search(r"^USER 1000$", docker, re.M)
    for path in MANIFESTS:
        assert (
            yaml.safe_load(path.read_text())["spec"].get(
                "rayVersion",
                yaml.safe_load(path.read_text())["spec"]
                .get("rayClusterSpec", {})
                .get("rayVersion"),
            )
            == ray.__version__
        )


def test_image_pins_every_runtime_dependency():
    """The image installs distml with --no-deps: each dependency must be pinned there."""
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    docker = (ROOT / "k8s" / "Dockerfile").read_text()
    for dep in deps:
        name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0)
        assert re.search(rf'"{re.escape(name)}(\[[^\]]*\])?==[0-9.]+"', docker), name
