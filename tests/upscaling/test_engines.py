"""srcnn.upscaling.engines: which engine upscales which image, and the Upscaler asking it."""

import numpy as np
import pytest
import tensorflow as tf

from srcnn import Upscaler
from srcnn.core import checkpoints
from srcnn.core.model import SRCNN
from srcnn.core.precision import resolve_precision
from srcnn.upscaling import composed_engine
from srcnn.upscaling.composed_engine import MIN_SIDE, ComposedSRCNN
from srcnn.upscaling.engines import COMPOSED, TENSORFLOW, select_engine, upscale
from srcnn.upscaling.tensorflow_engine import TiledSRCNN

from test_composed_engine import assert_same_to_rounding, textured_grey, whole_image_reference


@pytest.mark.parametrize("arch, precision, size, engine", [
    ("9-1-5", "float32", (500, 400), COMPOSED),
    ("9-1-5", "float32", (MIN_SIDE, MIN_SIDE), COMPOSED),
    ("13-1-7", "float32", (500, 400), COMPOSED),  # any f1-1-f3
    ("23-1-5", "float32", (500, 400), COMPOSED),
    ("25-1-5", "float32", (500, 400), TENSORFLOW),  # conv1's side filters reach too far at x2
    ("9x128-1x64-5", "float32", (500, 400), COMPOSED),  # any widths
    ("9x32-1x16-5", "float32", (500, 400), COMPOSED),
    ("9-1-1-5", "float32", (500, 400), TENSORFLOW),  # three layers only
    ("9-5", "float32", (500, 400), TENSORFLOW),
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


@pytest.mark.parametrize("arch, engine", [pytest.param("9-1-1-5", TiledSRCNN, marks=pytest.mark.slow),
                                          ("9x32-1x16-5", ComposedSRCNN), ("9-3-1x8-5", TiledSRCNN)])
def test_a_checkpoint_of_any_network_upscales_as_its_keras_model(tmp_path, arch, engine):
    """Random weights near the identity (every tap matters), saved and loaded as a user's would be."""
    tf.keras.utils.set_random_seed(2)
    model = SRCNN(arch, initialization="identity")
    for variable in model.trainable_variables:
        variable.assign(variable + tf.random.normal(variable.shape, stddev=0.02))
    prefix = checkpoints.export_weights(model, 2, str(tmp_path / "srcnn"))
    upscaler = Upscaler.from_checkpoint(prefix, precision="float32", tile=24)  # several tiles
    grey = textured_grey(MIN_SIDE + 1, MIN_SIDE + 6)
    chosen = upscaler.engine_for(grey.shape)
    assert upscaler.arch == model.arch and isinstance(chosen, engine)
    sr, _ = upscale(chosen, grey, 2)
    expected, _ = whole_image_reference(model, grey, 2, "replicate")
    assert_same_to_rounding(sr, expected)


@pytest.mark.parametrize("arch, reason", [
    ("9-1-1-5", "the composed engine computes three layers with a 1 x 1 conv2"),
    ("25-1-5", "conv1's 25 x 25 filters reach too far from the sides for the composed engine"),
])
def test_the_composed_engine_refuses_a_network_it_does_not_compute_in_one_line(arch, reason):
    assert composed_engine.unsupported(arch) == reason and composed_engine.unsupported("23-1-5") is None
    with pytest.raises(ValueError) as refused:
        ComposedSRCNN(SRCNN(arch), 3, "replicate")
    assert str(refused.value) == f"architecture {arch}: {reason}"


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
