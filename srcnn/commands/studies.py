"""The paper's studies (TPAMI 2016, Section 4): which networks each trains, and running them.

Every run trains with the project's recipe at one stated budget (the same data, epochs, seed
and batch for all), by the project's own commands in child processes: `step1_pre.py` for the
patches its network needs, `step2_train.py` to train (which resumes a killed run), then
`step3_test.py` on Set5 and Set14. A run's figures go to `<runs>/<name>/result.json` once
it is complete, so a rerun of the study skips it: a killed study continues where it stopped.
`srcnn.commands.paper` turns the results into docs/paper.md.
"""

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import NamedTuple

from srcnn.core import outputs
from srcnn.core.errors import SRCNNError
from srcnn.core.model import parse_arch, valid_margin

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE_SIZE, STRIDE = 33, 14
EPOCHS = 44  # the project's default recipe (srcnn.training.config), the budget of every run
TEST_SETS = ("Set5", "Set14")
RESULT = outputs.OutputKind("study result", recognise=os.path.isfile)
# Set5 x3 patches of the 91 images at stride 14 (the count barely moves with the scale): the
# estimate's size of an epoch until step 1 has written the real file.
PATCHES_GUESS = 21_888
MACS_PER_SECOND_GUESS = 3.5e10  # forward and backward multiply-adds a second, until a run is timed


class Run(NamedTuple):
    """One network trained (or, `shipped`, the shipped weights evaluated) at one scale."""

    arch: str
    scale: int = 3
    channels: str = "y"
    shipped: bool = False

    @property
    def name(self):
        parts = [self.arch, f"x{self.scale}"] + ([self.channels] if self.channels != "y" else [])
        return "_".join(parts) + ("_shipped" if self.shipped else "")

    @property
    def label_size(self):
        return IMAGE_SIZE - 2 * valid_margin(self.arch)

    def macs_per_patch(self):
        """Multiply-adds of one training patch, forward and backward (3x the forward)."""
        sizes, widths = parse_arch(self.arch)
        maps_in, side, total = (3 if self.channels != "y" else 1), IMAGE_SIZE, 0
        for size, width in zip(sizes, widths[:-1] + ((3 if self.channels != "y" else 1),)):
            side -= size - 1
            total += side * side * size * size * maps_in * width
            maps_in = width
        return 3 * total


@dataclasses.dataclass(frozen=True)
class Study:
    key: str
    title: str
    runs: tuple


STUDIES = (
    Study("filter-numbers", "Filter numbers (n1/n2 = 128/64, 64/32, 32/16)",
          (Run("9x128-1x64-5"), Run("9-1-5"), Run("9x32-1x16-5"))),
    Study("filter-sizes", "Filter sizes (9-1-5, 9-3-5, 9-5-5, 11-1-7)",
          (Run("9-1-5"), Run("9-3-5"), Run("9-5-5"), Run("11-1-7"))),
    Study("depth", "Depth (three layers against four: n22 = 16 maps of 1x1 added)",
          (Run("9-1-5"), Run("9-1-1-5"), Run("9-3-5"), Run("9-3-1-5"), Run("9-5-5"), Run("9-5-1-5"))),
    Study("colour", "Colour channels (Y only, RGB, YCbCr jointly)",
          (Run("9-1-5"), Run("9-1-5", channels="rgb"), Run("9-1-5", channels="ycbcr"))),
    Study("final", "The final comparison at x2, x3, x4 (Set5, Set14)",
          tuple(Run("9-1-5", scale, shipped=True) for scale in (2, 3, 4))
          + tuple(Run("9-5-5", scale) for scale in (2, 3, 4))),
)
STUDY_KEYS = tuple(study.key for study in STUDIES)


def study(key):
    return next(study for study in STUDIES if study.key == key)


def planned_runs(keys):
    """The runs of the studies `keys`, each once, in the order the studies name them."""
    runs = []
    for key in keys:
        runs += [run for run in study(key).runs if run not in runs]
    return runs


