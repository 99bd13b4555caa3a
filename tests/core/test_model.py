import keras
import numpy as np
import pytest
import tensorflow as tf

from srcnn.core.model import SRCNN, arch_name, normalise_arch, pad_edges, parse_arch, valid_margin


def test_valid_output_of_a_33_patch_is_21():
    model = SRCNN("9-1-5")
    assert model(tf.zeros((2, 33, 33, 1))).shape == (2, 21, 21, 1)
    assert valid_margin("9-1-5") == 6 and valid_margin("9-5-5") == 8
    assert valid_margin("9-3-1-5") == 7 and valid_margin("9x128-1x64-5") == 6


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


@pytest.mark.parametrize("arch, sizes, widths, name", [
    ("9-1-5", (9, 1, 5), (64, 32, 1), "9-1-5"),
    ("9-5-5", (9, 5, 5), (64, 32, 1), "9-5-5"),
    ("9x64-1x32-5", (9, 1, 5), (64, 32, 1), "9-1-5"),  # the default widths written out
    ("9x128-1x64-5", (9, 1, 5), (128, 64, 1), "9x128-1x64-5"),
    ("9x32-1x16-5", (9, 1, 5), (32, 16, 1), "9x32-1x16-5"),
    ("9-1x16-5", (9, 1, 5), (64, 16, 1), "9x64-1x16-5"),  # one width given: all written
    ("9-1-1-5", (9, 1, 1, 5), (64, 32, 16, 1), "9-1-1-5"),  # the paper's n22 = 16
    ("9-1x32-1x16-5", (9, 1, 1, 5), (64, 32, 16, 1), "9-1-1-5"),
    ("11-1-7", (11, 1, 7), (64, 32, 1), "11-1-7"),
    ("9-5", (9, 5), (64, 1), "9-5"),  # two layers
    ("09-1-5", (9, 1, 5), (64, 32, 1), "9-1-5"),
])
def test_an_architecture_parses_and_is_named_one_way(arch, sizes, widths, name):
    assert parse_arch(arch) == (sizes, widths)
    assert normalise_arch(arch) == arch_name(sizes, widths) == name
    assert parse_arch(name) == (sizes, widths) and SRCNN(arch).arch == name


@pytest.mark.parametrize("arch, problem", [
    ("9-2-5", "filter sizes must be odd"),
    ("0-1-5", "filter sizes must be odd"),
    ("9", "needs at least two layers"),
    ("a-b-c", "'a' is not a filter size"),
    ("9--5", "'' is not a filter size"),
    (" 9-1-5", "' 9' is not a filter size"),
    ("9-1x-5", "'1x' is not a filter size"),
    ("9-1-5x2", "the last layer makes the 1 map of Y"),
    ("9x0-1-5", "a layer needs at least 1 map"),
    ("", "'' is not a filter size"),
    (915, "must be a text of filter sizes"),
])
def test_a_bad_architecture_is_one_line_naming_the_problem(arch, problem):
    with pytest.raises(ValueError) as refused:
        parse_arch(arch)
    message = str(refused.value)
    assert message.startswith(f"architecture {arch!r}: {problem}")
    assert message.endswith(", like 9-1-5 or 9x128-1x64-5") and "\n" not in message
    with pytest.raises(ValueError, match="^architecture"):
        SRCNN(arch)


def test_a_deeper_and_wider_network_has_its_layers_in_order(tmp_path):
    model = SRCNN("9-3-1x8-5")
    shapes = [(v.path.split("/", 1)[1], tuple(v.shape)) for v in model.trainable_variables]
    assert shapes == [("conv1/kernel", (9, 9, 1, 64)), ("conv1/bias", (64,)), ("conv2/kernel", (3, 3, 64, 32)),
                      ("conv2/bias", (32,)), ("conv3/kernel", (1, 1, 32, 8)), ("conv3/bias", (8,)),
                      ("conv4/kernel", (5, 5, 8, 1)), ("conv4/bias", (1,))]
    assert model.conv_layers == (model.conv1, model.conv2, model.conv3, model.conv4)
    assert model.conv4.activation is keras.activations.linear and model.conv3.activation is keras.activations.relu
    assert model(tf.zeros((1, 33, 33, 1))).shape == (1, 19, 19, 1)
    names = {name for name, _ in tf.train.list_variables(tf.train.Checkpoint(model=model).write(str(tmp_path / "x")))}
    assert {f"model/conv{index}/_kernel/.ATTRIBUTES/VARIABLE_VALUE" for index in range(1, 5)} <= names


@pytest.mark.parametrize("arch", ["9-1-1-5", "9-3-1-5", "9x32-1x16-5", "3x1-5"])
def test_the_identity_initialisation_passes_the_input_through_every_layer(arch):
    images = tf.random.uniform((2, 30, 30, 1), 0.0, 1.0, seed=3)
    margin = valid_margin(arch)
    output = SRCNN(arch, initialization="identity")(images).numpy()
    np.testing.assert_allclose(output, images[:, margin:-margin, margin:-margin].numpy(), atol=1e-6)
