"""Issue 18, training / data / evaluation side: each case of the issue, and its rule's siblings.

Rules: 2 every value from outside is checked where it enters; 3 Ctrl-C and SIGTERM end every
command with one line and a known exit status, nothing half-written; 5 names from files are
data; 6 messages say the true cause. (Rule 4, exact resume, is in tests/training/test_resume.py.)
"""

import errno
import os
import shutil
import signal
import time

import h5py
import numpy as np
import pytest
import tensorflow as tf

import step1_pre
import step2_train
import step3_test
from srcnn.core import checkpoints
from srcnn.training import evaluate
from srcnn.training import history
from srcnn.training import report
from srcnn.training import checkpointing
from srcnn.training.config import TrainSettings
from srcnn.training import distribution
from srcnn.training import hdf5
from srcnn.training import test_set
from srcnn.training import update
from srcnn.core.errors import CheckpointError, SettingError, SRCNNError, csv_cell, os_reason, printable, tf_reason
from srcnn.core.model import SRCNN

from tiny_data import write_h5s


@pytest.fixture(scope="module")
def h5s(tmp_path_factory):
    return write_h5s(str(tmp_path_factory.mktemp("h5")), count=64)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    prefix = str(tmp_path_factory.mktemp("weights") / "x3" / "srcnn")
    checkpoints.export_weights(SRCNN("9-1-5"), 3, prefix)
    return prefix


def one_error(capsys):
    """The single stderr line (no traceback) of a refused command."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


# --- rule 2: flags -------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, accepted", [("-1", False), ("4294967296", False), ("1e3", False), ("x", False),
                                             ("0", True), ("4294967295", True)])
def test_seed_is_checked_as_a_flag(value, accepted, capsys):
    """--seed -1 and 2**32 were tracebacks from numpy once training started."""
    if accepted:
        assert step2_train.parse_args(["--seed", value]).seed == int(value)
    else:
        with pytest.raises(SystemExit) as exit:
            step2_train.parse_args(["--seed", value])
        assert exit.value.code == 2 and "--seed" in capsys.readouterr().err


@pytest.mark.parametrize("image_size, label_size, accepted", [
    (21, 21, False), (21, 23, False), (33, 20, False), (33, 21, True), (33, 17, True)])
def test_step1_label_smaller_than_the_patch_by_the_margin(image_size, label_size, accepted, capsys):
    flags = ["--image-size", str(image_size), "--label-size", str(label_size)]
    if accepted:
        assert step1_pre.parse_args(flags).label_size == label_size
    else:
        with pytest.raises(SystemExit):
            step1_pre.parse_args(flags)
        assert "must be smaller than --image-size" in capsys.readouterr().err


@pytest.mark.parametrize("flags", [["--replicas", "100000"], ["--replicas", "3", "--batch-size", "16"]])
def test_replicas_that_cannot_split_the_batch_are_refused_up_front(flags, capsys):
    with pytest.raises(SystemExit):
        step2_train.parse_args(["--strategy", "mirrored", *flags])
    assert "does not split evenly over --replicas" in capsys.readouterr().err


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="counts GPUs instead")
def test_too_many_logical_cpus_refused_before_making_them():
    started = time.perf_counter()
    with pytest.raises(SettingError, match="replicas 100000: no GPU here") as refused:
        distribution.make_strategy("mirrored", 100000)
    assert refused.value.setting == "replicas" and "--" not in str(refused.value)
    assert time.perf_counter() - started < 1


@pytest.mark.parametrize("tf_config, reason", [
    ('{"cluster": {"worker": "localhost:1"}, "task": {"type": "worker", "index": 0}}', "not a list of 'host:port'"),
    ('{"cluster": {"worker": [3]}, "task": {"type": "worker", "index": 0}}', "not a list of 'host:port'"),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "not a list of 'host:port'"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 5}}', "task index 5"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": "0"}}', "task index '0'"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "task type 'chief'"),
    ('[1]', "no 'cluster' or 'task'"),
    ('{', "Expecting property name"),
])
def test_malformed_tf_config_is_one_line(monkeypatch, tf_config, reason):
    monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(SettingError, match="TF_CONFIG is not a cluster description") as error:
        distribution.make_strategy("multi-worker")
    assert reason in str(error.value) and "\n" not in str(error.value)


# --- rule 2: history files -----------------------------------------------------------------------------

HEADER = "epoch,step,seconds,loss,psnr,bicubic_psnr\n"


@pytest.mark.parametrize("bad_row", [
    "inf,8,2.0,0.01,31,29", "2,8,2.0,0.01,inf,29", "2,8,2.0,0.01,1e308,29", "2,8,2.0,0.01,31,-1e308",
    "2,nan,2.0,0.01,31,29", "1e308,8,2.0,0.01,31,29", "2.5,8,2.0,0.01,31,29", "2,8,-1,0.01,31,29",
    "2,8,2.0,nan,31,29", "2,8,2.0,0.01,31,nan",
])
def test_history_with_out_of_range_values_keeps_the_good_rows(tmp_path, bad_row):
    """inf, nan and 1e308 made the page's curve a traceback."""
    path = tmp_path / "history.csv"
    path.write_text(HEADER + "1,4,1.0,0.01,30,29\n" + bad_row + "\n3,12,3.0,0.01,32,29\n")
    curve = report.read_history(str(path))
    kept_bad = bad_row.endswith(",31,nan")  # a NaN PSNR is a run without test images: read, not drawn
    assert curve == [[1, 3], [30.0, 32.0], [29.0, 29.0]]
    rows, clean = history.read(str(path))
    assert len(rows) == (3 if kept_bad else 2) and clean == kept_bad
    result = evaluate.ImageResult("a", 29.0, 31.0, 0.9, 0.91, None)
    assert "<svg" in report._curve_section(curve, str(path), [result], None, 3)


