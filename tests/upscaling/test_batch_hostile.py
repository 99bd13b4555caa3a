"""srcnn-upscale-batch as a careless or hostile user runs it: mistyped flags, odd file names,
patterns that are names, link loops, a thousand workers, bad runners, unwritable folders,
Ctrl-C and SIGTERM. Each answer is one line (or argparse's usage error) and nothing is left behind."""

import csv
import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from srcnn.core.errors import InputError, SRCNNError, printable
from srcnn.upscaling import batch, batch_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def leftovers(*folders):
    """Temporaries of srcnn (`.srcnn-tmp-`) and of Beam (`beam-temp-`) below `folders`."""
    return [os.path.join(root, name) for folder in folders for root, subfolders, files in os.walk(folder)
            for name in subfolders + files if ".srcnn-tmp-" in name or name.startswith("beam-temp-")]


def save_images(folder, count, side=24, names=None):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for index in range(count):
        name = names[index] if names else f"image{index:02d}.png"
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(os.path.join(folder, name),
                                                                                    format="PNG")


# Flags: only srcnn's and Beam's own

@pytest.mark.parametrize("mistake", [["--overwite"], ["--scael", "2"], ["--runner=DirectRunner", "--wokers", "2"]])
def test_flags_neither_srcnn_nor_beam_knows_are_a_usage_error(mistake, capsys):
    pytest.importorskip("apache_beam")
    with pytest.raises(SystemExit) as exit:
        batch_inputs.parse_args(["photos/", "-o", "out"] + mistake)
    assert exit.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("srcnn-upscale-batch: error: unrecognized arguments: ")
    assert mistake[-2 if mistake[-1] == "2" else -1] in error


def test_beam_options_pass_through_wherever_they_stand(capsys):
    pytest.importorskip("apache_beam")
    args, pipeline_args = batch_inputs.parse_args(["--runner", "FlinkRunner", "a.png", "-o", "out", "b.png",
                                            "--flink_master=host:8081", "--overwrite", "--experiments", "x"])
    assert args.inputs == ["a.png", "b.png"] and args.overwrite and args.output == "out"
    assert pipeline_args == ["--runner", "FlinkRunner", "--flink_master=host:8081", "--experiments", "x"]
    args, pipeline_args = batch_inputs.parse_args(["a.png", "-o", "out", "b.png"])  # inputs on both sides of a flag
    assert args.inputs == ["a.png", "b.png"] and pipeline_args == []
    with pytest.raises(SystemExit) as exit:  # a Beam option with a bad value: srcnn's usage line, not Beam's
        batch_inputs.parse_args(["a.png", "--direct_running_mode", "bogus"])
    assert exit.value.code == 2
    assert "--direct_running_mode: invalid choice: 'bogus'" in capsys.readouterr().err.splitlines()[-1]


# Patterns and walks

def test_an_existing_name_is_taken_literally_before_any_pattern(tmp_path):
    save_images(tmp_path, 2, names=["p[1].png", "p1.png"])
    literal = str(tmp_path / "p[1].png")
    assert batch_inputs.expand([literal]) == [literal]
    assert batch_inputs.expand([str(tmp_path / "p[0-9].png")]) == [str(tmp_path / "p1.png")]  # a pattern still is one


def test_a_recursive_pattern_ends_through_link_loops_and_matches_as_glob_does(tmp_path):
    tree = tmp_path / "loop"
    save_images(tree / "sub" / "deeper", 1, names=["c.png"])
    save_images(tree / "sub", 1, names=["b.png"])
    save_images(tree, 1, names=["a.png"])
    (tree / ".hidden").mkdir()
    save_images(tree / ".hidden", 1, names=["h.png"])
    import glob
    patterns = [str(tree / "**" / "*.png"), str(tree / "*" / "**" / "*.png"), str(tree / "**"),
                str(tree / "**" / "deeper" / "*.png")]
    expected = [sorted(glob.glob(pattern, recursive=True)) for pattern in patterns]  # before the loops exist
    assert [sorted(set(batch_inputs.walk_glob(pattern))) for pattern in patterns] == expected
    os.symlink("..", tree / "sub" / "up")
    os.symlink(".", tree / "self")
    probe = (f"from srcnn.upscaling import batch_inputs; print(len(batch_inputs.expand([{str(tree / '**' / '*.png')!r}])))")
    finished = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert finished.stdout.strip() == "3", finished.stderr  # a.png, sub/b.png, sub/deeper/c.png; links not entered


