"""Writing the report: only under its own folder, atomically, and only what changed.

A page is compared with the file already there and rewritten only when its bytes differ, through
a temporary file and a rename, so a browser or static host never sees half a page and a rebuild
with nothing new writes nothing. The report never writes into the run's ``.leobatch/`` folder,
nor straight into the recipe's folder or the output folder (where it could mix with their files).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from leobatch.errors import ReportError

__all__ = ["check_report_dir", "write_atomic", "write_if_changed"]


def check_report_dir(report_dir: Path, *, output_dir: Path, recipe_dir: Path | None) -> Path:
    """``report_dir`` made absolute, or :class:`ReportError` when the report must not go there."""
    target = report_dir.resolve()
    if ".leobatch" in target.parts:
        raise ReportError(
            f"-o {report_dir}: refusing to write into a .leobatch folder (the run journal lives "
            "there); choose another folder"
        )
    if recipe_dir is not None and target == recipe_dir.resolve():
        raise ReportError(
            f"-o {report_dir}: refusing to write the report into the recipe's folder itself; "
            "choose a folder of its own, such as report/"
        )
    if target == output_dir.resolve():
        raise ReportError(
            f"-o {report_dir}: refusing to write the report into the output folder itself; "
            "choose a folder of its own (the default is its report/ folder)"
        )
    return target


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` unless it already holds exactly that; returns whether it wrote."""
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    except OSError as e:
        raise ReportError(f"cannot read {path}: {e.strerror or e}") from e
    write_atomic(path, data)
    return True


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` through a temporary file in the same folder."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise ReportError(f"cannot write {path}: {e.strerror or e}") from e
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        tmp.replace(path)
    except OSError as e:
        raise ReportError(f"cannot write {path}: {e.strerror or e}") from e
    finally:
        tmp.unlink(missing_ok=True)
