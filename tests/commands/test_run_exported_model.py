"""tools/run_exported_model.py: what a careless call gets is one line, and the input is never its output."""

import os
import sys

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "tools"))
import run_exported_model  # noqa: E402


@pytest.fixture(autouse=True)
def imports_left_alone(monkeypatch):
    """The tool blocks srcnn and TensorFlow in its own process; here it must not block them for the other tests."""
    monkeypatch.setattr(run_exported_model, "block_imports", lambda names: None)


def refusal(argv):
    with pytest.raises(SystemExit) as exit:
        run_exported_model.main(argv)
    return str(exit.value.code)


def test_an_empty_folder_is_not_a_savedmodel(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "without saved_model.pb" in refusal([str(tmp_path / "empty"), "in.npz", "out.npz"])


def test_the_output_is_never_the_input_or_the_model(tmp_path):
    model, photo = tmp_path / "m.onnx", tmp_path / "photo.png"
    model.write_bytes(b"model")
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(photo)
    before = photo.read_bytes()
    for output in (photo, model):
        assert "which this run reads" in refusal([str(model), str(photo), str(output)])
    assert photo.read_bytes() == before and model.read_bytes() == b"model"


def test_an_npz_without_arrays_and_a_bomb_are_one_line(tmp_path, monkeypatch):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model")
    np.savez(tmp_path / "none.npz")
    assert "holds no arrays" in refusal([str(model), str(tmp_path / "none.npz"), str(tmp_path / "out.npz")])
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 4096 pixels is over twice that: Pillow's bomb error
    assert "decompression bomb" in refusal([str(model), str(tmp_path / "bomb.png"), str(tmp_path / "out.png")])


@pytest.mark.parametrize("repeat", ["0", "-3", "x"])
def test_repeat_must_be_a_positive_count(repeat, capsys):
    assert refusal(["m.onnx", "a.npz", "b.npz", "--repeat", repeat]) == "2"
    assert "not a whole number above 0" in capsys.readouterr().err
