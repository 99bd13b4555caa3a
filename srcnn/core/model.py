"""The SRCNN network: patch extraction, non-linear mapping, reconstruction.

    input (B, H, W, 1) bicubic Y
    conv1 f1 x f1, 64 maps, ReLU
    conv2 f2 x f2, 32 maps, ReLU
    conv3 f3 x f3, 1 map         -> (B, H', W', 1) restored Y

`arch` names the filter sizes "f1-f2-f3": "9-1-5" is the ECCV 2014 network, "9-5-5" the
TPAMI 2016 one. Padding is chosen per call, so one set of weights serves training and
testing:
    "valid"      no padding; a 33x33 patch gives a 21x21 output (how the paper trains)
    "replicate"  each layer's input is edge-padded, as the official MATLAB demo filters
                 (imfilter 'replicate'); output has the input's size
    "zero"       TF's "SAME" zero padding; same size, but borders come out darker
"""

from srcnn.core.startup import tf  # first: keras imports TensorFlow, whose start-up messages this filters

import keras  # noqa: E402

from srcnn.core.choices import DEFAULT_PADDING, PADDINGS  # noqa: E402,F401  (model.PADDINGS: their home for readers)

FILTERS = (64, 32, 1)
INITIALIZATIONS = ("he", "gaussian", "identity")


def parse_arch(arch):
    """"9-1-5" -> (9, 1, 5); raises ValueError for anything else."""
    try:
        sizes = tuple(int(part) for part in arch.split("-"))
    except (AttributeError, ValueError):
        sizes = ()
    if len(sizes) != 3 or any(size < 1 or size % 2 == 0 for size in sizes):
        raise ValueError(f"architecture {arch!r} is not three odd filter sizes like '9-1-5'")
    return sizes


def valid_margin(arch):
    """Pixels lost on each side by VALID filtering: (33 - 21) / 2 = 6 for 9-1-5."""
    return sum(size // 2 for size in parse_arch(arch))


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


def output_from_first_maps(model, maps):
    """The rest of `training_output` from `first_layer_maps`: float32 (B, H', W', 1)."""
    dtype = model.dtype_policy.compute_dtype
    features = tf.nn.relu(maps + tf.cast(model.conv1.bias, dtype))
    layer = model.conv2
    kernel, bias = tf.cast(layer.kernel, dtype), tf.cast(layer.bias, dtype)
    if layer.kernel_size == (1, 1):
        maps = tf.tensordot(features, kernel[0, 0], axes=1)
    else:
        maps = tf.nn.conv2d(features, kernel, 1, "VALID")
    features = tf.nn.relu(maps + bias)
    last = model.conv3
    rows = tf.nn.conv2d(features, tf.cast(row_maps_kernel(last.kernel), dtype), 1, "VALID")
    return sum_row_maps(tf.cast(rows, tf.float32), last.bias[0])


def training_output(model, images):
    """The VALID network as training computes it: equal to `model(images, padding="valid")` up to
    float rounding, and faster on CPUs.

    A 1 x 1 layer is a matrix product of the maps, and the last layer takes `row_maps_kernel`:
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
        hidden: [(kernel, bias, half width)] of conv1 and conv2.
        last_kernel: conv3 as `row_maps_kernel`; last_bias: its bias (float32 scalar);
        last_half: its half width.
    """

    def __init__(self, model, convert=lambda weights: weights):
        layers = (model.conv1, model.conv2, model.conv3)
        self.hidden = [(convert(layer.kernel), convert(layer.bias), layer.kernel_size[0] // 2)
                       for layer in layers[:2]]
        self.last_kernel = convert(row_maps_kernel(layers[2].kernel))
        self.last_bias = layers[2].bias[0]
        self.last_half = layers[2].kernel_size[0] // 2


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
    """The three-layer network; layers are attributes conv1..conv3 (checkpoint names).

    Args:
        arch: filter sizes "f1-f2-f3".
        initialization: "he" (He normal), "gaussian" (the paper's N(0, 0.001^2)), or
            "identity": He normal, except one path through the layers that passes the
            input's centre pixel (`start_as_identity`), so that the untrained network
            gives the bicubic input back and training learns what to add to it.
        padding: default padding of `call` (see the module docstring).
        **kwargs: passed to keras.Model, e.g. dtype="mixed_bfloat16" to compute in
            bfloat16 with float32 weights.
    """

    def __init__(self, arch="9-1-5", initialization="he", padding="valid", **kwargs):
        super().__init__(**kwargs)
        if initialization not in INITIALIZATIONS:
            raise ValueError(f"initialization {initialization!r} is not one of {INITIALIZATIONS}")
        if padding not in PADDINGS:
            raise ValueError(f"padding {padding!r} is not one of {PADDINGS}")
        self.arch = arch
        self.padding = padding
        sizes = parse_arch(arch)

        def conv(name, filters, size, activation):
            if initialization in ("he", "identity"):
                kernel_initializer = keras.initializers.HeNormal()
            else:
                kernel_initializer = keras.initializers.RandomNormal(stddev=1e-3)
            # The model's dtype policy (e.g. "mixed_bfloat16") reaches the layers it owns.
            return keras.layers.Conv2D(filters, size, activation=activation, name=name, dtype=self.dtype_policy,
                                       kernel_initializer=kernel_initializer, bias_initializer="zeros")

        self.conv1 = conv("conv1", FILTERS[0], sizes[0], "relu")
        self.conv2 = conv("conv2", FILTERS[1], sizes[1], "relu")
        self.conv3 = conv("conv3", FILTERS[2], sizes[2], None)
        self.build((None, None, None, 1))
        if initialization == "identity":
            self.start_as_identity()

    def start_as_identity(self):
        """Sets conv1 map 0 to the centre pixel, conv2 map 0 to conv1 map 0 and conv3 to conv2 map 0 alone.

        The input (a bicubic image in [0, 1]) is not negative, so both ReLUs pass it, and
        the network's output is its input (cropped by VALID padding). conv3's other
        weights start at zero: the first updates change the output by small additions.
        """
        for layer, source in ((self.conv1, 0), (self.conv2, 0), (self.conv3, None)):
            kernel = layer.kernel.numpy()
            centre = kernel.shape[0] // 2
            if source is None:
                kernel[:] = 0.0
                kernel[centre, centre, 0, 0] = 1.0
            else:
                kernel[..., 0] = 0.0
                kernel[centre, centre, source, 0] = 1.0
            layer.kernel.assign(kernel)  # biases start at zero already

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer, filters in zip((self.conv1, self.conv2, self.conv3), (1,) + FILTERS[:2]):
            layer.build(shape[:3] + (filters,))
        self.built = True

    def call(self, images, padding=None):
        """(B, H, W, 1) -> (B, H', W', 1); H' = H - 2 * margin for "valid", else H.

        The Keras path, which training and evaluation take (gradients, mixed precision);
        upscaling and the exported models take `restore_y`, equal to float rounding.
        """
        padding = padding or self.padding
        features = images
        for layer in (self.conv1, self.conv2, self.conv3):
            if padding != "valid":
                features = pad_edges(features, layer.kernel_size[0] // 2, padding)
            features = layer(features)
        return features