class StudyFolder:
    """Where a study's runs live: `<runs_dir>/<run>/` (checkpoints, logs, result.json) and
    `<runs_dir>/h5/x<scale>_<label size>[_<channels>]/` (the patches, shared by the runs that fit them)."""

    def __init__(self, runs_dir, train_dir, test_root, epochs=EPOCHS):
        self.runs_dir, self.train_dir, self.test_root, self.epochs = runs_dir, train_dir, test_root, epochs

    def check(self, runs, training=False):
        """Raises StudyError for a runs folder that is not one, or runs of another budget; with
        `training`, also for missing images."""
        if os.path.lexists(self.runs_dir) and not os.path.isdir(self.runs_dir):
            raise StudyError(f"{self.runs_dir}: not a folder; pass a folder for the runs (or a new name)")
        for run in runs:
            recorded = self.recorded_epochs(run)
            if recorded is not None and recorded != self.epochs:
                raise StudyError(f"{self.run_dir(run)}: trained for {recorded} epochs, but the budget is {self.epochs}; "
                                 f"pass --epochs {recorded} to go on with this study, or another --runs-dir")
        if training:
            for folder in [self.train_dir] + [os.path.join(self.test_root, name) for name in TEST_SETS]:
                if not os.path.isdir(folder):
                    raise StudyError(f"{folder}: no such folder of images; pass --train-dir and --test-root")

    def recorded_epochs(self, run):
        """The budget `run` was started with (its result.json, else its recipe.json), or None."""
        if run.shipped:
            return None
        result = self.result(run)
        if result is not None:
            return result["epochs"]
        try:
            with open(os.path.join(self.run_dir(run), "recipe.json")) as handle:
                epochs = json.load(handle).get("epochs")
        except (OSError, ValueError, AttributeError):
            return None
        return epochs if isinstance(epochs, int) else None

    def run_dir(self, run):
        return os.path.join(self.runs_dir, run.name)

    def h5_dir(self, run):
        suffix = f"_{run.channels}" if run.channels != "y" else ""
        return os.path.join(self.runs_dir, "h5", f"x{run.scale}_{run.label_size}{suffix}")

    def result_path(self, run):
        return os.path.join(self.run_dir(run), "result.json")

    def result(self, run):
        """The run's result.json as a dict, or None while the run is not complete (or it is damaged)."""
        return read_result(self.result_path(run))

    def weights(self, run):
        if run.shipped:
            from srcnn.core import checkpoints
            return checkpoints.pretrained_path(run.scale)
        return self.run_dir(run)


# What every result.json holds (`complete_run`); one without them is redone.
RESULT_FIELDS = ("run", "epochs", "train_minutes", "macs_per_patch", "seconds_per_image", "cpu", "Set5", "Set14")


def read_result(path):
    """A result.json as a dict, or None if it is missing, damaged or lacks a field."""
    try:
        with open(path) as handle:
            result = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict) or any(field not in result for field in RESULT_FIELDS) or not all(
            isinstance(result[test_set], dict) and "srcnn_psnr" in result[test_set] for test_set in TEST_SETS):
        return None
    return result


def command(script, *flags):
    """The child process's argument list for one of the project's scripts."""
    return [sys.executable, os.path.join(ROOT, script), *map(str, flags)]


def shown(arguments):
    """A child's command line as a user types it in the repository: `python script.py ...`."""
    return " ".join("python" if part == sys.executable else os.path.relpath(part, ROOT) if os.path.isabs(part)
                    else part for part in arguments)


def _call(arguments, what):
    """Runs a child process, its output shown; StudyError naming `what` if it fails."""
    code = subprocess.call(arguments, cwd=ROOT)
    if code != 0:
        raise StudyError(f"{what} ended with exit status {code}; rerun the study to continue from there")


class StudyError(SRCNNError):
    """A step of a study failed (its own output says why)."""


def prepare_data(folder, run):
    """step1_pre.py for the patches `run` trains on, unless they are there already."""
    h5_dir = folder.h5_dir(run)
    if not all(os.path.exists(os.path.join(h5_dir, name)) for name in ("train.h5", "test.h5")):
        _call(step1_command(folder, run), f"step 1 for {run.name}")


