"""The SRCNN network: patch extraction, non-linear mapping, reconstruction.

    input (B, H, W, 1) bicubic Y
    conv1 f1 x f1, n1 maps, ReLU
    conv2 f2 x f2, n2 maps, ReLU
    ...   (any further hidden layers, ReLU)
    convN fN x fN, 1 map         -> (B, H', W', 1) restored Y

`arch` describes the network: the filter sizes of its layers joined by "-", each odd,
at least two layers. "9-1-5" is the ECCV 2014 network (the default), "9-5-5" the TPAMI
2016 one, "9-1-1-5" a four-layer one of the TPAMI paper. Each layer but the last may give
its number of maps after "x" ("9x128-1x64-5", "9-1x32-1x16-5"); a layer without one has
64 (the first), 32 (the second) or 16 (any further hidden layer: the paper's n22 for its
four-layer networks). The last layer has the 1 map of Y and takes no number. `arch_name`
writes a network the one way (`normalise_arch`): the short form while every width is the
default ("9x64-1x32-5" is "9-1-5"), else every hidden layer's width ("9x128-1x64-5").
The layers are the attributes conv1..convN, their checkpoint names.

Padding is chosen per call, so one set of weights serves training and testing:
    "valid"      no padding; a 33x33 patch gives a 21x21 output for 9-1-5 (how the paper trains)
    "replicate"  each layer's input is edge-padded, as the official MATLAB demo filters
                 (imfilter 'replicate'); output has the input's size
    "zero"       TF's "SAME" zero padding; same size, but borders come out darker
"""

import re
from typing import NamedTuple

from srcnn.core.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters

import keras  # noqa: E402

from srcnn.core.choices import DEFAULT_PADDING, PADDINGS  # noqa: E402,F401  (model.PADDINGS: their home for readers)
from srcnn.core.colour import CHANNEL_COUNTS  # noqa: E402

DEFAULT_ARCH = "9-1-5"
# Maps of the first and second layer, and of any further hidden layer, where `arch` names none.
FIRST_WIDTHS, DEEPER_WIDTH = (64, 32), 16
INITIALIZATIONS = ("he", "gaussian", "identity")
_LAYER = re.compile(r"([0-9]+)(?:x([0-9]+))?")  # a filter size, then "x" and a number of maps
_EXAMPLES = "like 9-1-5 or 9x128-1x64-5"


class Architecture(NamedTuple):
    """A network's layers, first to last: filter sizes and numbers of maps (the last 1)."""

    sizes: tuple
    widths: tuple


def default_width(layer, count):
    """Maps of layer `layer` (0 the first) of `count` when `arch` names none."""
    if layer == count - 1:
        return 1
    return FIRST_WIDTHS[layer] if layer < len(FIRST_WIDTHS) else DEEPER_WIDTH


def _refused(arch, problem):
    return ValueError(f"architecture {arch!r}: {problem}, {_EXAMPLES}")


def parse_arch(arch):
    """"9-1-5" -> Architecture(sizes=(9, 1, 5), widths=(64, 32, 1)); see the module docstring.

    Raises:
        ValueError: not such a description, in one line with an example.
    """
    if not isinstance(arch, str):
        raise _refused(arch, "must be a text of filter sizes joined by '-'")
    parts = arch.split("-")
    layers = [_LAYER.fullmatch(part) for part in parts]
    if not all(layers):
        part = parts[layers.index(None)]
        raise _refused(arch, f"{part!r} is not a filter size (a hidden layer's may add 'x' and its number of maps)")
    if len(layers) < 2:
        raise _refused(arch, "needs at least two layers")
    sizes = tuple(int(layer[1]) for layer in layers)
    if any(size % 2 == 0 for size in sizes):
        raise _refused(arch, "filter sizes must be odd")
    if layers[-1][2] is not None:
        raise _refused(arch, "the last layer makes the 1 map of Y and takes no number of maps")
    widths = tuple(int(layer[2]) if layer[2] else default_width(index, len(layers))
                   for index, layer in enumerate(layers))
    if 0 in widths:
        raise _refused(arch, "a layer needs at least 1 map")
    return Architecture(sizes, widths)


def arch_name(sizes, widths):
    """The one way to write a network: "9-1-5" while every width is the default, else "9x128-1x64-5"."""
    count = len(sizes)
    if all(width == default_width(index, count) for index, width in enumerate(widths)):
        return "-".join(map(str, sizes))
    return "-".join([f"{size}x{width}" for size, width in zip(sizes[:-1], widths[:-1])] + [str(sizes[-1])])