def test_a_relative_recursive_pattern_gives_relative_names(tmp_path, monkeypatch):
    save_images(tmp_path / "sub", 1, names=["b.png"])
    save_images(tmp_path, 1, names=["a.png"])
    monkeypatch.chdir(tmp_path)
    assert batch_inputs.expand(["**/*.png"]) == ["a.png", os.path.join("sub", "b.png")]


def test_workers_are_capped_at_the_cpu_cores_with_a_line(capsys):
    pytest.importorskip("apache_beam")
    options = batch.pipeline_options([], 1000).get_all_options()
    assert options["direct_num_workers"] == batch.cpu_count() < 1000
    assert capsys.readouterr().out == f"--workers 1000: {batch.cpu_count()} worker processes, one per CPU core\n"
    assert batch.pipeline_options([], 1).get_all_options()["direct_num_workers"] == 1


# The failures CSV and the counts

def test_a_failure_row_is_one_valid_csv_row_whatever_the_name():
    hypothesis = pytest.importorskip("hypothesis")

    @hypothesis.given(hypothesis.strategies.text(), hypothesis.strategies.text())
    def holds(name, reason):
        one_valid_row(batch.failure_line(name, reason))

    holds()
    for name in (os.fsdecode(b"\xff\n=cmd"), "\r\n", "-1", "@SUM(A1)", "\t=1", "\u2028x", "\x00"):
        one_valid_row(batch.failure_line(name, name))


def one_valid_row(line):
    line.encode("utf-8")  # no lone surrogates (file names that are not UTF-8)
    rows = list(csv.reader([line]))
    assert len(rows) == 1 and len(rows[0]) == 2
    for cell in rows[0]:
        assert cell.isprintable()  # newlines, tabs, escapes: written as \n, \t, \x1b
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))  # no spreadsheet formula


def test_a_non_utf8_name_with_a_newline_and_a_formula_is_escaped():
    name = os.fsdecode(b"=2+5+cmd|' -C calc'!A0\n=1+1\xff.png")
    assert batch.failure_line(name, "not an image") == "'=2+5+cmd|' -C calc'!A0\\n=1+1\\udcff.png,not an image"
    # the library names the file printably; the CSV's reason leaves out the name its path cell gives
    assert batch.reason_of(InputError(f"{printable(name)}: not an image"), name) == "not an image"


class _Result:
    def __init__(self, name, committed, attempted):
        self.key = type("Key", (), {"metric": type("Metric", (), {"name": name})})
        self.committed, self.attempted = committed, attempted


def test_a_count_is_summed_over_every_step_that_counts():
    metrics = {"counters": [_Result("failed", 1, 1), _Result("done", 3, 3), _Result("failed", 7, 7),
                            _Result("failed", None, 2)]}
    assert batch.counter(metrics, "failed") == 10 and batch.counter(metrics, "done") == 3
    assert batch.counter(metrics, "skipped") == 0


# Errors of the run as one line, nothing left

@pytest.fixture(scope="module")
def weights(random_x2_weights):
    return random_x2_weights


@pytest.mark.slow
@pytest.mark.parametrize("runner, said", [(["--runner", "Bogus"], "Unexpected pipeline runner: Bogus"),
                                          (["--runner", "DataflowRunner"], "Missing required option: region")])
def test_a_runner_beam_refuses_is_one_line_and_writes_nothing(runner, said, weights, tmp_path, capsys):
    pytest.importorskip("apache_beam")
    save_images(tmp_path / "in", 2)
    assert batch.main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--checkpoint", weights] + runner) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: Beam cannot run with these pipeline options: ") and said in error
    assert "\n" not in error and not (tmp_path / "out").exists()


