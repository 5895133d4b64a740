"""``hydra/launcher=distml_ray``: each trial of `distml run -m` is a Ray task on the cluster.

Hydra only loads plugins from the ``hydra_plugins`` namespace package; distml puts this folder's
parent on ``sys.path`` before Hydra starts (distml/cli.py), so no separate install is needed.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.launcher import Launcher


@dataclass
class DistmlRayLauncherConf:
    _target_: str = "hydra_plugins.distml_ray_launcher.ray_launcher.DistmlRayLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="distml_ray", node=DistmlRayLauncherConf)


class DistmlRayLauncher(Launcher):
    def __init__(self) -> None:
        self.config = None
        self.task_function = None
        self.hydra_context = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        from distml import sweep

        return sweep.launch(self, job_overrides, initial_job_idx)
