"""The checkpoint bundle: weights plus the config that rebuilds the model from them alone.

A bundle is a `tf.train.Checkpoint` with
    model    the SRCNN layers conv1..convN (kernel and bias of each)
    config   `scale` (int) and `arch` (string, e.g. "9-1-5" or "9x128-1x64-5": `srcnn.core.model`)
and, while training, also `optimizer`, `step` and `epoch_losses` (the sum and count of
the losses read in the current epoch, for its history row on resume). Shipped weights
(`checkpoint/pretrained/x{scale}/srcnn`) hold model and config only.

Beside the checkpoints, `recipe.json` in the same folder holds the training recipe that
made them (`srcnn.training.config.recipe`: the whole training config, resolved),
written by the run that saved the newest checkpoint there and copied by
tools/export_weights.py; `describe_recipe` gives the line step 3 prints.

A checkpoint is complete when its index and every tensor it lists read back with
matching checksums. `tf.train.CheckpointManager` writes the data, then the index, then
the `checkpoint` state file. A process killed mid-save therefore leaves the state file
pointing at a complete checkpoint, though not always the newest (the kill can fall
between index and state); a save that rewrites a recorded number, or a damaged disk,
can leave it pointing at a broken one. Folders are therefore read through
`newest_complete`, which checks and falls back.
"""

import json
import os
import re

from srcnn.core.startup import tf  # TensorFlow with its start-up messages filtered (srcnn.core.startup)

from srcnn.core.errors import CheckpointError, ResumeError, printable
from srcnn.core.choices import SCALES
from srcnn.core.colour import CHANNEL_COUNTS, CHANNEL_NAMES
from srcnn.core.outputs import rewriting
from srcnn.core.model import DEFAULT_ARCH, DEFAULT_PADDING, SRCNN, Architecture, arch_name, normalise_arch, parse_arch

# What reading a damaged checkpoint raises: a short data file gives IndexError ("Read less
# bytes than requested"), a bad index an OpError.
READ_ERRORS = (tf.errors.OpError, ValueError, IndexError)

RECIPE_FILE = "recipe.json"
CHANNELS_KEY = "config/channels/.ATTRIBUTES/VARIABLE_VALUE"
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # srcnn/
# The shipped weights: package data (srcnn/pretrained/, mapped from checkpoint/pretrained/ by
# pyproject.toml) once installed, checkpoint/pretrained/ beside the package in a checkout.
# Both are found from the package's own location, whatever the working folder.
_INSTALLED_PRETRAINED = os.path.join(_PACKAGE_DIR, "pretrained")
PRETRAINED_DIR = (_INSTALLED_PRETRAINED if os.path.isdir(_INSTALLED_PRETRAINED)
                  else os.path.join(os.path.dirname(_PACKAGE_DIR), "checkpoint", "pretrained"))


class Config(tf.Module):
    """What a checkpoint needs to rebuild its model, stored as checkpoint variables."""

    def __init__(self, scale, arch, channels="y"):
        super().__init__()
        self.scale = tf.Variable(int(scale), dtype=tf.int64, trainable=False)
        self.arch = tf.Variable(normalise_arch(arch), dtype=tf.string, trainable=False)
        if channels != "y":  # a Y network's checkpoint stays as before, readable by earlier releases
            self.channels = tf.Variable(channels, dtype=tf.string, trainable=False)


def pretrained_path(scale, arch=DEFAULT_ARCH):
    """The prefix of the shipped weights of network `arch` for `scale` (which may not exist:
    `shipped_weights` lists those that do). 9-1-5's lie in x{scale}/, the others' in <arch>/x{scale}/."""
    arch = normalise_arch(arch)
    folder = f"x{scale}" if arch == DEFAULT_ARCH else os.path.join(arch, f"x{scale}")
    return os.path.join(PRETRAINED_DIR, folder, "srcnn")


def shipped_weights():
    """[(arch, scale)] of the shipped weights, 9-1-5's first: what `pretrained_path` finds."""
    found = []
    for arch in [DEFAULT_ARCH] + sorted(name for name in _listing(PRETRAINED_DIR) if not name.startswith("x")):
        found += [(arch, scale) for scale in SCALES if os.path.exists(pretrained_path(scale, arch) + ".index")]
    return found