@pytest.mark.parametrize("source", ["/dev/zero", "fifo", "big"])
def test_history_that_is_endless_or_huge_is_refused_without_reading_it(tmp_path, source):
    """--history /dev/zero read until memory ran out."""
    path = tmp_path / "history.csv"
    if source == "fifo":
        os.mkfifo(path)  # opening it would wait for a writer for ever
    elif source == "big":
        with open(path, "w") as handle:
            handle.write(HEADER)
            handle.seek(history.MAX_BYTES + 10)
            handle.write("\n")
    else:
        path = source
    with pytest.raises(SRCNNError, match="not a regular file|over 64 MB"):
        history.read(str(path))
    assert report.read_history(str(path)) is None


# --- rule 2: h5 files ----------------------------------------------------------------------------------

def damaged_copy(source, tmp_path, damage):
    path = tmp_path / "test.h5"
    shutil.copy(source, path)
    with h5py.File(path, "a") as h5:
        images = h5["images"]
        name = next(iter(images))
        entry = images[name]
        if damage == "no hr":
            del entry["hr"]
        elif damage == "no bicubic":
            del entry["bicubic"]
        elif damage == "uint8 hr":
            hr = entry["hr"][...]
            del entry["hr"]
            entry["hr"] = (hr * 255).astype(np.uint8)
        elif damage == "2-D hr":
            hr = entry["hr"][...]
            del entry["hr"]
            entry["hr"] = hr[..., 0]
        elif damage == "bicubic of another size":
            bicubic = entry["bicubic"][...]
            del entry["bicubic"]
            entry["bicubic"] = bicubic[:60]
        elif damage == "cbcr with 3 channels":
            cbcr = entry["bicubic_cbcr"][...]
            del entry["bicubic_cbcr"]
            entry["bicubic_cbcr"] = np.concatenate([cbcr, cbcr[..., :1]], axis=-1)
        elif damage == "NaN in hr":
            entry["hr"][0, 0, 0] = np.nan
        elif damage == "image as a dataset":
            del images[name]
            images[name] = np.zeros((40, 40, 1), np.float32)
        elif damage == "images as a dataset":
            del h5["images"]
            h5["images"] = np.zeros(3)
        elif damage == "zero images":
            del images[name]
        elif damage == "an image named mean":
            images.move(name, "mean")
        elif damage == "a name that is not UTF-8":
            images.move(name, b"\xff\xfe")
    return path


