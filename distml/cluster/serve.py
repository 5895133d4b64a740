"""Moved: the Ray Serve application is ``distml.serve.deployment`` (beside what a replica does).

Importing this module fails with the new import path, so a RayService manifest written for an
older distml (``import_path: distml.cluster.serve:build_app``) says what to change."""

raise ImportError(
    "distml.cluster.serve moved to distml.serve.deployment: in a RayService's serveConfigV2 set "
    "import_path: distml.serve.deployment:build_app (see k8s/rayservice.yaml)."
)