def unwritable_folder(tmp_path):
    """A folder this process cannot create files in (a read-only one; /sys where root writes anyway)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    for candidate in (str(folder), "/sys"):
        try:
            open(os.path.join(candidate, "probe"), "x").close()
            os.remove(os.path.join(candidate, "probe"))
        except OSError:
            return candidate
    pytest.skip("no folder here refuses this process")


def test_an_unwritable_failures_folder_is_one_line(weights, tmp_path, capsys):
    pytest.importorskip("apache_beam")
    save_images(tmp_path / "in", 2)
    failures = os.path.join(unwritable_folder(tmp_path), "failures.csv")
    out = tmp_path / "out"
    assert batch.main([str(tmp_path / "in"), "-o", str(out), "--checkpoint", weights, "--failures", failures]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {failures}: cannot write the failures CSV (") and "\n" not in error
    assert not leftovers(out) and not [name for name in os.listdir(out) if name.startswith(".")]


def test_a_full_disk_while_writing_the_listing_is_one_line_and_leaves_no_listing(weights, tmp_path, monkeypatch,
                                                                                capsys):
    pytest.importorskip("apache_beam")
    save_images(tmp_path / "in", 3)

    class FullDisk:
        def __init__(self, path, mode, encoding):
            self.file = open(path, mode, encoding=encoding)

        def __enter__(self):
            return self

        def __exit__(self, *failure):
            self.file.close()

        def write(self, text):
            self.file.write(text)
            self.file.flush()  # something is there when the disk fills
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(batch, "open", FullDisk, raising=False)
    out = tmp_path / "out"
    assert batch.main([str(tmp_path / "in"), "-o", str(out), "--checkpoint", weights]) == 1
    error = capsys.readouterr().err.strip()
    assert error == (f"error: {out}: cannot write the list of jobs there (no space left on the device; free some "
                     "space); pass another --output")
    assert os.listdir(out) == []


def test_the_listing_error_names_the_folder():
    with pytest.raises(SRCNNError, match="cannot write the list of jobs"):
        batch.write_listing([], "/proc/no-such-folder")


# Runs of the pipeline

@pytest.mark.slow
def test_hostile_names_never_fail_the_job_and_every_failure_is_counted(weights, tmp_path, monkeypatch, capsys):
    pytest.importorskip("apache_beam")
    folder = tmp_path / "in"
    good = [os.fsdecode(b"ok\xff.png"), "new\nline.png"]
    save_images(folder, 2, names=good)
    bad = [os.fsdecode(b"bad\xfe.png"), "=2+5+cmd|' -C calc'!A0\n=1+1.png", "tab\there.png", "esc\x1b[31m.png"]
    bad += [f"broken{index}.png" for index in range(6)]
    for name in bad:
        with open(os.path.join(folder, name), "w") as file:
            file.write("not a picture")
    (folder / "clip.mp4").write_bytes(b"")  # refused before the pipeline: counted in another step
    monkeypatch.chdir(folder)  # relative names, so that a cell can start with "="
    out = tmp_path / "out"
    assert batch.main(["*", "-o", str(out), "--checkpoint", weights]) == 1
    captured = capsys.readouterr()
    assert captured.out.strip() == (f"upscaled 2 of 13 images x2 into {os.path.join(str(out), '')}; "
                                    f"11 failed (listed in {os.path.join(str(out), 'failures.csv')})")
    assert sorted(os.listdir(out)) == sorted(["failures.csv", os.fsdecode(b"ok\xff_srcnn_x2.png"),
                                              "new\nline_srcnn_x2.png"])
    with open(out / "failures.csv", encoding="utf-8", newline="") as file:  # valid UTF-8
        rows = list(csv.reader(file))
    assert rows[0] == ["path", "reason"] and len(rows) == 12 and all(len(row) == 2 for row in rows)
    assert all(cell.isprintable() for row in rows for cell in row)
    paths = {row[0] for row in rows[1:]}
    assert {"bad\\udcfe.png", "'=2+5+cmd|' -C calc'!A0\\n=1+1.png", "tab\\there.png", "esc\\x1b[31m.png",
            "clip.mp4"} <= paths
    assert not leftovers(out)


@pytest.mark.slow
def test_a_killed_runs_temporaries_are_swept_by_the_next(weights, tmp_path):
    pytest.importorskip("apache_beam")
    save_images(tmp_path / "in" / "sub", 1)
    out, failures = tmp_path / "out", tmp_path / "lists" / "failures.csv"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that no process has now
    left = [out / "sub" / f".image00_srcnn_x2.png.srcnn-tmp-{gone.pid}-0123abcd.png",
            out / f".batch-jobs.jsonl.srcnn-tmp-{gone.pid}-0123abcd.jsonl",
            failures.parent / f"beam-temp-.failures.csv.srcnn-tmp-{gone.pid}-0123abcd.csv-6e7d5a9cf16511f1"]
    for path in left:
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.mkdir() if path.name.startswith("beam-temp-") else path.write_bytes(b"half"))
    argv = [str(tmp_path / "in"), "-o", str(out), "--checkpoint", weights, "--failures", str(failures)]
    assert batch.main(argv) == 0
    assert not leftovers(out, failures.parent)
    assert (out / "sub" / "image00_srcnn_x2.png").exists()


def interrupt_a_run(tmp_path, weights, signum, workers):
    """Runs the command in its own process group, sends `signum` once it has written an output
    (to the whole group, as a terminal's Ctrl-C does, or to the launcher, as `kill` does)."""
    save_images(tmp_path / "in", 40, side=360)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "srcnn.upscaling.batch", str(tmp_path / "in"), "-o", str(out),
               "--checkpoint", weights, "--workers", str(workers)]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True, env=dict(os.environ, PYTHONPATH=ROOT))
    deadline = time.monotonic() + 240
    while not any(name.endswith("_srcnn_x2.png") for name in (os.listdir(out) if out.exists() else [])):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.05)
    (os.killpg if signum == signal.SIGINT else os.kill)(run.pid, signum)
    _, stderr = run.communicate(timeout=120)
    written = [name for name in os.listdir(out) if name.endswith("_srcnn_x2.png")]
    assert 0 < len(written) < 40, "the run ended before the signal came"
    return run.returncode, stderr, out


