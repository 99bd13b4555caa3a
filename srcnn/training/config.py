"""The training config: each setting's default, check, help and resume rule in one table.

`TrainSettings` is that table. From it come step2_train.py's flags (`add_flags`, one per
setting, kebab-case), the recipe.json saved beside the weights (`recipe`: the whole config,
resolved), and the comparison a resume makes with it (`compare_with_recipe`). Help texts
write another setting as {name}; `add_flags` puts in its flag.
"""

import argparse
import dataclasses
import math
from dataclasses import dataclass

from srcnn.core import flags
from srcnn.core.choices import (CHANNELS, DEFAULT_IMAGE_SIZE, DEFAULT_SCALE, EXECUTIONS, OPTIMIZERS, SCALES,  # noqa: F401
                                STRATEGIES, TRAINING_PRECISIONS)
from srcnn.core.errors import DataFileError, ResumeError, SettingError, printable
from srcnn.core.model import DEFAULT_ARCH, INITIALIZATIONS, normalise_arch, valid_margin
from srcnn.core.precision import resolve_precision
from srcnn.training.run_folder import default_checkpoint_dir, default_log_dir

# What a resume may change (`compare_with_recipe`): FIXED settings are the run's for good (other
# weights, optimizer state or epochs of other steps), NOTED ones change from here on with a line
# saying so (they decide the weights), FREE ones are how this process runs. FRESH is not stored.
# KEPT ones acted at the start only (the initialisation): a resume keeps the recorded value.
FIXED, NOTED, FREE, ACTION, KEPT = "fixed", "noted", "free", "action", "kept"
SHUFFLE_BUFFER = 16384  # patches held for shuffling when streaming: ~100 MB
EPOCHS, LOG_EVERY = 44, 10


