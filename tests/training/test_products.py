"""The network as matrix products (`srcnn.training.products`): the same output and gradients as `SRCNN`."""

import numpy as np
import pytest

from srcnn.core.model import SRCNN, training_output
from srcnn.core.startup import tf
from srcnn.training.products import output_by_products, patches_product, tap_maps_output


def loss_and_gradients(model, forward, images, label, xla):
    @tf.function(jit_compile=xla)
    def compute():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(forward(model, images) - label))
        return loss, tape.gradient(loss, model.trainable_variables)
    loss, gradients = compute()
    return float(loss), [gradient.numpy().astype(np.float32) for gradient in gradients]


def seeded(arch, dtype="float32", planes=1):
    tf.keras.utils.set_random_seed(1)
    model = SRCNN(arch, dtype=dtype, channels="y" if planes == 1 else "rgb")
    rng = np.random.default_rng(0)
    images = rng.random((3, 27, 29, planes), dtype=np.float32)
    return model, images, rng.random(model(images).shape, dtype=np.float32)


# The quick subset checks the default network; the others run with the slow tests.
@pytest.mark.parametrize("arch, xla", [("9-1-5", True), ("9-1-5", False)] + [
    pytest.param(arch, xla, marks=pytest.mark.slow)
    for arch, xla in (("9-5-5", True), ("11-1-7", False), ("3-1-3", True), ("9-3-1-5", False), ("9x32-1x16-5", True))])
def test_products_give_the_network_and_its_gradients(arch, xla):
    model, images, label = seeded(arch)
    np.testing.assert_allclose(output_by_products(model, images).numpy(), model(images).numpy(), atol=1e-5)
    expected_loss, expected = loss_and_gradients(model, training_output, images, label, False)
    loss, gradients = loss_and_gradients(model, output_by_products, images, label, xla)
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for got, want in zip(gradients, expected):
        assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_a_colour_network_keeps_its_three_planes():
    model, images, label = seeded("9-1-5", planes=3)
    got = output_by_products(model, images).numpy()
    assert got.shape == (3, 15, 17, 3)
    np.testing.assert_allclose(got, model(images).numpy(), atol=1e-5)


@pytest.mark.slow
def test_under_bfloat16_products_are_as_close_to_float32_as_convolutions():
    exact, images, label = seeded("9-3-1-5")
    model = SRCNN("9-3-1-5", dtype="mixed_bfloat16")
    model(images)
    model.set_weights(exact.get_weights())
    _, truth = loss_and_gradients(exact, training_output, images, label, False)

    def error(forward):
        gradients = loss_and_gradients(model, forward, images, label, False)[1]
        return max(np.abs(got - want).max() / np.abs(want).max() for got, want in zip(gradients, truth))
    assert error(output_by_products) <= max(error(training_output), 0.05)


def test_the_two_products_are_the_convolutions_they_replace():
    rng = np.random.default_rng(3)
    images, kernel = rng.random((2, 13, 11, 2), dtype=np.float32), rng.standard_normal((5, 5, 2, 7)).astype(np.float32)
    np.testing.assert_allclose(patches_product(images, kernel).numpy(),
                               tf.nn.conv2d(images, kernel, 1, "VALID").numpy(), atol=1e-5)
    features, last = rng.random((2, 9, 12, 4), dtype=np.float32), rng.standard_normal((3, 3, 4, 1)).astype(np.float32)
    np.testing.assert_allclose(tap_maps_output(features, last).numpy(),
                               tf.nn.conv2d(features, last, 1, "VALID").numpy(), atol=1e-5)
