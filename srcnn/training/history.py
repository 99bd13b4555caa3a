"""history.csv: one row per epoch trained, kept in the run's log folder (`srcnn.training.run_folder`).

Written by the training loop (each epoch's row by an atomic rewrite, so a kill leaves it whole or absent),
read back by training (to resume and trim), the sample page (`srcnn.training.report`) and the
time-to-quality benchmark.
"""

import csv
import io
import math
import os

from srcnn.core.errors import RunFolderError, os_reason
from srcnn.core.outputs import csv_kind, rewriting

FIELDS = ("epoch", "step", "seconds", "loss", "psnr", "bicubic_psnr")
FILE_NAME = "history.csv"
HISTORY = csv_kind("history.csv", ",".join(FIELDS))
MAX_BYTES = 64 * 2**20  # about 800,000 rows; a larger file is not one training's history
# What each field may hold, read back: (lowest, highest, whole numbers only, NaN allowed).
# NaN PSNRs are a run without test images; anything else out of range is a damaged row.
_RANGES = {"epoch": (1, 2**53, True, False), "step": (0, 2**53, True, False),
           "seconds": (0, 1e12, False, False), "loss": (0, 1e12, False, False),
           "psnr": (-1000, 1000, False, True), "bicubic_psnr": (-1000, 1000, False, True)}


def read(path):
    """(rows, clean): the whole rows of history.csv as dicts of floats (no file: none), and
    False when the file also holds a damaged or cut-off one (a kill mid-write, or bytes that
    are not text), which is left out and which a rewrite should drop.

    Raises:
        RunFolderError: the file cannot be read (the log folder's setting).
    """
    if not os.path.exists(path):
        return [], True
    if not os.path.isfile(path) and not os.path.isdir(path):  # /dev/zero or a pipe would be read for ever
        raise RunFolderError(f"{path}: not a regular file, so not a history.csv; move it away", "log_dir")
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            text = handle.read(MAX_BYTES + 1)
    except OSError as error:
        raise RunFolderError(f"{path}: cannot read ({os_reason(error)}); move it away", "log_dir") from None
    if len(text) > MAX_BYTES:
        raise RunFolderError(f"{path}: over {MAX_BYTES // 2**20} MB, not one training's history.csv; move it away",
                             "log_dir")
    lines = text.splitlines(keepends=True)
    clean = not lines or lines[-1].endswith("\n")
    whole = [line for line in lines if line.endswith("\n")]
    rows = []
    header = next(csv.reader(whole[:1]), [])
    for line in whole[1:]:
        try:
            row = dict(zip(header, next(csv.reader([line]))))
            rows.append({field: _checked(field, float(row[field])) for field in FIELDS})
        except (KeyError, TypeError, ValueError, csv.Error, StopIteration):
            clean = False
    return rows, clean


def _checked(field, value):
    """`value` if `field` may hold it (see _RANGES), else ValueError."""
    lowest, highest, whole, nan_allowed = _RANGES[field]
    if math.isnan(value) and nan_allowed:
        return value
    if not lowest <= value <= highest or (whole and value != int(value)):  # NaN fails the comparison
        raise ValueError(f"{field} {value} is out of range")
    return value


def _format(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS)
    writer.writeheader()
    for row in rows:
        writer.writerow({field: int(row[field]) if field in ("epoch", "step") else row[field] for field in FIELDS})
    return buffer.getvalue()


def write(path, rows):
    """Rewrites history.csv atomically (temporary file, then rename)."""
    try:
        with rewriting(path, HISTORY) as temporary, open(temporary, "w", newline="") as handle:
            handle.write(_format(rows))
    except OSError as error:
        raise RunFolderError(f"{path}: cannot write ({os_reason(error)})", "log_dir") from None


def append(path, row):
    """Adds one row: the file is rewritten with it (`write`), so a kill leaves it with or without the row."""
    rows, _ = read(path)
    write(path, rows + [row])