def normalise_arch(arch):
    """`arch` written the one way (`arch_name`): "9x64-1x32-5" -> "9-1-5"; raises ValueError as `parse_arch`."""
    return arch_name(*parse_arch(arch))


def valid_margin(arch):
    """Pixels lost on each side by VALID filtering: (33 - 21) / 2 = 6 for 9-1-5."""
    return sum(size // 2 for size in parse_arch(arch).sizes)


def pad_edges(images, amounts, padding=DEFAULT_PADDING):
    """Pads (B, H, W, C) images as a layer's input is padded at test time.

    Args:
        images: (B, H, W, C) tensor.
        amounts: pixels added on every side (an int), or per side (top, bottom, left,
            right) as Python ints or an int32 tensor. Python ints keep the graph free of
            conditionals (the exported models); a side of 0 is never copied.
        padding: "replicate" repeats the edge pixels (MATLAB imfilter 'replicate', as the
            official demo filters), "zero" adds zeros (TF's "SAME").
    """
    if padding not in ("replicate", "zero"):
        raise ValueError(f"padding {padding!r} is not 'replicate' or 'zero'")
    if isinstance(amounts, int):
        amounts = (amounts,) * 4
    elif not isinstance(amounts, (tuple, list)):
        amounts = tf.unstack(tf.cast(amounts, tf.int32), num=4)
    top, bottom, left, right = amounts
    return _pad_axis(_pad_axis(images, top, bottom, 1, padding), left, right, 2, padding)


def _pad_axis(images, before, after, axis, padding):
    """`pad_edges` along one axis (1: rows, 2: columns)."""
    def padded():
        if padding == "zero":
            widths = [[0, 0], [0, 0], [0, 0], [0, 0]]
            widths[axis] = [before, after]
            return tf.pad(images, widths)
        # Tiled edge rows or columns, concatenated: plain copies, faster than a gather, and
        # ops that TFLite and ONNX have.
        first, last = (images[:, :1], images[:, -1:]) if axis == 1 else (images[:, :, :1], images[:, :, -1:])

        def multiples(count):
            return tf.stack([1, count, 1, 1] if axis == 1 else [1, 1, count, 1])

        return tf.concat([tf.tile(first, multiples(before)), images, tf.tile(last, multiples(after))], axis=axis)

    if isinstance(before, int) and isinstance(after, int):
        return padded() if before or after else images
    # Tensor amounts (`upscale.TiledSRCNN`'s tiles): most tile sides lie inside the image.
    return tf.cond(before + after > 0, padded, lambda: images)


def row_maps_kernel(kernel):
    """The last layer's (f, f, C, 1) kernel as a (1, f, C, f) one: map i is kernel row i.

    A 1 x f convolution to these f maps, then `sum_row_maps`, is the f x f convolution:
    oneDNN, XNNPACK (LiteRT) and MLAS (ONNX Runtime) are all slow with one output map,
    and this ran 1.4-3x faster in each.
    """
    return tf.transpose(kernel, (3, 1, 2, 0))


def sum_row_maps(rows, bias):
    """(B, H + f - 1, W, f) maps of `row_maps_kernel` -> (B, H, W, 1): map i shifted up i rows, summed, plus bias."""
    count = rows.shape[-1]
    height = tf.shape(rows)[1] - (count - 1)
    restored = bias
    for row in range(count):
        restored += rows[:, row:row + height, :, row:row + 1]
    return restored


def first_layer_maps(model, images):
    """conv1 of the VALID network before its bias and ReLU, in the model's compute dtype (`training_output`)."""
    dtype = model.dtype_policy.compute_dtype
    return tf.nn.conv2d(tf.cast(images, dtype), tf.cast(model.conv1.kernel, dtype), 1, "VALID")


def hidden_features(model, maps):
    """conv1's VALID maps before their bias -> what the last layer takes, in the compute dtype: each
    hidden layer's bias and ReLU, a 1 x 1 layer as a matrix product of the maps."""
    dtype = model.dtype_policy.compute_dtype
    first, *hidden, _ = model.conv_layers
    features = tf.nn.relu(maps + tf.cast(first.bias, dtype))
    for layer in hidden:
        kernel, bias = tf.cast(layer.kernel, dtype), tf.cast(layer.bias, dtype)
        if layer.kernel_size == (1, 1):
            maps = tf.tensordot(features, kernel[0, 0], axes=1)
        else:
            maps = tf.nn.conv2d(features, kernel, 1, "VALID")
        features = tf.nn.relu(maps + bias)
    return features


def output_from_first_maps(model, maps):
    """The rest of `training_output` from `first_layer_maps`: float32 (B, H', W', 1)."""
    dtype = model.dtype_policy.compute_dtype
    last = model.conv_layers[-1]
    features = hidden_features(model, maps)
    if last.filters > 1:  # a colour network's three planes: row maps pay off for one only
        return tf.cast(tf.nn.conv2d(features, tf.cast(last.kernel, dtype), 1, "VALID"), tf.float32) + last.bias
    rows = tf.nn.conv2d(features, tf.cast(row_maps_kernel(last.kernel), dtype), 1, "VALID")
    return sum_row_maps(tf.cast(rows, tf.float32), last.bias[0])


def training_output(model, images):
    """The VALID network as training computes it: equal to `model(images, padding="valid")` up to
    float rounding, and faster on CPUs.

    A 1 x 1 hidden layer is a matrix product of the maps, and the last layer takes `row_maps_kernel`:
    together they take about a fifth off a training step (benchmarks/train_throughput.py).
    Kernels are cast to the model's compute dtype (bfloat16 under "mixed_bfloat16"); the
    output is float32. It is `output_from_first_maps` of `first_layer_maps`, which a training
    step may compute apart (`srcnn.training.update`).

    Args:
        model: an `SRCNN`; images: (B, H, W, 1) float32.
    """
    return output_from_first_maps(model, first_layer_maps(model, images))


class InferenceLayers:
    """A network's weights as the inference graphs take them (`restore_y`).

    Args:
        model: an `SRCNN` (its current weights are taken).
        convert: applied to each kernel and bias of the hidden layers and to the last
            layer's row-maps kernel, e.g. a cast to bfloat16, or `.numpy()` for graphs
            that capture them as constants.

    Attributes:
        hidden: [(kernel, bias, half width)] of every layer but the last, conv1 first.
        last_kernel: the last layer as `row_maps_kernel`; last_bias: its bias (float32
        scalar); last_half: its half width.
    """

    def __init__(self, model, convert=lambda weights: weights):
        *hidden, last = model.conv_layers
        self.hidden = [(convert(layer.kernel), convert(layer.bias), layer.kernel_size[0] // 2) for layer in hidden]
        self.last_kernel = convert(row_maps_kernel(last.kernel))
        self.last_bias = last.bias[0]
        self.last_half = last.kernel_size[0] // 2


def _per_side(half, borders, sides):
    """Padding per side (top, bottom, left, right): `half` where `borders` and `sides` are 1.

    Python ints for a tuple of borders (graphs without conditionals), else an int32 tensor.
    """
    if isinstance(borders, (tuple, list)):
        return tuple(half * border * side for border, side in zip(borders, sides))
    return half * borders * list(sides)


def restore_y(window, layers, borders=(1, 1, 1, 1), padding=DEFAULT_PADDING, dtype=tf.float32):
    """The network at inference, written once for the upscale's tiles and the exported models.

    Args:
        window: (1, h, w, 1) bicubic Y.
        layers: `InferenceLayers`, their weights already in `dtype`.
        borders: (top, bottom, left, right), 1 where the window side is the image's: that
            side is padded layer by layer as `padding` says, the others filtered VALID (they
            shrink by the layers' half widths). Python ints, or an int32 tensor (tiles).
        padding: "replicate" or "zero".
        dtype: what the layers compute in; the last layer's row maps are added in float32.

    Returns:
        float32 (1, h', w', 1) restored Y, not clipped.
    """
    features = tf.cast(window, dtype)
    for kernel, bias, half in layers.hidden:
        if half:
            features = pad_edges(features, _per_side(half, borders, (1, 1, 1, 1)), padding)
        features = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(features, kernel, 1, "VALID"), bias))
    # The last layer's row maps are added in float32: its output is the image. Padding
    # columns before the 1 x f conv and rows after it is the same as padding its input.
    half = layers.last_half
    features = pad_edges(features, _per_side(half, borders, (0, 0, 1, 1)), padding)
    rows = tf.cast(tf.nn.conv2d(features, layers.last_kernel, 1, "VALID"), tf.float32)
    return sum_row_maps(pad_edges(rows, _per_side(half, borders, (1, 1, 0, 0)), padding), layers.last_bias)


class SRCNN(keras.Model):
    """The network `arch` describes; its layers are the attributes conv1..convN (checkpoint names).

    Args:
        arch: the layers' filter sizes and widths, e.g. "9-1-5" or "9x128-1x64-5" (see the
            module docstring); `self.arch` holds it written the one way (`normalise_arch`).
        initialization: "he" (He normal), "gaussian" (the paper's N(0, 0.001^2)), or
            "identity": He normal, except one path through the layers that passes the
            input's centre pixel (`start_as_identity`), so that the untrained network
            gives the bicubic input back and training learns what to add to it.
        padding: default padding of `call` (see the module docstring).
        channels: "y" (default: Y in, Y out), "rgb" or "ycbcr" (three planes in and out, the
            paper's colour study; `srcnn.core.colour.network_channels`).
        **kwargs: passed to keras.Model, e.g. dtype="mixed_bfloat16" to compute in
            bfloat16 with float32 weights.

    Raises:
        ValueError: a bad `arch`, `initialization` or `padding`.
    """

    def __init__(self, arch=DEFAULT_ARCH, initialization="he", padding="valid", channels="y", **kwargs):
        super().__init__(**kwargs)
        if initialization not in INITIALIZATIONS:
            raise ValueError(f"initialization {initialization!r} is not one of {INITIALIZATIONS}")
        if padding not in PADDINGS:
            raise ValueError(f"padding {padding!r} is not one of {PADDINGS}")
        if channels not in CHANNEL_COUNTS:
            raise ValueError(f"channels {channels!r} is not one of {tuple(CHANNEL_COUNTS)}")
        sizes, widths = parse_arch(arch)
        self.arch = arch_name(sizes, widths)
        self.channels, self.planes = channels, CHANNEL_COUNTS[channels]
        widths = widths[:-1] + (self.planes,)
        self.padding = padding
        self.depth = len(sizes)

        def initializer():
            if initialization == "gaussian":
                return keras.initializers.RandomNormal(stddev=1e-3)
            return keras.initializers.HeNormal()

        # Assigned in order, conv1 first: `trainable_variables` start with conv1's kernel
        # (`srcnn.training.update` relies on it). The model's dtype policy (e.g.
        # "mixed_bfloat16") reaches the layers it owns.
        for index, (size, width) in enumerate(zip(sizes, widths), start=1):
            setattr(self, f"conv{index}", keras.layers.Conv2D(
                width, size, activation=None if index == self.depth else "relu", name=f"conv{index}",
                dtype=self.dtype_policy, kernel_initializer=initializer(), bias_initializer="zeros"))
        self.build((None, None, None, self.planes))
        if initialization == "identity":
            self.start_as_identity()

    @property
    def conv_layers(self):
        """(conv1, ..., convN), first to last."""
        return tuple(getattr(self, f"conv{index}") for index in range(1, self.depth + 1))

    def start_as_identity(self):
        """Sets map 0 of each hidden layer to the centre pixel of its input's map 0 (the
        image itself for conv1), and the last layer to the last hidden layer's map 0 alone.

        The input (a bicubic image in [0, 1]) is not negative, so every ReLU passes it, and
        the network's output is its input (cropped by VALID padding). The last layer's other
        weights start at zero: the first updates change the output by small additions.
        """
        last = self.conv_layers[-1]
        # One path per input plane (Y; or R, G, B; or Y, Cb, Cr), through the maps of that index.
        paths = min([self.planes] + [layer.filters for layer in self.conv_layers[:-1]])
        for layer in self.conv_layers:
            kernel = layer.kernel.numpy()
            centre = kernel.shape[0] // 2
            if layer is last:
                kernel[:] = 0.0
            else:
                kernel[..., :paths] = 0.0
            for plane in range(paths):
                kernel[centre, centre, plane, plane] = 1.0
            layer.kernel.assign(kernel)  # biases start at zero already

    def build(self, input_shape):
        shape = tuple(input_shape)
        channels = self.planes
        for layer in self.conv_layers:
            layer.build(shape[:3] + (channels,))
            channels = layer.filters
        self.built = True

    def call(self, images, padding=None):
        """(B, H, W, 1) -> (B, H', W', 1); H' = H - 2 * margin for "valid", else H.

        The Keras path, which training and evaluation take (gradients, mixed precision);
        upscaling and the exported models take `restore_y`, equal to float rounding.
        """
        padding = padding or self.padding
        features = images
        for layer in self.conv_layers:
            if padding != "valid":
                features = pad_edges(features, layer.kernel_size[0] // 2, padding)
            features = layer(features)
        return features
