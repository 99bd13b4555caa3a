"""One writability check for every folder a script writes into (srcnn/core/files.py)."""

import os

import pytest

from srcnn.core.errors import OutputError
from srcnn.core.files import ensure_writable_folder


def test_missing_folder_is_created_and_the_probe_leaves_nothing(tmp_path):
    folder = tmp_path / "a" / "b"
    ensure_writable_folder(str(folder), "output")
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_a_file_in_the_way_is_one_line_naming_it_and_no_flag(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(OutputError, match=r"taken/x3: cannot create the log folder \(.*taken is a file\)$"):
        ensure_writable_folder(str(tmp_path / "taken" / "x3"), "log")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_a_folder_that_takes_no_files_is_refused_even_where_os_access_says_yes():
    # procfs takes no new files, yet os.access reports it writable to root.
    with pytest.raises(OutputError, match=r"^/proc: the output folder is not writable \(.*\)$"):
        ensure_writable_folder("/proc", "output")
