"""Progress: the progress bar, the run's clock and expected time, and epochs sized to minutes."""

import itertools
import math
import os
import time
from srcnn.core.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters
import numpy as np
from tqdm import tqdm
from srcnn.core import checkpoints
from srcnn.core.errors import SettingError, interrupts_held
from srcnn.training.config import check_inputs
from srcnn.training.execution import CHUNK_STEPS, chunk_function, one_device_execution
from srcnn.training.summaries import validation_restorer
from srcnn.training.update import build_run


class Progress:
    """What the person watching a training sees: one progress bar for the whole run (epoch,
    loss, the run's ETA), the expected time once steps have been timed, an optional loss
    line per logged step, and a line per epoch with its own time.

    Args:
        settings: the TrainSettings (epochs, print_steps).
        first_step: the step the run (re)starts from.
        steps_per_epoch: steps in an epoch.
        say: where lines go.
    """

    def __init__(self, settings, first_step, steps_per_epoch, say):
        self.settings, self.steps_per_epoch, self.say = settings, steps_per_epoch, say
        self.clock = RunClock(first_step, steps_per_epoch * settings.epochs)
        self.bar = tqdm(total=self.clock.total_steps, initial=first_step, unit="step", leave=False, disable=None,
                        dynamic_ncols=True)
        self.epoch_started = time.perf_counter()
        self.expected = False  # whether the expected time was said

    def line(self, text):
        """A line above the bar."""
        with interrupts_held(), tqdm.external_write_mode():
            self.say(text)

    def start_epoch(self, epoch):
        self.bar.set_description(f"epoch {epoch + 1}/{self.settings.epochs}", refresh=False)
        self.epoch_started = time.perf_counter()

    def steps_done(self, step, count):
        """`count` steps have finished, the last being `step`; says the expected time once they are timed."""
        self.bar.update(count)
        timed = self.clock.step_done(step)
        if timed >= RunClock.TIMED_STEPS and not self.expected:
            self.expected = True
            self.line(self.clock.expectation(self.steps_per_epoch, self.settings.epochs, step))

    def loss(self, epoch, step, loss):
        self.bar.set_postfix(loss=f"{loss:.6f}", refresh=False)
        if self.settings.print_steps:
            self.line(f"Epoch: [{epoch + 1:2d}] step: [{step}] time: [{self.clock.seconds():.4f}] loss: [{loss:.8f}]")

    def epoch_done(self, row):
        self.line(f"epoch {row['epoch']}/{self.settings.epochs}: loss {row['loss']:.6f}, validation PSNR "
                  f"{row['psnr']:.2f} dB (bicubic {row['bicubic_psnr']:.2f} dB), "
                  f"{time.perf_counter() - self.epoch_started:.1f} s ({self.clock.progress(row['step'])})")

    def close(self):
        self.bar.close()


class RunClock:
    """Time since this process started training, and what it says about the rest of the run.

    Args:
        first_step: the step the run (re)starts from.
        total_steps: the step it ends at.
    """

    WARM_UP_STEPS = 0  # steps after the first call (a chunk of steps that traces and compiles) still slower
    TIMED_STEPS = 30  # steps timed after those, at least, for the expected time

    def __init__(self, first_step, total_steps):
        self.first_step, self.total_steps = first_step, total_steps
        self.started = time.perf_counter()
        self._first_done = None  # (time, step) when the first step of this process ended
        self._warm = None  # (time, step) when the warm-up ended

    def seconds(self):
        return time.perf_counter() - self.started

    def step_done(self, step):
        """Records finished steps up to `step`; returns how many have been timed (after the warm-up)."""
        if self._first_done is None:
            self._first_done = (time.perf_counter(), step)
        if self._warm is None and step - self._first_done[1] >= self.WARM_UP_STEPS:
            self._warm = (time.perf_counter(), step)
        return step - self._warm[1] if self._warm else 0

    def expectation(self, steps_per_epoch, epochs, step):
        """The line that says how long an epoch and the rest of the run should take here (at `step`)."""
        timed = step - self._warm[1]
        step_seconds = (time.perf_counter() - self._warm[0]) / timed
        left = self.total_steps - self._first_done[1]
        return (f"Expected: {step_seconds * steps_per_epoch:.1f} s per epoch here (from {timed} "
                f"steps), about {duration(step_seconds * left)} for the "
                f"{math.ceil(left / steps_per_epoch)} of {epochs} epochs to go")

    def progress(self, step):
        """'12.3 min in, about 4.1 min left', from the pace since the first step (which compiles)."""
        if self._first_done is None:  # an epoch validated again on resume, before any step
            return f"{duration(self.seconds())} in"
        first_time, first_step = self._first_done
        done = step - first_step
        left = (self.total_steps - step) * (time.perf_counter() - first_time) / done if done else math.nan
        return f"{duration(self.seconds())} in, about {duration(left)} left" if step < self.total_steps else \
            f"{duration(self.seconds())} in all"


