"""The checkpoint bundle: weights plus the config that rebuilds the model from them alone.

A bundle is a `tf.train.Checkpoint` with
    model    the SRCNN layers conv1..conv3 (kernel and bias of each)
    config   `scale` (int) and `arch` (string, e.g. "9-1-5")
and, while training, also `optimizer`, `step` and `epoch`. Shipped weights
(`checkpoint/pretrained/x{scale}/srcnn`) hold model and config only.
"""

import os

import tensorflow as tf

from srcnn.errors import UserError
from srcnn.model import SRCNN

PRETRAINED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                              "checkpoint", "pretrained")


class Config(tf.Module):
    """What a checkpoint needs to rebuild its model, stored as checkpoint variables."""

    def __init__(self, scale, arch):
        super().__init__()
        self.scale = tf.Variable(int(scale), dtype=tf.int64, trainable=False)
        self.arch = tf.Variable(arch, dtype=tf.string, trainable=False)


def pretrained_path(scale):
    """The prefix of the shipped weights for `scale`."""
    return os.path.join(PRETRAINED_DIR, f"x{scale}", "srcnn")


def is_pretrained_location(path):
    """True if `path` is (inside) the folder of shipped weights, which training must not touch."""
    path = os.path.realpath(path)
    return path == os.path.realpath(PRETRAINED_DIR) or path.startswith(os.path.realpath(PRETRAINED_DIR) + os.sep)


def resolve(path):
    """A checkpoint prefix from a prefix, or from a folder (its latest checkpoint).

    Raises:
        UserError: nothing loadable there.
    """
    if os.path.exists(path + ".index"):
        return path
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest:
            return latest
        prefixes = sorted(name[: -len(".index")] for name in os.listdir(path) if name.endswith(".index"))
        if len(prefixes) == 1:
            return os.path.join(path, prefixes[0])
    raise UserError(f"{path}: no checkpoint there; train with step2_train.py or pass --checkpoint PREFIX")


def read_config(prefix):
    """{"scale": int, "arch": str} stored in a checkpoint.

    Raises:
        UserError: unreadable, or not an SRCNN bundle.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
        scale = reader.get_tensor("config/scale/.ATTRIBUTES/VARIABLE_VALUE")
        arch = reader.get_tensor("config/arch/.ATTRIBUTES/VARIABLE_VALUE")
    except (tf.errors.OpError, ValueError):
        raise UserError(f"{prefix}: not a readable SRCNN checkpoint (no scale/arch config, or damaged)") from None
    return {"scale": int(scale), "arch": arch.decode() if isinstance(arch, bytes) else str(arch)}


def check_config(prefix, scale, arch):
    """Raises UserError if the checkpoint was made for another scale or architecture."""
    config = read_config(prefix)
    if config["arch"] != arch:
        raise UserError(f"{prefix}: a {config['arch']} network, but --arch is {arch}; "
                        "pass the matching --arch or another checkpoint folder (or --fresh)")
    if config["scale"] != scale:
        raise UserError(f"{prefix}: trained for scale {config['scale']}, but --scale is {scale}; "
                        "pass the matching --scale or another checkpoint")
    return config


def load_model(prefix, padding="replicate"):
    """Rebuilds the network from a bundle and restores its weights.

    Returns:
        (model, config)
    """
    config = read_config(prefix)
    model = SRCNN(config["arch"], padding=padding)
    checkpoint = tf.train.Checkpoint(model=model)
    try:
        checkpoint.read(prefix).expect_partial().assert_existing_objects_matched()
    except (AssertionError, tf.errors.OpError, ValueError) as error:
        raise UserError(f"{prefix}: weights do not fit a {config['arch']} network ({error})") from None
    return model, config


def export_weights(model, scale, prefix):
    """Writes a weights-only bundle (no optimizer state), e.g. for shipping."""
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    return tf.train.Checkpoint(model=model, config=Config(scale, model.arch)).write(prefix)
