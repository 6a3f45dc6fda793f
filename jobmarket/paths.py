"""Where the project keeps its state on disk.

Everything lives under one folder, ``$JOBMARKET_HOME`` (default: the user's data directory),
so a test or a second node can use a separate world by setting a single variable.
"""

import os
from pathlib import Path

from platformdirs import user_data_path


def home() -> Path:
    """The root folder for deployments, the content store and node databases."""
    configured = os.environ.get("JOBMARKET_HOME")
    path = Path(configured).expanduser() if configured else user_data_path("jobmarket")
    path.mkdir(parents=True, exist_ok=True)
    return path
