"""What the HTML book needs besides its pages: which explorer view notebooks show, and offline scripts.

The book is read without a kernel and without a network. So ``rtsu run`` / ``rtsu book`` ask the
kernels they start for the *static* explorers (``use_static_explorers``), and the scripts those
explorers need are copied from installed packages into a gitignored folder of the book before
``jupyter-book build`` (``install_offline_assets``); nothing is loaded from another host.
"""

import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

STATIC_EXPLORERS_ENV = "RTSU_STATIC_EXPLORERS"
# relative to the book folder; gitignored. (Not "vendor": the theme writes its own _static/vendor/.)
OFFLINE_FOLDER = Path("_static") / "offline"


def use_static_explorers():
    """Kernels started from now on by this process show the static explorers (no ipywidgets state)."""
    os.environ[STATIC_EXPLORERS_ENV] = "1"


def static_explorers_requested() -> bool:
    return os.environ.get(STATIC_EXPLORERS_ENV) == "1"


def offline_assets() -> dict[str, Path]:
    """File name in the offline folder -> the installed file it is copied from."""
    import plotly

    return {"plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js"}


def install_offline_assets(book_dir) -> list[Path]:
    """Copy the scripts of ``offline_assets`` into ``book_dir/_static/offline`` (every page loads them)."""
    folder = Path(book_dir) / OFFLINE_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, source in offline_assets().items():
        if not source.is_file():
            raise FileNotFoundError(f"{source} is missing: reinstall the package that ships {name}")
        shutil.copyfile(source, folder / name)
        copied.append(folder / name)
    log.info("offline assets in %s: %s", folder, ", ".join(path.name for path in copied))
    return copied
