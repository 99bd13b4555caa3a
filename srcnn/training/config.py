"""The training settings and the recipe saved with the weights."""

import math
from dataclasses import dataclass
from srcnn.core.errors import UserError
from srcnn.core.flags import SEED_LIMIT
from srcnn.core.model import INITIALIZATIONS, valid_margin
from srcnn.core.precision import resolve_precision


OPTIMIZERS = ("adam", "sgd")


TRAINING_PRECISIONS = ("auto", "float32", "mixed_bfloat16")


@dataclass
class TrainSettings:
    """What `train` needs besides the data; the defaults are the project's recipe."""

    scale: int = 3
    arch: str = "9-1-5"
    optimizer: str = "adam"
    learning_rate: float = None  # None: 1e-3 for adam, 1e-4 for sgd (the paper's)
    initialization: str = None  # None: "identity" for adam, "gaussian" for sgd (the paper's); see SRCNN
    epochs: int = 36
    batch_size: int = 16
    seed: int = 0
    checkpoint_dir: str = "checkpoint/x3"
    log_dir: str = "logs/x3"
    save_every: int = 500
    log_every: int = 10  # steps between loss summaries (and step lines with print_steps)
    print_steps: bool = False  # a line per log_every steps, besides the progress bar
    image_every: int = 10
    augment: bool = True  # a random flip/rotation of each batch
    precision: str = "auto"  # "mixed_bfloat16" (bfloat16 compute, float32 weights) where native, else "float32"
    fresh: bool = False

    def __post_init__(self):
        """Raises UserError for values no training can use (the scripts check their flags earlier)."""
        for name in ("epochs", "batch_size", "save_every", "log_every", "image_every"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise UserError(f"{name} {getattr(self, name)!r}: must be a positive integer")
        if not isinstance(self.seed, int) or not 0 <= self.seed < SEED_LIMIT:
            raise UserError(f"seed {self.seed!r}: must be an integer from 0 to {SEED_LIMIT - 1}")
        if self.learning_rate is not None and not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise UserError(f"learning rate {self.learning_rate}: must be a finite number above 0")
        if self.initialization is not None and self.initialization not in INITIALIZATIONS:
            raise UserError(f"initialization {self.initialization!r} is not one of {', '.join(INITIALIZATIONS)}")


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
    """What of `settings` decides the weights, resolved (no "auto", no None): saved as recipe.json
    beside the checkpoints (see `srcnn.core.checkpoints`)."""
    return {"scale": settings.scale, "arch": settings.arch, "optimizer": settings.optimizer,
            "learning_rate": resolved_learning_rate(settings), "initialization": resolved_initialization(settings),
            "epochs": settings.epochs, "batch_size": settings.batch_size, "seed": settings.seed,
            "augment": settings.augment, "precision": training_precision(settings.precision)}


def check_inputs(settings, patches, strategy):
    """Raises UserError for settings or patches that cannot train; returns the batch size."""
    if settings.optimizer not in OPTIMIZERS:
        raise UserError(f"--optimizer {settings.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
    if settings.precision not in TRAINING_PRECISIONS:
        raise UserError(f"--precision {settings.precision!r} is not one of {', '.join(TRAINING_PRECISIONS)}")
    margin = valid_margin(settings.arch)
    if patches.image_size - 2 * margin != patches.label_size:
        raise UserError(f"patches {patches.image_size}x{patches.image_size} with labels "
                        f"{patches.label_size}x{patches.label_size} do not fit a {settings.arch} network, "
                        f"which crops {margin} px per side")
    if patches.count == 0:
        raise UserError("no training patches: the images are smaller than the patch size")
    replicas = strategy.num_replicas_in_sync
    if settings.batch_size % replicas:
        raise UserError(f"--batch-size {settings.batch_size} does not split evenly over {replicas} replicas; "
                        f"pass a multiple of {replicas}")
    batch_size = min(settings.batch_size, patches.count - patches.count % replicas)  # fewer patches than a batch
    if batch_size == 0:
        raise UserError(f"{patches.count} training patches cannot be split over {replicas} replicas; "
                        "make more patches with step1_pre.py")
    return batch_size