@pytest.mark.parametrize("damage, message", [
    ("no hr", "has no hr"), ("no bicubic", "has no bicubic"), ("uint8 hr", "hr is uint8"),
    ("2-D hr", "not float32 (H, W, 1)"), ("bicubic of another size", "bicubic is 96x60, hr 96x96"),
    ("cbcr with 3 channels", "not float32 (H, W, 2)"), ("NaN in hr", "NaN or infinite"),
    ("image as a dataset", "is not a group with hr and bicubic"), ("images as a dataset", "not a group of test"),
    ("zero images", "holds no test images"), ("an image named mean", "would read as the mean row"),
    ("a name that is not UTF-8", "not UTF-8 text"),
])
def test_malformed_test_h5_is_one_line_where_it_is_read(h5s, tmp_path, damage, message):
    path = damaged_copy(h5s[1], tmp_path, damage)
    with pytest.raises(SRCNNError, match="rerun step1_pre.py|rename it") as error:
        hdf5.read_test_h5(str(path))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_step2_checks_test_h5_before_the_first_epoch(h5s, tmp_path, capsys):
    """A 2-D hr passed the reader and failed in validation, after a full epoch of training."""
    path = damaged_copy(h5s[1], tmp_path, "2-D hr")
    assert step2_train.main(["--train-h5", h5s[0], "--test-h5", str(path), "--checkpoint-dir",
                             str(tmp_path / "checkpoint"), "--epochs", "1"]) == 1
    assert "not float32 (H, W, 1)" in one_error(capsys)
    assert not (tmp_path / "checkpoint").exists()


@pytest.mark.parametrize("stream", ["--no-stream", pytest.param("--stream", marks=pytest.mark.slow)])
@pytest.mark.parametrize("damage", ["uint8 data", "NaN in label"])
def test_train_h5_of_another_dtype_or_with_nan(h5s, tmp_path, capsys, stream, damage):
    """A uint8 train.h5 was a traceback; NaN patches said "lower --learning-rate"."""
    path = tmp_path / "train.h5"
    shutil.copy(h5s[0], path)
    with h5py.File(path, "a") as h5:
        if damage == "uint8 data":
            values = h5["data"][...]
            del h5["data"]
            h5["data"] = (values * 255).astype(np.uint8)
        else:
            h5["label"][5, 3, 3, 0] = np.nan
    assert step2_train.main(["--train-h5", str(path), "--test-h5", h5s[1], "--checkpoint-dir",
                             str(tmp_path / "checkpoint"), "--epochs", "1", "--batch-size", "16", stream]) == 1
    error = one_error(capsys)
    assert ("data is uint8, not float32" if damage == "uint8 data" else "the label patches hold NaN") in error
    assert "learning-rate" not in error


# --- rule 2: checkpoint configs ------------------------------------------------------------------------

def hostile_checkpoint(folder, scale, arch, filters="9-1-5"):
    bundle = tf.train.Checkpoint(model=SRCNN(filters), config=checkpoints.Config(3, "9-1-5"))
    bundle.config.scale.assign(scale)
    bundle.config.arch.assign(arch)
    return bundle.write(str(folder / "srcnn"))