def step1_command(folder, run):
    channel_flags = ["--channels", run.channels] if run.channels != "y" else []
    return command("step1_pre.py", "--train-dir", folder.train_dir,
                   "--test-dir", os.path.join(folder.test_root, TEST_SETS[0]), "--scale", run.scale,
                   "--label-size", run.label_size, "--h5-dir", folder.h5_dir(run), *channel_flags)


def train_command(folder, run):
    h5_dir = folder.h5_dir(run)
    channel_flags = ["--channels", run.channels] if run.channels != "y" else []
    return command("step2_train.py", "--arch", run.arch, "--scale", run.scale, "--epochs", folder.epochs,
                   "--seed", 0, "--checkpoint-dir", folder.run_dir(run),
                   "--train-h5", os.path.join(h5_dir, "train.h5"), "--test-h5", os.path.join(h5_dir, "test.h5"),
                   *channel_flags)


def evaluate_command(folder, run, test_set):
    return command("step3_test.py", "--checkpoint", folder.weights(run), "--scale", run.scale,
                   "--test-dir", os.path.join(folder.test_root, test_set),
                   "--sample-dir", os.path.join(folder.run_dir(run), test_set))


def read_means(results_csv):
    """{column: mean} from the "mean" row of a step3_test.py results.csv."""
    import csv
    with open(results_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["image"] == "mean":
                return {key: float(value) for key, value in row.items() if key != "image"}
    raise StudyError(f"{results_csv}: has no mean row; rerun the study")


def seconds_per_image(weights, test_dir, scale, repeats=3):
    """Mean over the images of `test_dir` of the median time `Upscaler` takes to upscale each
    one's bicubic-downscaled copy (after one untimed call), and the engine it used."""
    from PIL import Image
    import numpy as np
    from srcnn.core.image_files import list_images
    from srcnn.upscaling.upscaler import Upscaler
    upscaler = Upscaler.from_checkpoint(weights, scale=scale)
    timings, engines = [], set()
    for path in list_images(test_dir):
        with Image.open(path) as image:
            image = image.convert("RGB")
            small = np.asarray(image.resize((image.width // scale, image.height // scale), Image.BICUBIC))
        engines.add(type(upscaler.engine_for(small.shape[:2])).__name__)
        upscaler.upscale(small)
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            upscaler.upscale(small)
            runs.append(time.perf_counter() - started)
        timings.append(sorted(runs)[len(runs) // 2])
    return sum(timings) / len(timings), ", ".join(sorted(engines))


def epoch_seconds(rows):
    """Each epoch's duration from history.csv rows, whose `seconds` count from the start of the
    process that trained them (they start again from zero where a run was resumed)."""
    durations, previous = [], 0.0
    for row in rows:
        seconds = row["seconds"]
        durations.append(seconds - previous if seconds >= previous else seconds)
        previous = seconds
    return durations


def steady_minutes(rows):
    """Training time at the run's median epoch time (validation included): what the run costs
    on this CPU, without the pauses and slow epochs of a machine shared with other work."""
    durations = sorted(epoch_seconds(rows))
    return durations[len(durations) // 2] * len(durations) / 60 if durations else None


def training_minutes(folder, run):
    """(steady minutes, wall-clock minutes) of training from the run's history.csv; (None, None) if shipped."""
    if run.shipped:
        return None, None
    from srcnn.training import history
    rows = history.read(os.path.join(folder.run_dir(run), "logs", "history.csv"))[0]
    return steady_minutes(rows), sum(epoch_seconds(rows)) / 60 if rows else None


def complete_run(folder, run, say=print):
    """Trains (or resumes) `run`, evaluates it on both test sets and writes its result.json."""
    from srcnn.training.execution import core_count, cpu_model
    if not run.shipped:
        prepare_data(folder, run)
        _call(train_command(folder, run), f"training {run.name}")
    figures = {}
    for test_set in TEST_SETS:
        _call(evaluate_command(folder, run, test_set), f"evaluating {run.name} on {test_set}")
        figures[test_set] = read_means(os.path.join(folder.run_dir(run), test_set, "results.csv"))
    seconds, engine = (None, None) if run.channels != "y" else seconds_per_image(  # upscaling takes Y networks
        folder.weights(run), os.path.join(folder.test_root, TEST_SETS[0]), run.scale)
    steady, wall = training_minutes(folder, run)
    result = {"run": run.name, "arch": run.arch, "scale": run.scale, "channels": run.channels, "shipped": run.shipped,
              "epochs": None if run.shipped else folder.epochs, "train_minutes": steady, "wall_minutes": wall,
              "macs_per_patch": run.macs_per_patch(), "seconds_per_image": seconds, "engine": engine,
              "cpu": f"{cpu_model()}, {core_count()} cores", **figures,
              "commands": [shown(arguments) for arguments in
                           ([] if run.shipped else [step1_command(folder, run), train_command(folder, run)])
                           + [evaluate_command(folder, run, test_set) for test_set in TEST_SETS]]}
    outputs.Outputs().make_folder(folder.run_dir(run))
    with outputs.rewriting(folder.result_path(run), RESULT) as temporary, open(temporary, "w") as handle:
        json.dump(result, handle, indent=1)
    say(f"{run.name}: Set5 {figures['Set5']['srcnn_psnr']:.2f} dB, Set14 {figures['Set14']['srcnn_psnr']:.2f} dB")
    return result


def estimated_seconds(folder, runs):
    """{run: expected seconds to complete it}: its multiply-adds at the rate of the runs done so
    far (median), or a guess before any; an evaluation's minute added to each."""
    rates = sorted(result["macs_per_patch"] * PATCHES_GUESS * result["epochs"] / (result["train_minutes"] * 60)
                   for result in map(folder.result, runs) if result and result.get("train_minutes"))
    rate = rates[len(rates) // 2] if rates else MACS_PER_SECOND_GUESS
    estimates = {}
    for run in runs:
        work = 0 if run.shipped else run.macs_per_patch() * PATCHES_GUESS * folder.epochs
        done = _epochs_done(folder, run) / folder.epochs if not run.shipped else 0
        estimates[run] = work * (1 - done) / rate + 60
    return estimates


def _epochs_done(folder, run):
    from srcnn.training import history
    path = os.path.join(folder.run_dir(run), "logs", "history.csv")
    try:
        rows = history.read(path)[0] if os.path.exists(path) else []
    except SRCNNError:
        return 0
    return min(len(rows), folder.epochs)


def duration(seconds):
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{max(minutes, 1)} min"


def plan(folder, runs):
    """Lines saying what is done and what is left, with the expected time."""
    estimates = estimated_seconds(folder, runs)
    left = [run for run in runs if folder.result(run) is None]
    lines = []
    for run in runs:
        result = folder.result(run)
        if result:
            lines.append(f"  done  {run.name}: Set5 {result['Set5']['srcnn_psnr']:.2f} dB")
        else:
            epochs = "" if run.shipped else f", {_epochs_done(folder, run)}/{folder.epochs} epochs done"
            lines.append(f"  to do {run.name}: about {duration(estimates[run])}{epochs}")
    lines.append(f"{len(left)} of {len(runs)} runs left, about {duration(sum(estimates[run] for run in left))}"
                 if left else f"all {len(runs)} runs done")
    return lines


def run_studies(folder, runs, say=print, done=lambda run: None):
    """Completes every run of `runs` not yet complete, saying before each what is left; calls
    `done(run)` after each."""
    for index, run in enumerate(runs):
        if folder.result(run) is not None:
            continue
        left = [other for other in runs[index:] if folder.result(other) is None]
        estimates = estimated_seconds(folder, left)
        say(f"run {index + 1}/{len(runs)}: {run.name} (about {duration(estimates[run])}); "
            f"{len(left)} runs left, about {duration(sum(estimates.values()))} in all")
        complete_run(folder, run, say)
        done(run)
