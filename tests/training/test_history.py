"""history.csv: rows written whole, read back whole, damage left out and reported as not clean."""

import os

import pytest

from srcnn.training import history
from srcnn.core.errors import RunFolderError


def row(epoch):
    return {"epoch": epoch, "step": 100 * epoch, "seconds": 2.5 * epoch, "loss": 0.001, "psnr": 30.0 + epoch,
            "bicubic_psnr": 30.0}


def test_written_and_appended_rows_read_back(tmp_path):
    path = str(tmp_path / history.FILE_NAME)
    assert history.read(path) == ([], True)
    history.write(path, [row(1), row(2)])
    history.append(path, row(3))
    rows, clean = history.read(path)
    assert clean and [r["epoch"] for r in rows] == [1.0, 2.0, 3.0] and rows[2]["psnr"] == 33.0


@pytest.mark.parametrize("damage", [b"4,400,10", b"\xff\xfe,1,2\n", b"4,400,\x00,1,2,3\n", b"x,y,z,1,2,3\n"])
def test_a_damaged_or_cut_off_row_is_left_out_and_the_file_not_clean(tmp_path, damage):
    path = tmp_path / history.FILE_NAME
    history.write(str(path), [row(1), row(2)])
    with open(path, "ab") as handle:
        handle.write(damage)
    rows, clean = history.read(str(path))
    assert not clean and [r["epoch"] for r in rows] == [1.0, 2.0]


def test_an_unreadable_history_is_one_line(tmp_path):
    folder = tmp_path / history.FILE_NAME
    folder.mkdir()  # a folder where the file should be
    with pytest.raises(RunFolderError, match="history.csv: cannot read") as refused:
        history.read(str(folder))
    assert refused.value.setting == "log_dir" and "--" not in str(refused.value)


def test_a_row_is_never_appended_through_a_link_or_to_another_file(tmp_path):
    from srcnn.core.errors import OutputError

    row = {"epoch": 1, "step": 10, "seconds": 1.0, "loss": 0.1, "psnr": 30.0, "bicubic_psnr": 29.0}
    (tmp_path / "notes.txt").write_text("mine\n")
    os.symlink(tmp_path / "notes.txt", tmp_path / "history.csv")
    with pytest.raises(OutputError, match="is a link"):
        history.append(str(tmp_path / "history.csv"), row)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(OutputError, match="is not a history.csv"):
        history.append(str(tmp_path / "other.csv"), row)
    assert (tmp_path / "notes.txt").read_text() == "mine\n" and (tmp_path / "other.csv").read_text() == "a,b\n1,2\n"
    history.append(str(tmp_path / "new.csv"), row)
    history.append(str(tmp_path / "new.csv"), {**row, "epoch": 2, "step": 20})
    rows, clean = history.read(str(tmp_path / "new.csv"))
    assert [r["epoch"] for r in rows] == [1, 2] and clean