def _listing(folder):
    try:
        return os.listdir(folder)
    except OSError:
        return []


def describe_shipped():
    """"9-1-5 x2, x3, x4; 9-5-5 x2, x3, x4": the shipped weights, for messages."""
    by_arch = {}
    for arch, scale in shipped_weights():
        by_arch.setdefault(arch, []).append(f"x{scale}")
    return "; ".join(f"{arch} {', '.join(scales)}" for arch, scales in by_arch.items()) or "none"


def is_pretrained_location(path):
    """True if `path` is (inside) the folder of shipped weights, which training must not touch."""
    path = os.path.realpath(path)
    return path == os.path.realpath(PRETRAINED_DIR) or path.startswith(os.path.realpath(PRETRAINED_DIR) + os.sep)


def checkpoint_number(prefix):
    """The N of a `name-N` prefix (the training step), or None."""
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else None


def why_unreadable(prefix):
    """Why the checkpoint at `prefix` cannot be restored (half-written, damaged), or None.

    Reads every tensor, which checks each one's checksum; SRCNN bundles are small.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except READ_ERRORS as error:
        return (getattr(error, "message", None) or str(error)).splitlines()[0]
    return None


def newest_complete(directory):
    """The newest complete checkpoint in a folder, skipping half-written ones.

    Candidates are the prefixes the `checkpoint` state file lists and every numbered
    `name-N.index` in the folder (a kill between writing a checkpoint and recording it
    leaves one unlisted); the highest-numbered complete one wins. A folder with neither
    but a single `*.index` (e.g. exported weights) gives that one.

    Returns:
        (prefix or None, [(skipped prefix, reason), ...]) newest first.
    """
    if not os.path.isdir(directory):
        return None, []
    indexed = [os.path.join(directory, name[: -len(".index")])
               for name in sorted(os.listdir(directory)) if name.endswith(".index")]
    state = tf.train.get_checkpoint_state(directory)
    latest = os.path.normpath(state.model_checkpoint_path) if state else None
    candidates = [latest, *(reversed(state.all_model_checkpoint_paths) if state else ())]
    candidates += [prefix for prefix in indexed if checkpoint_number(prefix) is not None]
    candidates = list(dict.fromkeys(os.path.normpath(prefix) for prefix in candidates if prefix))
    if not candidates and len(indexed) == 1:
        candidates = indexed
    # stable sort: unnumbered prefixes go last, in the state file's order
    candidates.sort(key=lambda prefix: -1 if checkpoint_number(prefix) is None else checkpoint_number(prefix),
                    reverse=True)
    skipped = []
    for prefix in candidates:
        if not os.path.exists(prefix + ".index"):
            if prefix == latest:
                skipped.append((prefix, "its .index file is missing"))
            continue  # older ones the manager has deleted
        reason = why_unreadable(prefix)
        if reason is None:
            return prefix, skipped
        skipped.append((prefix, reason))
    return None, skipped


def resolve(path):
    """A checkpoint prefix from a prefix, one of its files (`.index`, `.data-…`), or a folder
    (its newest complete checkpoint).

    Raises:
        CheckpointError: nothing loadable there.
    """
    own_file = re.fullmatch(r"(.+)\.(index|data-\d{5}-of-\d{5})", path)
    if own_file and os.path.exists(own_file.group(1) + ".index"):
        path = own_file.group(1)  # what a file browser or tab completion gives
    if os.path.exists(path + ".index"):
        return path
    if os.path.isdir(path):
        newest, skipped = newest_complete(path)
        if newest:
            return newest
        if skipped:
            raise CheckpointError(f"{path}: no complete checkpoint there ({skipped[0][0]}: {skipped[0][1]})")
    raise CheckpointError(f"{path}: no checkpoint there (a checkpoint prefix, or a folder of them, from step2_train.py)")


def read_config(prefix):
    """{"scale": int, "arch": str, "channels": "y", "rgb" or "ycbcr"} stored in a checkpoint.

    Raises:
        CheckpointError: unreadable, or not an SRCNN bundle.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
        scale = reader.get_tensor("config/scale/.ATTRIBUTES/VARIABLE_VALUE")
        arch = reader.get_tensor("config/arch/.ATTRIBUTES/VARIABLE_VALUE")
        shapes = reader.get_variable_to_shape_map()
        channels = reader.get_tensor(CHANNELS_KEY) if CHANNELS_KEY in shapes else b"y"
    except READ_ERRORS:
        raise CheckpointError(f"{prefix}: not a readable SRCNN checkpoint (no scale/arch config, or damaged)") from None
    # Values from a file: checked here, before anything is built from them.
    try:
        arch = arch.decode() if isinstance(arch, bytes) else str(arch)
        layers = parse_arch(arch)
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(f"{prefix}: its config names architecture {printable(arch)!s:.40}, not filter sizes "
                              "like 9-1-5; not an SRCNN checkpoint of this project") from None
    if getattr(scale, "shape", ()) != () or int(scale) not in SCALES:
        raise CheckpointError(f"{prefix}: its config says scale {printable(scale)!s:.40}, not one of "
                              f"{', '.join(map(str, SCALES))}; not an SRCNN checkpoint of this project")
    channels = channels.decode(errors="replace") if isinstance(channels, bytes) else str(channels)
    if channels not in CHANNEL_COUNTS:
        raise CheckpointError(f"{prefix}: its config says channels {printable(channels)!s:.40}, not one of "
                              f"{', '.join(CHANNEL_COUNTS)}; not an SRCNN checkpoint of this project")
    stored = _stored_layers(shapes)
    planes = CHANNEL_COUNTS[channels]
    if stored and stored != Architecture(layers.sizes, layers.widths[:-1] + (planes,)):
        raise CheckpointError(f"{prefix}: its config says {arch}"
                              f"{'' if channels == 'y' else ' on ' + CHANNEL_NAMES[channels]}, but its filters are "
                              f"{_describe(stored)}; the file is damaged")
    return {"scale": int(scale), "arch": normalise_arch(arch), "channels": channels}