@pytest.mark.parametrize("scale, arch, message", [
    (3, "banana", "architecture banana, not filter sizes"),
    pytest.param(3, "", "architecture , not filter", marks=pytest.mark.slow),
    pytest.param(3, "9", "architecture 9, not filter", marks=pytest.mark.slow),  # one layer
    (0, "9-1-5", "scale 0, not one of 2, 3, 4"),
    pytest.param(-3, "9-1-5", "scale -3, not one", marks=pytest.mark.slow),
    pytest.param(99, "9-1-5", "scale 99, not one", marks=pytest.mark.slow),
    (3, "9-5-5", "says 9-5-5, but its filters are 9-1-5"),
])
def test_hostile_checkpoint_config_is_one_line(tmp_path, capsys, h5s, scale, arch, message):
    """arch "banana" and scale 0 / -3 were tracebacks; scale 99 ran for minutes."""
    prefix = hostile_checkpoint(tmp_path, scale, arch)
    with pytest.raises(CheckpointError) as error:  # the library's words: no flags
        checkpoints.read_config(prefix)
    assert message in str(error.value) and "--" not in str(error.value)
    started = time.perf_counter()
    assert step3_test.main(["--checkpoint", prefix, "--test-h5", h5s[1], "--sample-dir",
                            str(tmp_path / "sample")]) == 1
    line = one_error(capsys)  # the command adds the flag that fixes it
    assert message in line and line.endswith("pass another --checkpoint (a checkpoint prefix or folder)")
    assert time.perf_counter() - started < 30


# --- rule 3: Ctrl-C and SIGTERM ------------------------------------------------------------------------

def interrupt_with(how):
    """A stand-in that stops the command as Ctrl-C or `kill` would."""
    def stop(*args, **kwargs):
        if how == "ctrl-c":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises first
        raise AssertionError("SIGTERM was not turned into an exception")
    return stop


@pytest.mark.slow
@pytest.mark.parametrize("how, code", [("ctrl-c", 130), ("sigterm", 143)])
def test_step1_interrupted_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, how, code):
    (tmp_path / "h5").mkdir()
    with h5py.File(tmp_path / "h5" / "test.h5", "w") as h5:  # an earlier one (step 1 replaces only HDF5 files)
        h5.attrs["earlier"] = True
    earlier = (tmp_path / "h5" / "test.h5").read_bytes()
    monkeypatch.setattr(hdf5, "write_test_h5", interrupt_with(how))  # after train.h5 is written under a temporary name
    assert step1_pre.main(["--h5-dir", str(tmp_path / "h5")]) == code
    assert one_error(capsys).startswith(("interrupted; ", "interrupted by SIGTERM; ")[code == 143])
    assert sorted(os.listdir(tmp_path / "h5")) == ["test.h5"] and (tmp_path / "h5" / "test.h5").read_bytes() == earlier
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back


@pytest.mark.parametrize("how, code", [("ctrl-c", 130), ("sigterm", 143)])
def test_step3_interrupted_while_writing_results_leaves_no_half_file(h5s, weights, tmp_path, monkeypatch, capsys,
                                                                     how, code):
    monkeypatch.setattr(evaluate, "table_rows", interrupt_with(how))  # results.csv is open by then
    assert step3_test.main(["--checkpoint", weights, "--test-h5", h5s[1], "--sample-dir",
                            str(tmp_path / "sample")]) == code
    assert one_error(capsys).startswith("interrupted")
    assert not [name for name in os.listdir(tmp_path / "sample") if name.endswith(".csv") or "srcnn-tmp" in name]


# --- rule 5: names from files are data -----------------------------------------------------------------

@pytest.mark.parametrize("name, cell", [
    ("=HYPERLINK(\"x\",\"y\")", "'=HYPERLINK(\"x\",\"y\")"), ("+1", "'+1"), ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("baby", "baby"), ("a=b", "a=b")])
