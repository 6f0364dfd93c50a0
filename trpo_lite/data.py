"""Small precomputed results in data/: JSON files that carry their own metadata.

Every file is ``{"meta": {...}, "payload": {...}}`` where meta records the command that
regenerates it, the library version, the seeds and the date. Files are written to a
temporary file in the same folder and renamed, so an interrupted run never leaves a
half-written file; a missing or corrupt file raises an error naming the command to rerun.

Where the files are (``find_data_dir()``, looked up at every call):

1. ``$TRPO_LITE_DATA_DIR``, if set: read and write there;
2. in a checkout of the repository (also an editable install): the repository's ``data/``,
   which ``python -m trpo_lite make-data`` rewrites;
3. in an installed wheel: the copy of data/ shipped inside the package
   (``trpo_lite/data_files/``, pyproject.toml maps data/ there), found with importlib.resources.

Every function also takes ``data_dir=`` to name a folder explicitly.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from importlib import resources
from pathlib import Path

from . import __version__

ENV_VAR = "TRPO_LITE_DATA_DIR"
_ROOT = Path(__file__).resolve().parent.parent
# The repository's data/ (what make-data writes in a checkout); see find_data_dir() for the lookup.
DATA_DIR = _ROOT / "data"
PACKAGE_DATA = "data_files"      # data/ inside an installed package: trpo_lite/data_files/


def _in_checkout():
    """True when this module runs from a source tree (the repository root holds pyproject.toml)."""
    return (_ROOT / "pyproject.toml").is_file() and DATA_DIR.is_dir()


def find_data_dir():
    """The folder data files are read from and written to (see the module docstring)."""
    override = os.environ.get(ENV_VAR, "").strip()
    if override:
        return Path(override).expanduser()
    if _in_checkout():
        return DATA_DIR
    installed = resources.files(__package__) / PACKAGE_DATA
    if installed.is_dir():
        return Path(str(installed))
    return DATA_DIR          # neither exists: load_json then says which command makes the file


class DataFileError(RuntimeError):
    """A data file is missing, unreadable or not what the notebook expects."""


def write_atomic(path, write, tmp=None):
    """Write ``path`` by ``write(file)`` into a temporary file in the same folder, then rename it.

    An interrupted or failing write leaves the old file as it was and no temporary file behind.
    ``tmp`` is a temporary file reserved beforehand (the CLI reserves it before training, so a
    bad path fails first); by default one is created here. Returns the path.
    """
    path = Path(path)
    if tmp is None:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.chmod(tmp, 0o644)
    try:
        with open(tmp, "w", newline="") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_json_atomic(path, doc, tmp=None):
    """``write_atomic`` for a JSON document (NaN and infinities are refused: use None)."""
    def write(f):
        json.dump(doc, f, indent=1, sort_keys=True, allow_nan=False)
        f.write("\n")
    return write_atomic(path, write, tmp)


def save_json(name, payload, command, seeds=(), data_dir=None, **meta):
    """Atomically write ``data_dir/name`` with metadata; returns the path."""
    folder = Path(data_dir) if data_dir is not None else find_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"meta": {"command": command, "trpo_lite_version": __version__, "seeds": list(seeds),
                    "date": _dt.date.today().isoformat(), **meta},
           "payload": payload}
    return write_json_atomic(folder / name, doc)


def load_json(name, command, data_dir=None, required=()):
    """Read ``data_dir/name``; return (payload, meta). ``required`` lists payload keys that must exist."""
    path = (Path(data_dir) if data_dir is not None else find_data_dir()) / name
    hint = f"regenerate it with: {command}"
    if not path.exists():
        raise DataFileError(f"data file {path.name} is missing from {path.parent}; {hint}")
    try:
        doc = json.loads(path.read_text())
        payload, meta = doc["payload"], doc["meta"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataFileError(f"data file {path.name} is corrupt ({type(exc).__name__}: {exc}); {hint}") from None
    missing = [k for k in required if k not in payload]
    if missing:
        raise DataFileError(f"data file {path.name} lacks {missing}; {hint}")
    return payload, meta