def _stored_layers(shapes):
    """The `Architecture` of the kernels model/conv1, conv2, ... in a checkpoint's variable shapes, or None."""
    kernels = []
    while (shape := shapes.get(f"model/conv{len(kernels) + 1}/_kernel/.ATTRIBUTES/VARIABLE_VALUE")) is not None:
        kernels.append(shape)
    if not kernels:
        return None
    return Architecture(tuple(kernel[0] for kernel in kernels), tuple(kernel[-1] for kernel in kernels))


def _describe(layers):
    """`arch_name` of stored kernels, which need not make a network (an even size, a last layer of 2 maps)."""
    if layers.widths[-1] != 1:
        return "-".join(f"{size}x{width}" for size, width in zip(*layers))
    return arch_name(*layers)


def trained_optimizer(prefix):
    """"adam" or "sgd": the optimizer whose state a training checkpoint holds (None: none, or unknown).

    Told from the slots per weight: Adam keeps two (its moments), SGD with momentum one.
    """
    shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    weights = sum(1 for name in shapes if name.startswith("model/"))
    slots = sum(1 for name, shape in shapes.items() if name.startswith("optimizer/_variables/") and shape)
    return {2: "adam", 1: "sgd"}.get(slots // weights) if weights and slots % weights == 0 else None


class WrongScale(CheckpointError):
    """Weights for another scale than the one asked for: `recorded` is theirs, `wanted` the other."""

    setting = "scale"

    def __init__(self, prefix, recorded, wanted):
        super().__init__(f"{prefix}: trained for x{recorded}, but x{wanted} is asked for")
        self.recorded, self.wanted = recorded, wanted


def check_scale(prefix, scale, config=None):
    """The checkpoint's config (read unless given), checked against `scale` (None: any): the one scale check.

    Raises:
        WrongScale: it was trained for another scale.
    """
    config = config or read_config(prefix)
    if scale is not None and config["scale"] != scale:
        raise WrongScale(prefix, config["scale"], scale)
    return config


def check_upscalable(name, channels):
    """Raises CheckpointError for a network that upscaling and export cannot run: one of colour planes.

    Args:
        name: the checkpoint (or what else holds the network), for the message.
        channels: the network's ("y", "rgb" or "ycbcr").
    """
    if channels != "y":
        raise CheckpointError(f"{name}: restores {CHANNEL_NAMES[channels]} planes (the paper's colour study), "
                              "which only step 3's evaluation runs; upscaling and export take networks of Y")


def check_config(prefix, scale, arch, optimizer=None, channels="y"):
    """The config of a checkpoint a training continues, checked against its settings.

    Raises:
        ResumeError: made with another optimizer or architecture (`.setting`, `.recorded` say which).
        WrongScale: made for another scale.
    """
    config = read_config(prefix)
    trained_with = trained_optimizer(prefix) if optimizer else None
    if trained_with and trained_with != optimizer:
        raise ResumeError(f"{prefix}: trained with optimizer {trained_with}, not {optimizer}", "optimizer",
                          trained_with)
    if config["arch"] != normalise_arch(arch):
        raise ResumeError(f"{prefix}: a {config['arch']} network, not {normalise_arch(arch)}", "arch", config["arch"])
    if config["channels"] != channels:
        raise ResumeError(f"{prefix}: a network of {config['channels']}, not {channels}", "channels",
                          config["channels"])
    return check_scale(prefix, scale, config)


def load_model(prefix, padding=DEFAULT_PADDING):
    """Rebuilds the network from a bundle and restores its weights.

    Returns:
        (model, config)
    """
    config = read_config(prefix)
    model = SRCNN(config["arch"], padding=padding, channels=config["channels"])
    checkpoint = tf.train.Checkpoint(model=model)
    damage = why_unreadable(prefix)
    if damage:
        raise CheckpointError(f"{prefix}: incomplete or damaged ({damage})")
    try:
        checkpoint.read(prefix).expect_partial().assert_existing_objects_matched()
    except (AssertionError, *READ_ERRORS) as error:
        reason = str(error).splitlines()[0]
        raise CheckpointError(f"{prefix}: weights do not fit a {config['arch']} network ({reason})") from None
    return model, config


def export_weights(model, scale, prefix, recipe=None):
    """Writes a weights-only bundle (no optimizer state), e.g. for shipping, and its recipe.json if given."""
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    written = tf.train.Checkpoint(model=model, config=Config(scale, model.arch, model.channels)).write(prefix)
    if recipe:
        write_recipe(os.path.dirname(written), recipe)
    return written


def bundle_files(prefix):
    """The files of the checkpoint at `prefix` and those beside it (recipe, history): a run's inputs."""
    folder = os.path.dirname(os.path.abspath(prefix))
    try:
        return [os.path.join(folder, name) for name in os.listdir(folder)
                if os.path.isfile(os.path.join(folder, name))]
    except OSError:
        return []


def recipe_path(prefix):
    """The recipe.json beside the checkpoint `prefix` (in its folder)."""
    return os.path.join(os.path.dirname(prefix), RECIPE_FILE)


def write_recipe(folder, recipe):
    """Writes `recipe` (a JSON-able dict) as folder/recipe.json, atomically; unchanged files are left alone.

    Raises:
        OSError: the folder cannot be written.
    """
    path = os.path.join(folder, RECIPE_FILE)
    text = json.dumps(recipe, indent=2) + "\n"
    if read_recipe(path) == recipe:
        return path
    with rewriting(path) as temporary, open(temporary, "w") as handle:
        handle.write(text)
    return path


def read_recipe(prefix):
    """The recipe dict beside a checkpoint prefix (or at a recipe.json path), or None if absent or unreadable."""
    path = prefix if prefix.endswith(".json") else recipe_path(prefix)
    try:
        with open(path) as handle:
            recipe = json.load(handle)
    except (OSError, ValueError):
        return None
    return recipe if isinstance(recipe, dict) else None


def describe_recipe(prefix):
    """The recipe beside a checkpoint in one line, e.g. "adam (learning rate 0.001), identity init,
    36 epochs of batch 64, augmented, float32, seed 0" (recipes before the initialisation was
    recorded name none)."""
    recipe = read_recipe(prefix)
    if not recipe:
        return "no recipe.json beside the weights"
    try:
        initialization = f"{recipe['initialization']} init, " if "initialization" in recipe else ""
        return (f"{recipe['optimizer']} (learning rate {recipe['learning_rate']:g}), {initialization}"
                f"{recipe['epochs']} epochs of "
                f"batch {recipe['batch_size']}, {'augmented' if recipe['augment'] else 'not augmented'}, "
                f"{recipe['precision']}, seed {recipe['seed']}")
    except (KeyError, TypeError, ValueError):
        return f"{RECIPE_FILE} of another form: {json.dumps(recipe)}"