@pytest.mark.slow
@pytest.mark.parametrize("signum, workers, code, said", [
    (signal.SIGTERM, 1, 143, "interrupted by SIGTERM; "),
    (signal.SIGINT, 2, 130, "interrupted; "),
])
def test_ctrl_c_and_sigterm_end_the_run_with_one_line_and_leave_nothing(signum, workers, code, said, weights,
                                                                        tmp_path):
    pytest.importorskip("apache_beam")
    returncode, stderr, out = interrupt_a_run(tmp_path, weights, signum, workers)
    lines = stderr.strip().splitlines()
    assert returncode == code, stderr
    assert lines[-1].startswith(said) and "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    if workers == 1:
        assert len(lines) == 1, stderr
    assert not leftovers(out) and not [name for name in os.listdir(out) if name.startswith(".")]
    assert "failures.csv" not in os.listdir(out)  # an interrupted run replaces no failures CSV
    for name in os.listdir(out):  # what is there is whole
        with Image.open(out / name) as image:
            image.load()


def test_an_input_whose_name_starts_with_a_dash(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-x.png").write_bytes(b"a photo")
    args, _ = batch_inputs.parse_args(["-o", "out", "--", "-x.png", "a.png"])
    assert args.inputs == [os.path.join(os.curdir, "-x.png"), "a.png"]  # the same file, unmistakable
    with pytest.raises(SystemExit):
        batch_inputs.parse_args(["-x.png", "-o", "out"])
    assert "-x.png: a file whose name starts with - reads as a flag; write ./-x.png" in capsys.readouterr().err


def test_beam_temporaries_of_an_output_go_and_a_users_look_alike_stays(tmp_path):
    output = tmp_path / "failures.csv"
    beams = tmp_path / "beam-temp-failures.csv-1f2e"
    beams.mkdir()
    (beams / "1f2e.failures.csv").write_text("path,reason\n")
    mine = tmp_path / "beam-temp-failures.csv-mine"
    (mine / "sub").mkdir(parents=True)
    (mine / "sub" / "notes.txt").write_text("my notes")
    batch.remove_beam_temporaries(str(output))
    assert not beams.exists() and (mine / "sub" / "notes.txt").read_text() == "my notes"
