"""Issue 12, steps 1 and 3: flags, folders and images a careless user gives.

Each test names the case of the issue it covers. Rules checked: a bad flag is a usage
error (exit 2); a bad file or folder is one line, exit 1, with nothing written; no output
is read back as input; every image Pillow opens is converted or refused with the reason.
"""

import h5py
import numpy as np
import pytest
from PIL import Image

import step1_pre
import step2_train
import step3_test
from srcnn.core import checkpoints
from srcnn.core import image_files
from srcnn.training import hdf5
from srcnn.training import patches
from srcnn.training import test_set
from srcnn.core.errors import CheckpointError, InputError
from srcnn.core.model import SRCNN


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("weights") / "x3" / "srcnn")
    checkpoints.export_weights(SRCNN("9-1-5"), 3, prefix)
    return prefix


def save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def last_error(capsys):
    """The one error line, which must also be the last line written to stderr."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    return errors[0]


@pytest.fixture
def folders(tmp_path, smooth_rgb):
    """train/ with one 60x48 image, test/ with one, and h5/ holding earlier files."""
    save(tmp_path / "train" / "a.png", smooth_rgb)
    save(tmp_path / "test" / "t.png", smooth_rgb)
    (tmp_path / "h5").mkdir()
    for name in ("train.h5", "test.h5"):  # earlier HDF5 files (step 1 replaces only HDF5 files)
        with h5py.File(tmp_path / "h5" / name, "w") as h5:
            h5.attrs["earlier"] = name
    return tmp_path


def step1(folders, *extra):
    return step1_pre.main(["--train-dir", str(folders / "train"), "--test-dir", str(folders / "test"),
                           "--h5-dir", str(folders / "h5"), "--image-size", "21", "--label-size", "9",
                           "--stride", "7", *map(str, extra)])


def h5_untouched(folders):
    def earlier(name):
        with h5py.File(folders / "h5" / name, "r") as h5:
            return h5.attrs.get("earlier") == name and not list(h5)
    return earlier("train.h5") and earlier("test.h5")


# --- case 8: numeric flags are checked when parsed (argparse usage error, exit 2) -------------------

@pytest.mark.parametrize("script, flags", [
    (step1_pre, ["--stride", "0"]),
    (step1_pre, ["--stride", "-5"]),
    (step1_pre, ["--image-size", "-3", "--label-size", "-15"]),
    (step1_pre, ["--image-size", "0", "--label-size", "0"]),
    (step1_pre, ["--image-size", "33", "--label-size", "20"]),  # sibling: was exit 1 after parsing
    (step2_train, ["--batch-size", "0"]),
    (step2_train, ["--batch-size", "-5"]),
    (step2_train, ["--log-every", "0"]),
    (step2_train, ["--save-every", "0"]),  # sibling
    (step2_train, ["--epochs", "-3"]),
    (step2_train, ["--epochs", "0"]),  # case 11: said "already trained for 0 epochs"
    (step2_train, ["--image-size", "0"]),  # sibling
    (step2_train, ["--shuffle-buffer", "0"]),  # sibling: was exit 1 after reading the h5
    (step2_train, ["--replicas", "0", "--strategy", "mirrored"]),  # sibling
    (step2_train, ["--replicas", "2"]),  # sibling: --replicas without --strategy mirrored
    (step2_train, ["--arch", "9-2-5"]),  # sibling: an even filter size, was exit 1
    (step2_train, ["--learning-rate", "0"]),  # case 3: trained at 1e-3
    (step2_train, ["--learning-rate", "-0.01"]),  # case 3: trained, diverged, exit 0
    (step2_train, ["--learning-rate", "nan"]),  # case 11: was advised to lower it
    (step2_train, ["--learning-rate", "inf"]),
    (step2_train, ["--learning-rate", "fast"]),
    (step3_test, ["--tile", "0"]),
    (step3_test, ["--max-pixels", "-1"]),
])
def test_bad_number_is_a_usage_error(script, flags, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, not even to the default folders
    with pytest.raises(SystemExit) as stopped:
        script.main(flags)
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "usage:" in error and ": error: " in error.strip().splitlines()[-1], error
    assert list(tmp_path.iterdir()) == []


# --- case 5: step 1 writes both h5 files or neither ---------------------------------------------------

def test_step1_bad_test_image_leaves_both_h5_files(folders, capsys):
    (folders / "test" / "broken.png").write_bytes(b"not a picture")
    assert step1(folders) == 1
    assert "broken.png: not an image" in last_error(capsys)
    assert h5_untouched(folders)
    assert sorted(path.name for path in (folders / "h5").iterdir()) == ["test.h5", "train.h5"]


def test_step1_good_run_replaces_both(folders):
    assert step1(folders) == 0
    inputs, _, _ = hdf5.read_train_h5(str(folders / "h5" / "train.h5"), {"scale": 3, "image_size": 21})
    images, _ = hdf5.read_test_h5(str(folders / "h5" / "test.h5"), {"scale": 3})
    assert len(inputs) == patches.patch_count(60, 48, 21, 7) == 24 and [image.name for image in images] == ["t"]
    assert sorted(path.name for path in (folders / "h5").iterdir()) == ["test.h5", "train.h5"]


# --- case 6: test images with the same name --------------------------------------------------------------

def test_step1_test_images_with_one_name(folders, smooth_rgb, capsys):
    Image.fromarray(smooth_rgb).save(folders / "test" / "t.jpg")
    assert step1(folders) == 1
    error = last_error(capsys)
    assert "t.jpg and " in error and "t.png would both be test image 't'" in error
    assert h5_untouched(folders)


def test_step3_test_dir_with_one_name_twice(folders, smooth_rgb, weights, capsys):
    save(folders / "test" / "sub" / "t.png", smooth_rgb)  # sibling: the same name in a subfolder
    sample = folders / "sample"
    assert step3_test.main(["--test-dir", str(folders / "test"), "--checkpoint", weights,
                            "--sample-dir", str(sample)]) == 1
    assert "would both be test image 't'" in last_error(capsys)
    assert not sample.exists()


# --- case 7: small images ------------------------------------------------------------------------------

def test_step1_test_image_smaller_than_the_scale(folders, capsys):
    save(folders / "test" / "dot.png", np.full((2, 2, 3), 90))
    assert step1(folders) == 1
    assert "dot.png: 0x0 after cropping to a multiple of 3 is too small" in last_error(capsys)
    assert h5_untouched(folders)


def test_step1_test_image_too_small_for_ssim(folders, capsys):
    save(folders / "test" / "small.png", np.full((15, 40, 3), 90))  # 15 < 11 + 2 * 3
    assert step1(folders) == 1
    assert "small.png: 39x15 after cropping to a multiple of 3 is too small to test x3" in last_error(capsys)


def test_step1_training_image_smaller_than_the_scale_is_left_out(folders):
    save(folders / "train" / "dot.png", np.full((2, 2, 3), 90))
    assert step1(folders) == 0
    patches, _, _ = hdf5.read_train_h5(str(folders / "h5" / "train.h5"), {"scale": 3})
    assert len(patches) == 24  # a.png's alone


def test_step1_training_set_without_a_patch(folders, capsys):
    for path in (folders / "train").iterdir():
        path.unlink()
    save(folders / "train" / "a.png", np.full((25, 20, 3), 90))
    save(folders / "train" / "b.png", np.full((20, 25, 3), 90))
    assert step1_pre.main(["--train-dir", str(folders / "train"), "--test-dir", str(folders / "test"),
                           "--h5-dir", str(folders / "h5")]) == 1
    assert "no 33x33 patch fits in any of the 2 training images" in last_error(capsys)
    assert h5_untouched(folders)


def test_step3_test_dir_image_smaller_than_the_scale(folders, weights, capsys):
    save(folders / "test" / "dot.png", np.full((2, 2, 3), 90))
    assert step3_test.main(["--test-dir", str(folders / "test"), "--checkpoint", weights,
                            "--sample-dir", str(folders / "sample")]) == 1
    assert "dot.png: 0x0 after cropping" in last_error(capsys)


def test_step3_small_image_in_a_test_h5(tmp_path, weights, capsys):
    hr = np.full((15, 15, 1), 0.5, np.float32)  # made by an older step 1, or by hand
    hdf5.write_test_h5(str(tmp_path / "test.h5"), [test_set.TestImage("tiny", hr, hr)], scale=3, source="x")
    assert step3_test.main(["--test-h5", str(tmp_path / "test.h5"), "--checkpoint", weights,
                            "--sample-dir", str(tmp_path / "sample")]) == 1
    assert "test image tiny is 15x15, too small for PSNR/SSIM (at least 17 px a side)" in last_error(capsys)


# --- case 9: a mistyped --train-dir / --test-dir is an error; only the defaults fall back -----------

@pytest.mark.parametrize("flag", ["--train-dir", "--test-dir"])
@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_step1_mistyped_folder(folders, capsys, flag, kind):
    wrong = folders / "Trian"
    if kind == "empty":
        wrong.mkdir()
        (wrong / "notes.txt").write_text("no pictures")
    flags = {"--train-dir": str(folders / "train"), "--test-dir": str(folders / "test"), flag: str(wrong)}
    assert step1_pre.main([*sum(flags.items(), ()), "--h5-dir", str(folders / "h5")]) == 1
    error = last_error(capsys)
    assert f"{wrong}: {'no such folder' if kind == 'missing' else 'no images'}" in error
    assert error.endswith(f"or leave {flag} out for the default")
    assert h5_untouched(folders)


def test_only_the_default_folder_falls_back_to_the_samples(tmp_path):
    paths, message = patches.find_images(str(tmp_path / "Train"), patches.SAMPLE_TRAIN_IMAGES, "training")
    assert len(paths) == len(patches.SAMPLE_TRAIN_IMAGES) and "scikit-image" in message
    with pytest.raises(InputError, match="Train: no such folder") as refused:
        patches.find_images(str(tmp_path / "Train"), patches.SAMPLE_TRAIN_IMAGES, "training", fallback=False)
    assert "--" not in str(refused.value)


# --- case 2: outputs are never read back as inputs ----------------------------------------------------

def output_names(folder):
    return sorted(path.name for path in folder.rglob("*.png"))


@pytest.mark.slow
@pytest.mark.parametrize("inside", [True, False])
def test_upscaling_into_the_input_folder_three_times(tmp_path, smooth_rgb, weights, inside):
    photos = tmp_path / "photos"
    save(photos / "a.png", smooth_rgb)
    save(photos / "sub" / "b.png", smooth_rgb[:30])
    output = photos / "big" if inside else photos
    for _ in range(3):
        assert step3_test.main(["--input", str(photos), "--output", str(output), "--checkpoint", weights,
                                "--overwrite", "--bicubic"]) == 0
    expected = ["a_bicubic_x3.png", "a_srcnn_x3.png", "b_bicubic_x3.png", "b_srcnn_x3.png"]
    assert output_names(photos) == sorted(expected + ["a.png", "b.png"])
    with Image.open(next(photos.rglob("a_srcnn_x3.png"))) as image:
        assert image.size == (48 * 3, 60 * 3)


def test_upscaling_into_the_input_folder_without_overwrite_keeps_the_outputs(tmp_path, smooth_rgb, weights, capsys):
    photos = tmp_path / "photos"
    save(photos / "a.png", smooth_rgb)
    argv = ["--input", str(photos), "--output", str(photos / "big"), "--checkpoint", weights, "--bicubic"]
    assert step3_test.main(argv) == 0
    written = (photos / "big" / "a_srcnn_x3.png").stat().st_mtime_ns
    capsys.readouterr()
    assert step3_test.main(argv) == 0  # a rerun skips what is there
    assert "upscaled 0 of 1 images x3" in capsys.readouterr().out  # only a.png was planned
    assert output_names(photos) == ["a.png", "a_bicubic_x3.png", "a_srcnn_x3.png"]
    assert (photos / "big" / "a_srcnn_x3.png").stat().st_mtime_ns == written


@pytest.mark.slow
def test_evaluation_samples_inside_the_test_folder_are_not_test_images(tmp_path, smooth_rgb, weights, capsys):
    save(tmp_path / "test" / "t.png", smooth_rgb)
    flags = ["--test-dir", str(tmp_path / "test"), "--checkpoint", weights]
    for _ in range(2):
        assert step3_test.main([*flags, "--sample-dir", str(tmp_path / "test" / "sample")]) == 0
        table = capsys.readouterr().out
        # weights line, table header, one row per test image, the mean, the "wrote" line
        assert [line.split()[0] for line in table.splitlines()[2:-1]] == ["t", "mean"]
    assert step3_test.main([*flags, "--sample-dir", str(tmp_path / "test")]) == 1
    assert "is the --test-dir: its PNGs would be read back" in last_error(capsys)


# --- case 12 and siblings: image formats ------------------------------------------------------------------

def frames_file(path, count=3):
    frames = [Image.new("RGB", (20, 16), (60 * index, 90, 30)) for index in range(count)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    return path


@pytest.mark.parametrize("name, what", [("moving.gif", "an animation of 3 frames"),
                                        ("moving.webp", "an animation of 3 frames"),
                                        ("moving.png", "an animation of 3 frames"),
                                        ("pages.tif", "a multi-page file of 3 frames")])
def test_animation_or_pages_are_refused_not_cut_to_one_frame(tmp_path, name, what):
    with pytest.raises(InputError, match=f"{name}: {what}; only still images"):
        image_files.read_image(str(frames_file(tmp_path / name)))


def test_gif_and_webp_in_a_folder_are_upscaled(tmp_path, smooth_rgb, weights):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(smooth_rgb).save(photos / "still.gif")
    Image.fromarray(smooth_rgb).save(photos / "photo.webp", lossless=True)
    frames_file(photos / "moving.gif")
    assert step3_test.main(["--input", str(photos), "--output", str(tmp_path / "out"), "--checkpoint", weights,
                            "--bicubic"]) == 1
    assert output_names(tmp_path / "out") == ["photo_bicubic_x3.png", "photo_srcnn_x3.png",
                                              "still_bicubic_x3.png", "still_srcnn_x3.png"]


def test_float_tiff_in_zero_to_one_is_not_black(tmp_path):
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "half.tif")
    assert np.all(image_files.read_image(str(tmp_path / "half.tif")).pixels == 128)


def test_lab_tiff_is_converted_to_rgb_colours(tmp_path):
    """A sibling that was already right (Pillow converts CIELAB to sRGB); kept as a guard."""
    Image.new("LAB", (8, 8), (128, 128, 128)).save(tmp_path / "grey.tif")  # L 50 %, a = b = 0: mid grey
    pixels = image_files.read_image(str(tmp_path / "grey.tif")).pixels
    assert pixels.shape == (8, 8, 3) and np.abs(pixels.astype(int) - 119).max() <= 1


# --- case 11 (and siblings): a file where a folder goes is named ------------------------------------

def test_a_file_where_the_output_folder_goes_is_named(tmp_path, smooth_rgb, weights, capsys):
    save(tmp_path / "a.png", smooth_rgb)
    (tmp_path / "out").write_text("in the way")
    assert step3_test.main(["--input", str(tmp_path / "a.png"), "--output", str(tmp_path / "out"),
                            "--checkpoint", weights]) == 1
    error = last_error(capsys)
    assert "out: cannot create the output folder (a file of that name is in the way)" in error
    assert "File exists" not in error


def test_a_file_where_the_h5_folder_goes_is_named(folders, capsys):
    (folders / "h5" / "train.h5").unlink()
    (folders / "h5" / "test.h5").unlink()
    (folders / "h5").rmdir()
    (folders / "h5").write_text("in the way")
    assert step1(folders) == 1
    assert "h5 is a file, not a folder; pass another --h5-dir" in last_error(capsys)


def test_damaged_weights_are_called_damaged(tmp_path):
    prefix = str(tmp_path / "srcnn")
    checkpoints.export_weights(SRCNN("9-1-5"), 3, prefix)
    data_file = f"{prefix}.data-00000-of-00001"
    with open(data_file, "r+b") as handle:
        handle.seek(100)
        handle.write(b"\xff" * 64)
    with pytest.raises(CheckpointError, match="srcnn: incomplete or damaged") as refused:
        checkpoints.load_model(prefix)
    assert "do not fit" not in str(refused.value)