def test_names_never_reach_a_spreadsheet_as_formulas(tmp_path, name, cell):
    image = test_set.TestImage(name, np.zeros((40, 40, 1), np.float32), np.zeros((40, 40, 1), np.float32))
    result = evaluate.ImageResult(name, 30.0, 31.0, 0.9, 0.91, image.hr)
    evaluate.write_samples(str(tmp_path), [image], [result])
    import csv
    with open(tmp_path / "results.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][0] == cell == csv_cell(name) and rows[-1][0] == "mean"


@pytest.mark.parametrize("name", ["a\x1b[31mred", "bell\x07", "line\nbreak", "cr\rx", "csi\x9b2J", "del\x7f"])
def test_names_with_control_characters_are_escaped_when_printed(name):
    result = evaluate.ImageResult(name, 30.0, 31.0, 0.9, 0.91, None)
    table = evaluate.format_table([result])
    assert printable(name) in table and printable(name).isprintable()
    assert all(character.isprintable() for line in table.splitlines() for character in line)


@pytest.mark.parametrize("file_name", ["mean.png", "Mean.png", "MEAN.bmp"])
def test_a_test_image_named_mean_is_refused(tmp_path, smooth_rgb, file_name):
    """It made two "mean" rows in results.csv."""
    from PIL import Image
    Image.fromarray(smooth_rgb).save(tmp_path / file_name)
    with pytest.raises(SRCNNError, match="would read as the mean row"):
        test_set.test_images([str(tmp_path / file_name)], 3)


# --- rule 6: messages say the true cause ---------------------------------------------------------------

@pytest.mark.parametrize("code, said, not_said", [
    (errno.ENOSPC, "no space left", "permission"), (errno.ENAMETOOLONG, "name is too long", "space"),
    (errno.EACCES, "permission denied", "space"), (errno.EROFS, "read-only", "space"),
    (errno.EDQUOT, "quota", "permission"),
])
def test_os_errors_are_named_by_their_errno(code, said, not_said):
    for error in (OSError(code, os.strerror(code)), tf.errors.OpError(None, None, f"x; {os.strerror(code)}", None)):
        reason = tf_reason(error)
        assert said in reason and not_said not in reason, reason
    assert os_reason(OSError(code, "whatever")) == tf_reason(OSError(code, "whatever"))


@pytest.mark.parametrize("code", [errno.ENAMETOOLONG, errno.EACCES])
def test_a_checkpoint_that_cannot_be_written_says_why(tmp_path, monkeypatch, code):
    """"File name too long; free some space", and permission denied reported as a full disk."""
    settings = TrainSettings(checkpoint_dir=str(tmp_path / "c"), log_dir=str(tmp_path / "l"))
    run = update.build_run(settings, tf.distribute.get_strategy(), 10)
    checkpointer = checkpointing.Checkpointer(run, settings, True)

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(checkpointer.latest, "save", fail)
    with pytest.raises(SRCNNError) as error:
        checkpointer.save()
    assert os_reason(OSError(code, "")) in str(error.value) and "space" not in str(error.value)


@pytest.mark.parametrize("cause, said", [("folder", "it is a folder"), ("permission", "permission denied")])
def test_an_h5_that_cannot_be_read_says_why(h5s, tmp_path, monkeypatch, cause, said):
    """Both were reported as "not a readable HDF5 file (truncated or of another kind)"."""
    path = tmp_path / "test.h5"
    if cause == "folder":
        path.mkdir()
    else:
        shutil.copy(h5s[1], path)

        def denied(name, *args, **kwargs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), name)

        monkeypatch.setattr(hdf5, "open", denied, raising=False)  # root reads any file
    with pytest.raises(SRCNNError, match=f"{path}: cannot read \\({said}\\)"):
        hdf5.read_test_h5(str(path))


def test_full_log_folder_is_one_line(h5s, tmp_path, monkeypatch, capsys):
    """A full disk under the TensorBoard writers was a traceback."""
    def full(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "events.out.tfevents; No space left on device")

    monkeypatch.setattr(tf.summary, "create_file_writer", full)
    assert step2_train.main(["--train-h5", h5s[0], "--test-h5", h5s[1], "--checkpoint-dir", str(tmp_path / "c"),
                             "--epochs", "1", "--batch-size", "16"]) == 1
    assert "cannot write the TensorBoard events (no space left on the device; free some space)" in one_error(capsys)
