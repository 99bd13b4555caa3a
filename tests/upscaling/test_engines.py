"""srcnn.upscaling.engines: which engine upscales which image, and the Upscaler asking it."""

import numpy as np
import pytest
import tensorflow as tf

from srcnn import Upscaler
from srcnn.core.model import SRCNN
from srcnn.core.precision import resolve_precision
from srcnn.upscaling.composed_engine import MIN_SIDE, ComposedSRCNN
from srcnn.upscaling.engines import COMPOSED, TENSORFLOW, select_engine
from srcnn.upscaling.tensorflow_engine import TiledSRCNN


@pytest.mark.parametrize("arch, precision, size, engine", [
    ("9-1-5", "float32", (500, 400), COMPOSED),
    ("9-1-5", "float32", (MIN_SIDE, MIN_SIDE), COMPOSED),
    ("13-1-7", "float32", (500, 400), COMPOSED),  # any f1-1-f3
    ("9-1-5", "float32", (MIN_SIDE - 1, 500), TENSORFLOW),  # small: the side filters would overlap
    ("9-1-5", "float32", (500, MIN_SIDE - 1), TENSORFLOW),
    ("9-1-5", "bfloat16", (500, 400), TENSORFLOW),  # the composed engine is float32 only
    ("9-5-5", "float32", (500, 400), TENSORFLOW),  # conv2 wider than 1 x 1
    ("9-5-5", "bfloat16", (20, 20), TENSORFLOW),
])
def test_select_engine(arch, precision, size, engine):
    assert select_engine(arch, precision, size) == engine


@pytest.mark.parametrize("padding", ["replicate", "zero"])
@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_upscaler_takes_the_selected_engine_whatever_the_padding(padding, precision):
    tf.keras.utils.set_random_seed(0)
    upscaler = Upscaler(SRCNN("9-1-5"), 3, padding=padding, precision=precision)
    big, small = upscaler.engine_for((MIN_SIDE, 100)), upscaler.engine_for((MIN_SIDE - 1, 100))
    assert isinstance(small, TiledSRCNN) and small.padding == padding and small.precision == precision
    if precision == "float32":
        assert isinstance(big, ComposedSRCNN) and (big.scale, big.padding) == (3, padding)
        assert upscaler.engine_for((500, 500)) is big  # made once
    else:
        assert big is small
    assert isinstance(Upscaler(SRCNN("9-5-5"), 3, precision="float32").engine_for((500, 500)), TiledSRCNN)


def test_auto_precision_is_one_the_engines_take():
    assert resolve_precision("auto") in ("float32", "bfloat16")


@pytest.mark.slow
def test_small_and_large_images_come_out_alike(smooth_rgb):
    # A 31-row crop goes the TensorFlow way, a 32-row one the composed way: their common
    # rows away from the cut agree to rounding.
    tf.keras.utils.set_random_seed(1)
    upscaler = Upscaler(SRCNN("9-1-5"), 2, precision="float32")
    small, big = (upscaler.upscale(np.ascontiguousarray(smooth_rgb[:rows])) for rows in (MIN_SIDE - 1, MIN_SIDE))
    difference = np.abs(small[:40].astype(int) - big[:40])
    assert difference.max() <= 1