def duration(seconds):
    """A duration as people say it: "45 s", "12.6 min", "1.4 h"."""
    if not math.isfinite(seconds):
        return "? s"
    if seconds < 9.5:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


CALIBRATION_CHUNKS = 2  # timed chunks of steps (after one that compiles) for `epochs_for_minutes`


def epochs_for_minutes(settings, patches, test_images, minutes, say=print, strategy=None, execution=None):
    """The number of epochs that train in `minutes` here, from a short measured trial.

    The trial builds a throwaway copy of the run, times CALIBRATION_CHUNKS chunks of its steps on
    real batches and one validation, and spends its own time out of the budget. A run
    that will continue from a checkpoint keeps the epochs its recipe.json records (the
    learning-rate schedule spans them).

    Raises:
        SRCNNError: as `train_on` for unusable settings or patches; SettingError ("minutes") for a
            budget too small for one epoch.
    """
    strategy = strategy or tf.distribute.get_strategy()
    started = time.perf_counter()
    if not settings.fresh and checkpoints.newest_complete(settings.checkpoint_dir)[0]:
        recorded = (checkpoints.read_recipe(os.path.join(settings.checkpoint_dir, checkpoints.RECIPE_FILE))
                    or {}).get("epochs")
        if isinstance(recorded, int) and recorded > 0:
            say(f"{minutes:g} minutes: continuing the run of {recorded} epochs that {settings.checkpoint_dir} "
                "records (minutes size new runs; a fresh start makes one)")
            return recorded
    batch_size = check_inputs(settings, patches, strategy)
    run = build_run(settings, strategy, total_steps=1)
    run_steps = chunk_function(run, strategy, one_device_execution(settings, strategy, execution), batch_size)
    batches, timings = patches.batches(batch_size, np.random.default_rng([settings.seed, 0])), []
    for _ in range(1 + CALIBRATION_CHUNKS):
        chunk = list(itertools.islice(batches, CHUNK_STEPS))
        if not chunk:
            break
        tick = time.perf_counter()
        run_steps([data for data, _ in chunk], [label for _, label in chunk])
        timings.append(((time.perf_counter() - tick), len(chunk)))
    step_seconds = float(np.median([seconds / count for seconds, count in timings[1:] or timings]))
    compile_seconds = timings[0][0] - step_seconds * timings[0][1]  # the real run's first chunk compiles again
    restore = validation_restorer(run.model, test_images, settings.scale)
    restore()  # traces
    tick = time.perf_counter()
    restore()
    validation_seconds = time.perf_counter() - tick
    epoch_seconds = step_seconds * (patches.count // batch_size) + validation_seconds
    budget = 60 * minutes - (time.perf_counter() - started) - compile_seconds
    if budget < epoch_seconds:
        raise SettingError(f"{minutes:g} minutes: one epoch takes about {duration(epoch_seconds)} here; "
                           "give more minutes, or fewer patches", "minutes")
    epochs = int(budget // epoch_seconds)
    say(f"{minutes:g} minutes: {epochs} epochs fit ({epoch_seconds:.1f} s per epoch measured here: "
        f"{patches.count // batch_size} steps of {1000 * step_seconds:.0f} ms and a validation of "
        f"{validation_seconds:.1f} s)")
    return epochs