def _positive_int(value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return "must be a positive integer"


def _positive_number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        return "must be a finite number above 0"


def _minutes(value):
    problem = _positive_number(value)
    if problem is None and value > flags.MAX_MINUTES:
        return f"must be at most {flags.MAX_MINUTES} (a week)"
    return problem


def _seed(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < flags.SEED_LIMIT:
        return f"must be an integer from 0 to {flags.SEED_LIMIT - 1}"


def _arch(value):
    try:
        valid_margin(value)
    except ValueError as error:  # "architecture '9-2-5': filter sizes must be odd, like ...": the setting names it
        return str(error).removeprefix(f"architecture {value!r}: ")


def _text(value):
    if not isinstance(value, str) or not value:
        return "must be a path"


def architecture(text):
    """argparse type: a network description (`srcnn.core.model`), written the one way."""
    problem = _arch(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: {problem}")
    return normalise_arch(text)


def setting(default, help, *, check=None, choices=None, parse=None, resume=FREE, flag=True, unset=False):
    """One row of the table: a dataclass field whose metadata the flags, recipe and resume read.

    Args:
        check: value -> what is wrong with it, or None; choices: the values allowed.
        parse: the flag's argparse type; flag: False for settings without one, or an argparse action.
        resume: FIXED, NOTED, FREE or ACTION (see above).
        unset: the flag defaults to None, so that a script can tell it was not given.
    """
    return dataclasses.field(default=default, metadata=dict(
        help=help, check=check, choices=choices, parse=parse, resume=resume, flag=flag, unset=unset))


@dataclass
class TrainSettings:
    """Everything a training is set to; the defaults are the project's recipe."""

    train_h5: str = setting("h5/train.h5", "training patches made by step1_pre.py", check=_text)
    test_h5: str = setting("h5/test.h5", "validation images, evaluated each epoch", check=_text)
    scale: int = setting(DEFAULT_SCALE, None, choices=SCALES, parse=int, resume=FIXED)
    arch: str = setting(DEFAULT_ARCH, "the layers' odd filter sizes joined by -, two or more: 9-1-5 (ECCV 2014, "
                                      "default), 9-5-5 (TPAMI 2016), 9-1-1-5; a hidden layer's maps after x, as in "
                                      "9x128-1x64-5 (without x: 64, 32, then 16; the last layer has 1)",
                        check=_arch, parse=architecture, resume=FIXED)
    channels: str = setting("y", "y (default): the network restores Y, the colour is bicubic; rgb or ycbcr: three "
                                 "planes in and out (the paper's colour study); the train.h5 must be made for it",
                            choices=CHANNELS, resume=FIXED)
    image_size: int = setting(DEFAULT_IMAGE_SIZE, "input patch side the h5 must have", check=_positive_int,
                              parse=flags.positive_int)
    optimizer: str = setting("adam", "adam: He init, Adam, cosine decay (default); sgd: the paper's recipe",
                             choices=OPTIMIZERS, resume=FIXED)
    learning_rate: float = setting(None, "default 1e-3 (adam) or 1e-4 (sgd)", check=_positive_number,
                                   parse=flags.positive_float, resume=NOTED)
    initialization: str = setting(
        None, "identity (default with adam): He init with one path that passes the input, so training starts "
              "from bicubic; he; gaussian (default with sgd, the paper's)", choices=INITIALIZATIONS, resume=KEPT)
    epochs: int = setting(EPOCHS, f"default {EPOCHS}", check=_positive_int, parse=flags.positive_int, resume=NOTED, unset=True)
    minutes: float = setting(None, "instead of {epochs}: as many epochs as train in this many minutes here, "
                                   "measured by a short trial before the run", check=_minutes,
                             parse=flags.minutes)
    batch_size: int = setting(16, "global batch; split evenly across replicas with {strategy} mirrored",
                              check=_positive_int, parse=flags.positive_int, resume=FIXED)
    seed: int = setting(0, "0 to 2**32 - 1", check=_seed, parse=flags.seed, resume=NOTED)
    checkpoint_dir: str = setting(None, "default checkpoint/x{{scale}}", check=_text)
    log_dir: str = setting(None, "default logs/x{{scale}}, or CHECKPOINT_DIR/logs with {checkpoint_dir} (one log "
                                 "folder per checkpoint folder)", check=_text)
    save_every: int = setting(500, "steps between checkpoints", check=_positive_int, parse=flags.positive_int)
    log_every: int = setting(LOG_EVERY, "print a loss line every this many steps (TensorBoard gets the loss every "
                                        f"{LOG_EVERY} steps without it); a progress bar shows it anyway", check=_positive_int,
                             parse=flags.positive_int, unset=True)
    precision: str = setting("auto", "auto (default): mixed_bfloat16 where the CPU (AVX512-BF16, AMX) or GPU runs "
                                     "bfloat16 natively, else float32; mixed_bfloat16 computes in bfloat16 with "
                                     "float32 weights", choices=TRAINING_PRECISIONS, resume=NOTED)
    augment: bool = setting(True, "random flip/rotation of each batch (default on; its effect is measured in "
                                  "docs/results.md)", resume=NOTED, flag=argparse.BooleanOptionalAction)
    execution: str = setting("auto", "how a step runs on one device: xla or tf (TensorFlow's kernels), -per-core: "
                                     "the batch split into one part per core, side by side; auto (default): the "
                                     "fastest measured on this machine (once, cached)", choices=("auto",) + EXECUTIONS)
    fresh: bool = setting(False, "delete earlier checkpoints, history.csv and TensorBoard events, start over",
                          resume=ACTION, flag="store_true")
    strategy: str = setting("default", "default: one device; mirrored: tf.distribute.MirroredStrategy over all "
                                       "local GPUs (or logical CPU devices where there is none); multi-worker: "
                                       "MultiWorkerMirroredStrategy over the machines in TF_CONFIG",
                            choices=STRATEGIES)
    replicas: int = setting(None, "with {strategy} mirrored: GPUs to use (default all), or logical CPU devices to "
                                  "make without a GPU (default 2)", check=_positive_int, parse=flags.positive_int)
    stream: bool = setting(None, "read {train_h5} in chunks instead of whole (default: only when it is larger than "
                                 "half the free memory)", flag=argparse.BooleanOptionalAction)
    shuffle_buffer: int = setting(SHUFFLE_BUFFER, "when streaming: patches held in memory to shuffle among "
                                                  "(~6 KB each)", check=_positive_int, parse=flags.positive_int)
    print_steps: bool = setting(False, "a line per log_every steps besides the progress bar", flag=False)
    image_every: int = setting(10, "epochs between reconstructed images in TensorBoard", check=_positive_int,
                               flag=False)

    def __post_init__(self):
        """Resolves the default folders; raises SettingError for a value no training can use."""
        given_checkpoint_dir = self.checkpoint_dir
        self.checkpoint_dir = self.checkpoint_dir or default_checkpoint_dir(self.scale)
        self.log_dir = self.log_dir or default_log_dir(self.scale, given_checkpoint_dir)
        for field in dataclasses.fields(self):
            value, meta = getattr(self, field.name), field.metadata
            if value is None or (field.type is bool and isinstance(value, bool)):
                continue
            problem = meta["check"] and meta["check"](value)
            if not problem and meta["choices"] and value not in meta["choices"]:
                problem = f"is not one of {', '.join(map(str, meta['choices']))}"
            if problem:
                raise SettingError(f"{field.name} {value!r}: {problem}", field.name)
        self.arch = normalise_arch(self.arch)  # one name per network: recipes and resumes compare it


def add_flags(parser):
    """One flag per setting with one, in the table's order (`flags.flag_name`: batch_size gives
    batch-size), its default (None for `unset` ones), its type or choices, and its help with
    {name}s as flags."""
    names = {field.name: flags.flag_name(field.name) for field in dataclasses.fields(TrainSettings)}
    for field in dataclasses.fields(TrainSettings):
        meta = field.metadata
        if not meta["flag"]:
            continue
        options = dict(default=None if meta["unset"] else field.default)
        if meta["help"]:
            options["help"] = meta["help"].format(**names).replace("%", "%%")
        if meta["flag"] is True:
            options.update(type=meta["parse"], choices=meta["choices"])
        else:
            options["action"] = meta["flag"]
        parser.add_argument(names[field.name], **options)
    return parser


def settings_from_flags(args):
    """The TrainSettings of parsed flags (an argparse namespace): those not given keep their
    defaults; a given log_every also prints its lines."""
    given = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainSettings)
             if field.metadata["flag"] and getattr(args, field.name, None) is not None}
    return TrainSettings(**given, print_steps="log_every" in given)


def training_precision(precision):
    """The Keras dtype policy for a `TrainSettings.precision`; "auto" is bfloat16 compute where native."""
    return resolve_precision(precision, training=True)


def resolved_learning_rate(settings):
    """The learning rate a training uses: the given one, or 1e-3 for adam, 1e-4 for sgd (the paper's)."""
    if settings.learning_rate is not None:
        return settings.learning_rate
    return 1e-3 if settings.optimizer == "adam" else 1e-4


def resolved_initialization(settings):
    """The initialisation a training uses: the given one, or "identity" for adam, "gaussian" for sgd."""
    if settings.initialization is not None:
        return settings.initialization
    return "identity" if settings.optimizer == "adam" else "gaussian"


def recipe(settings):
    """The config saved as recipe.json beside the checkpoints: every setting but `fresh`,
    resolved (no "auto", no None where a default decides)."""
    resolved = {"learning_rate": resolved_learning_rate(settings),
                "initialization": resolved_initialization(settings),
                "precision": training_precision(settings.precision)}
    return {field.name: resolved.get(field.name, getattr(settings, field.name))
            for field in dataclasses.fields(settings) if field.metadata["resume"] != ACTION}


def compare_with_recipe(recorded, settings, where):
    """The settings that differ from a recorded recipe, field by field, as one line (or None).

    Settings missing from an older recipe are not compared; FREE ones may change silently.

    Raises:
        ResumeError: a FIXED setting differs (`where` is the checkpoint folder, for the message).
    """
    wanted, changed = recipe(settings), []
    for field in dataclasses.fields(settings):
        name, rule = field.name, field.metadata["resume"]
        if name not in recorded or name not in wanted or recorded[name] == wanted[name] or rule in (FREE, ACTION, KEPT):
            continue
        if rule == FIXED:
            raise ResumeError(f"{where}: this run trains with {name.replace('_', ' ')} {printable(recorded[name])} "
                              "(its recipe.json)", name, recorded[name])
        changed.append(f"{name} {printable(recorded[name])} -> {printable(wanted[name])}")
    return ", ".join(changed) or None


def keep_recorded(recorded, settings):
    """Puts the recorded values of KEPT settings back into `settings`; returns a line naming them, or None."""
    kept = []
    for field in dataclasses.fields(settings):
        name = field.name
        if field.metadata["resume"] == KEPT and name in recorded and recorded[name] != recipe(settings)[name]:
            kept.append(f"{name} stays {printable(recorded[name])}")
            setattr(settings, name, recorded[name])
    return ", ".join(kept) + " (it acted at the start only)" if kept else None


def check_inputs(settings, patches, strategy):
    """Raises SettingError or DataFileError for patches this training cannot use; returns the batch size."""
    margin = valid_margin(settings.arch)
    if patches.image_size - 2 * margin != patches.label_size:
        raise DataFileError(f"patches {patches.image_size}x{patches.image_size} with labels "
                            f"{patches.label_size}x{patches.label_size} do not fit a {settings.arch} network, "
                            f"which crops {margin} px per side: make patches with "
                            f"{patches.image_size - 2 * margin}x{patches.image_size - 2 * margin} labels for it "
                            "(step 1's label size)")
    if patches.count == 0:
        raise DataFileError("no training patches: the images are smaller than the patch size")
    replicas = strategy.num_replicas_in_sync
    if settings.batch_size % replicas:
        raise SettingError(f"batch size {settings.batch_size} does not split evenly over {replicas} replicas: "
                           f"it needs a multiple of {replicas}", "batch_size")
    batch_size = min(settings.batch_size, patches.count - patches.count % replicas)  # fewer patches than a batch
    if batch_size == 0:
        raise DataFileError(f"{patches.count} training patches cannot be split over {replicas} replicas; "
                            "make more patches with step1_pre.py")
    return batch_size
