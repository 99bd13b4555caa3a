import numpy as np
import pytest
import tensorflow as tf

from srcnn.core.model import SRCNN, pad_edges, parse_arch, valid_margin


def test_valid_output_of_a_33_patch_is_21():
    model = SRCNN("9-1-5")
    assert model(tf.zeros((2, 33, 33, 1))).shape == (2, 21, 21, 1)
    assert valid_margin("9-1-5") == 6 and valid_margin("9-5-5") == 8


@pytest.mark.parametrize("padding", ["replicate", "zero"])
def test_same_size_output_at_test_time(padding):
    model = SRCNN("9-1-5")
    assert model(tf.zeros((1, 50, 37, 1)), padding=padding).shape == (1, 50, 37, 1)


def test_layers_are_named_and_shaped_as_the_paper():
    model = SRCNN("9-1-5")
    shapes = {v.path.split("/", 1)[1]: tuple(v.shape) for v in model.trainable_variables}
    assert shapes["conv1/kernel"] == (9, 9, 1, 64)
    assert shapes["conv2/kernel"] == (1, 1, 64, 32)
    assert shapes["conv3/kernel"] == (5, 5, 32, 1)


def test_pad_edges_matches_numpy_edge_and_zero_pad():
    images = np.random.default_rng(0).random((2, 5, 7, 1)).astype(np.float32)
    expected = np.pad(images, ((0, 0), (3, 3), (3, 3), (0, 0)), mode="edge")
    assert np.array_equal(pad_edges(tf.constant(images), 3).numpy(), expected)
    per_side = ((0, 0), (2, 0), (0, 4), (0, 0))
    assert np.array_equal(pad_edges(tf.constant(images), tf.constant([2, 0, 0, 4])).numpy(),
                          np.pad(images, per_side, mode="edge"))
    assert np.array_equal(pad_edges(tf.constant(images), (2, 0, 0, 4), "zero").numpy(), np.pad(images, per_side))


def test_paddings_agree_inside_and_differ_at_borders():
    model = SRCNN("9-1-5")
    images = tf.random.uniform((1, 40, 40, 1), 0.2, 0.8, seed=1)
    valid = model(images).numpy()
    replicate = model(images, padding="replicate").numpy()
    zero = model(images, padding="zero").numpy()
    np.testing.assert_allclose(replicate[:, 6:-6, 6:-6], valid, atol=1e-5)
    np.testing.assert_allclose(zero[:, 6:-6, 6:-6], valid, atol=1e-5)
    assert np.abs(replicate[:, :6] - zero[:, :6]).max() > 1e-4


@pytest.mark.parametrize("arch", ["9-2-5", "9-1", "a-b-c", "0-1-5"])
def test_bad_architectures_are_refused(arch):
    with pytest.raises(ValueError):
        parse_arch(arch)
