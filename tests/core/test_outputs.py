"""srcnn.core.outputs: the one write path refuses inputs, links, the wrong kind, and a second writer."""

import os
import subprocess
import sys

import pytest

from srcnn.core import outputs
from srcnn.core.errors import OutputError, OutputExistsError

TFLITE = outputs.KINDS["tflite"]
IMAGE = outputs.KINDS["image"]
SAVEDMODEL = outputs.KINDS["savedmodel"]


def write(run, path, content, kind=IMAGE):
    with run.writing(str(path), kind) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(content)


def test_an_input_is_never_written_whatever_its_spelling(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"the user's photo")
    os.link(photo, tmp_path / "hard.png")
    run = outputs.Outputs(inputs=[str(photo)], overwrite=True)
    for spelling in (photo, tmp_path / "hard.png", tmp_path / "." / "photo.png"):
        with pytest.raises(OutputError, match="is an input of this run"):
            write(run, spelling, b"upscaled")
    assert photo.read_bytes() == b"the user's photo"


def test_an_input_folder_is_never_replaced(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.png").write_bytes(b"a")
    run = outputs.Outputs(inputs=[str(tmp_path / "in")], overwrite=True)
    with pytest.raises(OutputError, match="is an input"):
        write(run, tmp_path / "in", b"a,b\n", outputs.csv_kind("CSV", "a,b"))
    assert (tmp_path / "in" / "a.png").read_bytes() == b"a"


def test_a_link_is_refused_not_written_through(tmp_path):
    (tmp_path / "target.txt").write_bytes(b"notes")
    os.symlink(tmp_path / "target.txt", tmp_path / "link.tflite")
    with pytest.raises(OutputError, match="is a link"):
        write(outputs.Outputs(overwrite=True), tmp_path / "link.tflite", b"xxxxTFL3", TFLITE)
    assert (tmp_path / "target.txt").read_bytes() == b"notes"


def test_only_an_output_of_the_same_kind_is_replaced(tmp_path):
    notes = tmp_path / "notes.tflite"
    notes.write_bytes(b"my notes")
    with pytest.raises(OutputError, match="is not a TFLite model"):
        write(outputs.Outputs(overwrite=True), notes, b"0000TFL3new", TFLITE)
    assert notes.read_bytes() == b"my notes"
    model = tmp_path / "model.tflite"
    model.write_bytes(b"0000TFL3old")
    with pytest.raises(OutputExistsError):
        write(outputs.Outputs(), model, b"0000TFL3new", TFLITE)
    write(outputs.Outputs(overwrite=True), model, b"0000TFL3new", TFLITE)
    assert model.read_bytes() == b"0000TFL3new"


def test_a_folder_where_a_file_goes_and_the_reverse(tmp_path):
    (tmp_path / "folder.png").mkdir()
    with pytest.raises(OutputError, match="a folder is there"):
        write(outputs.Outputs(overwrite=True), tmp_path / "folder.png", b"x")
    (tmp_path / "model").write_bytes(b"x")
    with pytest.raises(OutputError, match="a file is there"):
        with outputs.Outputs(overwrite=True).writing(str(tmp_path / "model"), SAVEDMODEL) as temporary:
            os.mkdir(temporary)
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        write(outputs.Outputs(), tmp_path / "file" / "out.png", b"x")


def test_of_two_runs_writing_one_name_only_one_wins(tmp_path):
    target = tmp_path / "out.png"
    first, second = outputs.Outputs(), outputs.Outputs()
    with pytest.raises(OutputExistsError, match="appeared while this run wrote it"):
        with second.writing(str(target), IMAGE) as late:
            write(first, target, b"first")  # finishes while the second is still writing
            with open(late, "wb") as handle:
                handle.write(b"second")
    assert target.read_bytes() == b"first" and os.listdir(tmp_path) == ["out.png"]


def test_an_interrupted_write_leaves_nothing(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"before")
    with pytest.raises(KeyboardInterrupt):
        with outputs.Outputs(overwrite=True).writing(str(target), IMAGE) as temporary:
            with open(temporary, "wb") as handle:
                handle.write(b"half")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"before" and os.listdir(tmp_path) == ["out.png"]


def test_several_outputs_appear_together_or_not_at_all(tmp_path):
    (tmp_path / "b.png").write_bytes(b"user's")
    run = outputs.Outputs()
    with pytest.raises(OutputExistsError):
        with run.writing_all([(str(tmp_path / "a.png"), IMAGE), (str(tmp_path / "b.png"), IMAGE)]):
            pass
    assert sorted(os.listdir(tmp_path)) == ["b.png"]


def test_a_killed_runs_temporaries_are_swept_and_nothing_else(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    left = tmp_path / f".out.png{outputs.TEMPORARY_MARK}{pid}-0123abcd.png"
    left.write_bytes(b"half")
    mine = tmp_path / f".out.png{outputs.TEMPORARY_MARK}{os.getpid()}-0123abcd.png"
    mine.write_bytes(b"being written")
    user = tmp_path / f"out.png.tmp-{pid}"
    user.write_bytes(b"the user's")
    assert outputs.sweep(str(tmp_path)) == [left.name]
    assert sorted(os.listdir(tmp_path)) == sorted([mine.name, user.name])


def test_rename_without_replacing_refuses_an_existing_file_and_folder(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    with pytest.raises(FileExistsError):
        outputs.rename_without_replacing(str(tmp_path / "a"), str(tmp_path / "b"))
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    with pytest.raises(FileExistsError):
        outputs.rename_without_replacing(str(tmp_path / "d1"), str(tmp_path / "d2"))
    outputs.rename_without_replacing(str(tmp_path / "a"), str(tmp_path / "c"))
    assert (tmp_path / "c").read_bytes() == b"a" and (tmp_path / "b").read_bytes() == b"b"


def test_only_outputs_of_their_kind_are_deleted_and_a_refusal_deletes_nothing(tmp_path):
    model = outputs.KINDS["onnx"]
    ours, theirs, notes = tmp_path / "a.onnx", tmp_path / "b.onnx", tmp_path / "notes.txt"
    ours.write_bytes(b"\x08\x07ai.onnx model")
    theirs.write_bytes(b"not a model")
    notes.write_bytes(b"my notes")
    (tmp_path / "link.onnx").symlink_to(ours)
    (tmp_path / "folder.onnx").mkdir()
    for refused in ("b.onnx", "link.onnx", "folder.onnx"):
        with pytest.raises(OutputError, match="it is kept"):
            outputs.remove_outputs([(str(ours), model), (str(tmp_path / refused), model)])
        assert ours.exists() and os.path.lexists(tmp_path / refused)
    assert outputs.remove_outputs([(str(ours), model), (str(tmp_path / "gone.onnx"), model)]) == [str(ours)]
    assert not ours.exists() and notes.read_bytes() == b"my notes" and theirs.read_bytes() == b"not a model"
    with pytest.raises(OutputError):  # a kind recognised only as a run's declared output is never deleted
        outputs.remove_outputs([(str(notes), outputs.KINDS["image"])])
    assert notes.exists()


def test_a_folder_output_goes_whole_and_a_link_inside_it_is_not_followed(tmp_path):
    kind = outputs.OutputKind("scratch folder", folder=True, recognise=os.path.isdir)
    (tmp_path / "keep.txt").write_bytes(b"mine")
    (tmp_path / "scratch").mkdir()
    (tmp_path / "scratch" / "link").symlink_to(tmp_path / "keep.txt")
    assert outputs.remove_outputs([(str(tmp_path / "scratch"), kind)]) == [str(tmp_path / "scratch")]
    assert not (tmp_path / "scratch").exists() and (tmp_path / "keep.txt").read_bytes() == b"mine"
