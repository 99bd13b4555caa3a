"""The VALID network as matrix products, as a training step computes it under XLA.

XLA on a CPU runs a convolution on Eigen, which packs the image patches before each product:
in a 9-1-5 step profiled on an AVX2 EPYC, that packing was a quarter of the step, and the
last layer (one map, 3 % of the arithmetic) a quarter of the time. A matrix product runs on
XLA's fast dot kernels instead. So, under XLA, a step computes:
- the first layer as its patches times the kernel (`patches_product`);
- a 1 x 1 hidden layer as a product of the maps (a larger one stays a convolution);
- a one-map last layer as one product to f*f tap maps, each shifted into place and summed
  (`tap_maps_output`), with a gradient of two products.
The same sums as the convolutions, in another order: equal to `SRCNN` up to float rounding.
Every shifted stack is built in two passes of f copies, never one of f*f: XLA ran a 25-way
stack in parallel on the intra-op thread, which both cores' parts share, and the step lost
14 % waiting for it.
"""

from srcnn.core.model import hidden_features
from srcnn.core.startup import tf


def _shifted_stack(planes, size, starts, axis):
    """The windows of `size` along `axis` (1: rows, 2: columns) of (B, H, W, ...) `planes` that begin at
    `starts`, stacked on a new axis after the first three: (B, ..., len(starts), ...)."""
    windows = [planes[:, start:start + size] if axis == 1 else planes[:, :, start:start + size]
               for start in starts]
    return tf.stack(windows, axis=3)


def patches_product(images, kernel):
    """(B, S, S, C) images and an (f, f, C, M) kernel -> (B, S-f+1, S-f+1, M): the VALID convolution,
    as the (f, f, C) patch of each output pixel times the kernel."""
    size, channels, maps = kernel.shape[0], kernel.shape[2], kernel.shape[3]
    shape = tf.shape(images)
    height, width = shape[1] - (size - 1), shape[2] - (size - 1)
    columns = _shifted_stack(images, width, range(size), axis=2)  # (B, S, w, f_j, C)
    patches = _shifted_stack(columns, height, range(size), axis=1)  # (B, h, w, f_i, f_j, C): kernel order
    products = tf.matmul(tf.reshape(patches, (-1, size * size * channels)),
                         tf.reshape(kernel, (size * size * channels, maps)))
    return tf.reshape(products, (shape[0], height, width, maps))


def _sum_tap_maps(taps, size, height, width):
    """(B, H, W, f*f) tap maps -> (B, H-f+1, W-f+1, 1): out[y, x] = sum over i, j of taps[y+i, x+j, f i + j]."""
    rows = tf.add_n([taps[:, :, shift:shift + width, shift::size] for shift in range(size)])  # map i: row i's sum
    return tf.add_n([rows[:, shift:shift + height, :, shift:shift + 1] for shift in range(size)])


def _shifted_gradient(gradient, size, height, width):
    """(B, h, w, 1) gradient of the output -> (B*H*W, f*f): at (y, x), tap f i + j holds gradient[y-i, x-j]
    (zero outside), the gradient of the tap maps."""
    margin = size - 1
    padded = tf.pad(gradient, [[0, 0], [margin, margin], [margin, margin], [0, 0]])
    backwards = range(margin, -1, -1)  # tap i (or j) reads the window that begins margin - i
    columns = _shifted_stack(padded, width, backwards, axis=2)  # (B, h+2m, W, f_j, 1)
    taps = _shifted_stack(columns, height, backwards, axis=1)  # (B, H, W, f_i, f_j, 1)
    return tf.reshape(taps, (-1, size * size))


def tap_maps_output(features, kernel):
    """(B, H, W, C) features and an (f, f, C, 1) kernel -> (B, H-f+1, W-f+1, 1): the VALID convolution,
    as one product to the f*f tap maps (a map per kernel tap) and their shifted sum."""
    size, channels = kernel.shape[0], kernel.shape[2]
    taps_kernel = tf.reshape(tf.transpose(kernel[..., 0], (2, 0, 1)), (channels, size * size))

    @tf.custom_gradient
    def output(features, taps_kernel):
        shape = tf.shape(features)
        flat = tf.reshape(features, (-1, channels))
        taps = tf.reshape(tf.matmul(flat, taps_kernel), (shape[0], shape[1], shape[2], size * size))
        height, width = shape[1] - (size - 1), shape[2] - (size - 1)

        def gradients(gradient):
            tap_gradient = _shifted_gradient(gradient, size, shape[1], shape[2])
            return (tf.reshape(tf.matmul(tap_gradient, taps_kernel, transpose_b=True), shape),
                    tf.matmul(flat, tap_gradient, transpose_a=True))

        return _sum_tap_maps(taps, size, height, width), gradients

    return output(features, taps_kernel)


def output_from_maps(model, maps):
    """The VALID network's float32 output from conv1's maps before their bias (`first_layer_maps`
    or `patches_product`), the last layer as tap maps where it has one map."""
    features = hidden_features(model, maps)
    last = model.conv_layers[-1]
    kernel = tf.cast(last.kernel, model.dtype_policy.compute_dtype)
    if last.filters > 1:  # a colour network's three planes
        return tf.cast(tf.nn.conv2d(features, kernel, 1, "VALID"), tf.float32) + last.bias
    return tf.cast(tap_maps_output(features, kernel), tf.float32) + last.bias[0]


def output_by_products(model, images):
    """The VALID network's float32 output, (B, H', W', planes), every layer it can as products."""
    dtype = model.dtype_policy.compute_dtype
    return output_from_maps(model, patches_product(tf.cast(images, dtype), tf.cast(model.conv1.kernel, dtype)))
