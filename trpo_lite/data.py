"""Small precomputed results in data/: JSON files that carry their own metadata.

Every file is ``{"meta": {...}, "payload": {...}}`` where meta records the command that
regenerates it, the library version, the seeds and the date. Files are written to a
temporary file in the same folder and renamed, so an interrupted run never leaves a
half-written file; a missing or corrupt file raises an error naming the command to rerun.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from pathlib import Path

from . import __version__

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


class DataFileError(RuntimeError):
    """A data file is missing, unreadable or not what the notebook expects."""


def save_json(name, payload, command, seeds=(), data_dir=None, **meta):
    """Atomically write ``data_dir/name`` with metadata; returns the path."""
    folder = Path(data_dir) if data_dir is not None else DATA_DIR
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"meta": {"command": command, "trpo_lite_version": __version__, "seeds": list(seeds),
                    "date": _dt.date.today().isoformat(), **meta},
           "payload": payload}
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1, sort_keys=True, allow_nan=False)
            f.write("\n")
        os.replace(tmp, folder / name)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return folder / name


def load_json(name, command, data_dir=None, required=()):
    """Read ``data_dir/name``; return (payload, meta). ``required`` lists payload keys that must exist."""
    path = (Path(data_dir) if data_dir is not None else DATA_DIR) / name
    hint = f"regenerate it with: {command}"
    if not path.exists():
        raise DataFileError(f"data file {path.name} is missing; {hint}")
    try:
        doc = json.loads(path.read_text())
        payload, meta = doc["payload"], doc["meta"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise DataFileError(f"data file {path.name} is corrupt ({type(exc).__name__}: {exc}); {hint}") from None
    missing = [k for k in required if k not in payload]
    if missing:
        raise DataFileError(f"data file {path.name} lacks {missing}; {hint}")
    return payload, meta
