"""The composed engine: float32 upscaling on the small image's grid, conv1 composed with the bicubic.

    sr, _ = engines.upscale(ComposedSRCNN(model, scale=3, padding="replicate"), pixels, scale=3)

SRCNN's input is the bicubic enlargement of the small image's Y, and both the
enlargement and conv1 are linear, so their composition is, for each output phase
(p, q) (output pixel (s i + p, s j + q) of a `s` times enlargement), one filter over a
window of the small image around (i, j). conv1 for the s * s phases of a small pixel
is then one matrix product, (pixels, window taps) @ (window taps, s * s * 64); for x3
a 7 x 7 window replaces the 9 x 9 taps of each output pixel. conv2 (1 x 1) works on
those phases where they lie, (pixels * s * s, 64) @ (64, 32), and conv3 runs on the
enlarged grid as (taps, 32) @ (32, pixels) and shifted sums. These shapes keep the FMA
units busier than oneDNN's convolution with one input channel does.

Near the image sides the enlargement renormalises its taps and each layer pads its
input ("replicate" as the MATLAB demo, or "zero"), so the composition differs there:
small pixels within a few rows or columns of a side get filters of their own, made
from the same enlargement and padding (`AxisFilters`). The result is
`model(bicubic, padding)` of `srcnn.core.model` to float rounding, as the TensorFlow engine
gives it.

The colour planes (what Cb and Cr add to R, G and B; alpha) and, on request, the
bicubic Y are enlarged with the enlargement's own filters in the same way, and merged
with the restored Y in the phase layout that `tiles.put_phases` writes.

Where ONNX Runtime and onnx are installed, the products run there (`composed_onnx`: a
tile's interior as per-phase convolutions, the pixels next to the sides as products);
numpy's BLAS runs them otherwise (`BACKENDS`).
"""

import functools
import math
import os

import numpy as np
from threadpoolctl import threadpool_limits

from srcnn.core import colour
from srcnn.core import resampling
from srcnn.core.choices import SCALES
from srcnn.core.model import parse_arch
from srcnn.upscaling import composed_onnx
from srcnn.upscaling import tiles as tiling

# Most small-image pixels on a tile's side (tiles of equal sizes, `tiles.plan_tiles`):
# 128 measured faster than 96 and 160 at x3, as the fixed costs of a tile
# (numpy calls, margins) shrink while its tap maps (tile^2 * s^2 * 32 floats) still
# fit the last-level cache.
TILE_PIXELS = 128
# Small pixels per call of the three products, by backend: numpy's chunk keeps its conv1
# maps (chunk * s^2 * 64 floats) in a core's L2 cache between conv1, its ReLU and conv2;
# ONNX Runtime applies the ReLU as it writes, and gains more from fewer calls.
CHUNK_PIXELS = {"numpy": 256, "onnxruntime": 1024}
BACKENDS = ("auto", "onnxruntime", "numpy")
# Added to a float32 in [0, 255], rounds it to an integer half to even (as np.rint) and
# leaves that integer in the low byte of the sum's bits (`_quantize`).
ROUNDING_OFFSET = np.float32(1.5 * 2 ** 23)
# Images whose smaller side (in small pixels) is below this go the TensorFlow way: the
# side filters assume that the two sides of an axis are further apart than they reach.
MIN_SIDE = 32


def supports(arch):
    """Whether this engine computes the network `arch` (`unsupported` says why not)."""
    return unsupported(arch) is None


@functools.lru_cache(maxsize=None)
def unsupported(arch):
    """Why this engine does not compute `arch`, or None. It computes three layers with a 1 x 1 conv2, of any widths
    (9-1-5, 9x128-1x64-5, 13-1-7; not 9-5-5, 9-1-1-5), if conv1's `AxisFilters` fit at every scale (up to 23 taps)."""
    sizes = parse_arch(arch).sizes
    if len(sizes) != 3 or sizes[1] != 1:
        return "the composed engine computes three layers with a 1 x 1 conv2"
    try:
        [AxisFilters(scale, sizes[0], padding) for scale in SCALES for padding in ("replicate", "zero")]  # or raise
    except ValueError:
        return f"conv1's {sizes[0]} x {sizes[0]} filters reach too far from the sides for the composed engine"
    return None


def composed_threads():
    """Tiles run at once: one per core (on 2 cores, 2-7 % faster than one more than the
    cores in each of 4 interleaved rounds, 4 MPix x3)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class AxisFilters:
    """The enlargement, then a padded filter of `size` taps, along one axis.

    `weights[k, p, d, t]`: for a small pixel i of class k, how much small pixel
    i + lo + t weighs in the enlarged and padded pixel s i + p + d - size // 2, which
    tap d of phase p reads. Pixels far from both sides share one class, `interior`; each
    of the `before` first and `after` last pixels of the axis has one of its own.

    Args:
        scale: the enlargement factor.
        size: the filter's taps along the axis (odd).
        padding: "replicate" (edge pixels repeated) or "zero", of the enlarged image.
    """

    def __init__(self, scale, size, padding):
        half, length = size // 2, 4 * MIN_SIDE
        enlarged = resampling.enlargement_matrix(length, scale)
        rows = np.arange(-half, scale * length + half)
        kept = (rows >= 0) & (rows < scale * length) | (padding == "replicate")
        padded = enlarged[np.clip(rows, 0, scale * length - 1)] * kept[:, None]
        # by_pixel[i, p, d, a]: padded row s i + p + d (from -half) weighs small pixel a
        by_pixel = padded[scale * np.arange(length)[:, None, None] + np.arange(scale)[:, None] + np.arange(size)]
        pixel, _, _, source = np.nonzero(by_pixel)
        self.lo, self.hi = int((source - pixel).min()), int((source - pixel).max())
        self.taps = self.hi - self.lo + 1
        windows = np.zeros((length, scale, size, self.taps))
        for i in range(length):
            first, stop = max(0, i + self.lo), min(length, i + self.hi + 1)
            windows[i, ..., first - i - self.lo:stop - i - self.lo] = by_pixel[i, ..., first:stop]
        middle = length // 2
        differs = ~np.all(np.isclose(windows, windows[middle], rtol=0, atol=1e-12), axis=(1, 2, 3))
        self.before = int(np.max(np.nonzero(differs[:middle])[0], initial=-1) + 1)
        self.after = int(length - np.min(np.nonzero(differs[middle:])[0] + middle, initial=length))
        if self.before + self.after + self.taps > MIN_SIDE:
            raise ValueError(f"x{scale} with {size}-tap filters reaches too far from the image sides")
        representatives = list(range(self.before)) + [middle] + list(range(length - self.after, length))
        self.weights = windows[representatives]
        self.interior = self.before

    def classes(self, first, stop, length):
        """The class of each small pixel first .. stop - 1 of an axis `length` pixels long."""
        pixels = np.arange(first, stop)
        last = self.interior + 1 + pixels - (length - self.after)
        return np.where(pixels < self.before, pixels, np.where(pixels >= length - self.after, last, self.interior))


class ComposedSRCNN:
    """The float32 upscale of an f1-1-f3 network (any widths) computed on the small image's grid.

    Args:
        model: a `srcnn.core.model.SRCNN` of three layers whose conv2 is 1 x 1 (see `supports`).
        scale: the enlargement factor.
        padding: "replicate" or "zero", as in `model(bicubic, padding)`.
        backend: what runs the products: "onnxruntime", "numpy", or "auto" (the first
            where onnxruntime and onnx import, else the second).
    """

    def __init__(self, model, scale, padding, backend="auto"):
        if backend not in BACKENDS:
            raise ValueError(f"backend {backend!r} is not one of {BACKENDS}")
        if not supports(model.arch):
            raise ValueError(f"architecture {model.arch}: {unsupported(model.arch)}")
        self.scale, self.padding = int(scale), padding
        layers = model.conv_layers
        kernels = [layer.kernel.numpy().astype(np.float64) for layer in layers]
        biases = [layer.bias.numpy().astype(np.float64) for layer in layers]
        s = self.scale
        self.maps1, self.maps2 = kernels[0].shape[-1], kernels[1].shape[-1]
        # conv1 per (row class, column class): (window taps, s * s * maps1), outputs ordered (p, q, map).
        self.axis = AxisFilters(s, kernels[0].shape[0], padding)
        weights = self.axis.weights
        conv1 = np.einsum("yxc,rpya,tqxb->rtabpqc", kernels[0][:, :, 0], weights, weights)
        self.conv1 = conv1.reshape(len(weights), len(weights), self.axis.taps ** 2, s * s * self.maps1).astype(
            np.float32)
        self.bias1 = np.tile(biases[0], s * s).astype(np.float32)
        self.conv2, self.bias2 = kernels[1][0, 0].astype(np.float32), biases[1].astype(np.float32)
        # conv3 as one map per tap, (maps2, f3 * f3), summed shifted afterwards (`_conv3`).
        self.last_size = kernels[2].shape[0]
        self.conv3 = np.ascontiguousarray(kernels[2][..., 0].reshape(-1, self.maps2).T).astype(np.float32)
        self.bias3 = np.float32(biases[2][0])
        self.reach = math.ceil((self.last_size // 2) / s)  # small pixels of conv2 maps past a tile, for conv3
        # The enlargement alone (a 1-tap filter), for the colour planes: (s * s, window taps) per class.
        self.colour_axis = AxisFilters(s, 1, padding)
        alone = self.colour_axis.weights[:, :, 0]
        self.enlarge = np.einsum("rpa,tqb->rtpqab", alone, alone).reshape(
            len(alone), len(alone), s * s, self.colour_axis.taps ** 2).astype(np.float32)
        self._session = self._tile_tap_maps = None
        if backend != "numpy":
            self._session = composed_onnx.tap_maps_session(self.bias1, self.conv2, self.bias2, self.conv3)
            self._tile_tap_maps = self._session and composed_onnx.TileTapMaps(
                self.conv1[self.axis.interior, self.axis.interior], self.bias1, self.conv2, self.bias2, self.conv3,
                self.axis.taps)
        if backend == "onnxruntime" and self._session is None:
            raise ValueError("backend 'onnxruntime' needs onnxruntime and onnx: pip install onnxruntime onnx")
        self.backend = "numpy" if self._session is None else "onnxruntime"

    @property
    def margin(self):
        """Small pixels (before, after) a tile's crop reaches past it, for conv1 and conv3."""
        return self.reach - self.axis.lo, self.reach + self.axis.hi

    def crop(self, box, size):
        """The small-image crop (top, bottom, left, right) that `upscale_tile` needs for `box`."""
        (height, width), (before, after) = size, self.margin
        return (max(0, box[0] - before), min(height, box[1] + after),
                max(0, box[2] - before), min(width, box[3] + after))

    def upscale_into(self, pixels, scale, alpha, sr, bicubic, progress=False):
        """Writes the upscale of `pixels` (and `alpha`) into uint8 `sr` and `bicubic` (None: not
        wanted), a tile per thread (see `srcnn.upscaling.engines.upscale`).

        Each tile makes its planes from its own crop, and BLAS is held to one thread per
        call: its own threads would compete with the tiles'.
        """
        size = pixels.shape[:2]
        if scale != self.scale or min(size) < MIN_SIDE:
            raise ValueError(f"the composed engine for x{self.scale} upscales images of at least {MIN_SIDE} pixels "
                             f"a side, not a {size[1]}x{size[0]} image at x{scale}")
        gains = np.float32(255.0) * colour.y_gains(sr.shape[-1])
        tiles = tiling.plan_tiles(*size, TILE_PIXELS, self.margin, equal_sizes=True)  # windows: `crop`

        def one_tile(tile):
            rows, columns = slice(*tile.window[:2]), slice(*tile.window[2:])
            crop_alpha = None if alpha is None else alpha[rows, columns]
            y, base = tiling.low_resolution_planes(pixels[rows, columns], crop_alpha)
            return self.upscale_tile(y, base, tile.box, size, gains, bicubic is not None)

        output_boxes = [tuple(scale * side for side in tile.box) for tile in tiles]
        with threadpool_limits(1, user_api="blas"):
            tiling.run_tiles(one_tile, tiles, output_boxes, scale, sr, bicubic, progress, composed_threads())

    def upscale_tile(self, y, base, box, size, gains, with_bicubic):
        """uint8 (sr, bicubic) phases of the small-image `box` (top, bottom, left, right).

        Args:
            y, base: float32 (h, w, 1) Y in [0, 1] and (h, w, C) base planes of
                `tiles.low_resolution_planes`, over `crop(box, size)`.
            box: the small-image pixels whose s * s output pixels to compute.
            size: (height, width) of the small image.
            gains: float32 (C,) each output plane's gain on Y in 8-bit units (255 * `colour.y_gains`).
            with_bicubic: False gives None for bicubic.

        Returns:
            uint8 (box rows, box columns, s * s * C) in the layout of `tiles.put_phases`.
        """
        crop = self.crop(box, size)
        # conv2's maps that conv3 reads, past the image sides too (conv3's padding, `_conv3`).
        maps_box = (box[0] - self.reach, box[1] + self.reach, box[2] - self.reach, box[3] + self.reach)
        taps = self._conv12(y, crop, maps_box, size)
        restored = self._conv3(taps, maps_box, box, size)  # (s * s, box pixels)
        planes = np.concatenate([base, y], axis=-1) if with_bicubic else base
        phases = self._enlarge(planes, crop, box, size)  # (s * s, box pixels, planes)
        rows, columns = box[1] - box[0], box[3] - box[2]
        sr = _quantize(phases[..., :len(gains)], restored, gains, rows, columns)
        if not with_bicubic:
            return sr, None
        return sr, _quantize(phases[..., :len(gains)], phases[..., -1], gains, rows, columns)

    def _conv12(self, y, crop, maps_box, size):
        """conv3's tap maps of conv2's ReLU maps over `maps_box`: (s * s, taps, pixels), where
        the first f3 * f3 of the taps are conv3's (in its order) and any others are zero.
        Every pixel goes through the interior filters, then the pixels next to an image side
        again through their own."""
        axis = self.axis
        padded = _zero_padded(y[..., 0], crop, (maps_box[0] + axis.lo, maps_box[1] + axis.hi,
                                                maps_box[2] + axis.lo, maps_box[3] + axis.hi))
        windows = np.lib.stride_tricks.sliding_window_view(padded, (axis.taps, axis.taps))  # (rows, columns, taps, taps)
        taps = self._interior_tap_maps(padded, windows)
        self._side_tap_maps(taps, windows, maps_box, size)
        return taps

    def _side_tap_maps(self, taps, windows, maps_box, size):
        """Puts into `taps` (of `_conv12`) the tap maps of the pixels next to an image side,
        through their own conv1, from the (rows, columns, taps, taps) windows over `maps_box`."""
        axis = self.axis
        # Pixels past the sides keep the interior's: `_conv3` writes conv3's padding over them.
        row_classes, column_classes = (
            np.where((pixels >= 0) & (pixels < length), axis.classes(first, stop, length), axis.interior)
            for first, stop, length in ((maps_box[0], maps_box[1], size[0]), (maps_box[2], maps_box[3], size[1]))
            for pixels in [np.arange(first, stop)])
        for row_class, column_class, pixels in _side_pixels(row_classes, column_classes, axis.interior):
            side = windows[pixels // windows.shape[1], pixels % windows.shape[1]].reshape(len(pixels), -1)
            taps[:, :self.last_size ** 2, pixels] = self._tap_maps(side, self.conv1[row_class, column_class]).reshape(
                len(taps), -1, len(pixels))

    def _interior_tap_maps(self, padded, windows):
        """The tap maps of every pixel through the interior filters, as `_conv12` returns them,
        from the padded Y and its (rows, columns, taps, taps) windows: in one call of the tile
        session, else by chunks of `_tap_maps`."""
        if self._tile_tap_maps is not None:
            return self._tile_tap_maps(padded)
        windows = windows.reshape(-1, windows.shape[-1] ** 2)
        taps = np.empty((self.scale ** 2 * self.last_size ** 2, len(windows)), np.float32)
        interior, step = self.axis.interior, CHUNK_PIXELS[self.backend]
        for first in range(0, len(windows), step):
            chunk = slice(first, first + step)
            taps[:, chunk] = self._tap_maps(windows[chunk], self.conv1[interior, interior])
        return taps.reshape(self.scale ** 2, self.last_size ** 2, -1)

    def _tap_maps(self, windows, conv1):
        """(pixels, window taps) windows -> (s * s * f3 * f3, pixels) conv3 tap maps."""
        if self._session is not None:
            return self._session.run(None, {"windows": windows, "conv1": conv1})[0]
        features = windows @ conv1
        features += self.bias1
        np.maximum(features, 0, out=features)
        maps = features.reshape(-1, self.maps1) @ self.conv2
        maps += self.bias2
        np.maximum(maps, 0, out=maps)
        return (maps @ self.conv3).reshape(len(windows), -1).T

    def _conv3(self, taps, maps_box, box, size):
        """Restored Y phases in [0, 1], float32 (s * s, box pixels), from the tap maps of
        `_conv12` over `maps_box`."""
        s, half, size3 = self.scale, self.last_size // 2, self.last_size
        rows, columns = maps_box[1] - maps_box[0], maps_box[3] - maps_box[2]
        taps = taps.reshape(s, s, -1, rows, columns)
        # Outside the image conv3's input is padded: each tap map is linear in conv2's maps,
        # so they are padded alike, phase by phase (the edge phase, or zero).
        _pad_phases(taps, (max(0, -maps_box[0]), max(0, maps_box[1] - size[0]),
                           max(0, -maps_box[2]), max(0, maps_box[3] - size[1])), self.padding == "replicate")
        top, left = box[0] - maps_box[0], box[2] - maps_box[2]
        height, width = box[1] - box[0], box[3] - box[2]
        # Summed a whole row of the maps at a time, as flat ranges (numpy adds those several
        # times faster than 2-d slices); the columns past `width` are dropped afterwards.
        taps = taps.reshape(s, s, taps.shape[2], -1)
        restored = np.full((s, s, height * columns), self.bias3, np.float32)
        length = (height - 1) * columns + width  # up to the last wanted pixel: stays inside a tap map
        for p in range(s):
            for q in range(s):
                for tap in range(size3 * size3):
                    rows_from, row_phase = divmod(p + tap // size3 - half, s)
                    columns_from, column_phase = divmod(q + tap % size3 - half, s)
                    start = (top + rows_from) * columns + left + columns_from
                    restored[p, q, :length] += taps[row_phase, column_phase, tap, start:start + length]
        restored = restored.reshape(s, s, height, columns)[..., :width]
        np.clip(restored, 0.0, 1.0, out=restored)
        return restored.reshape(s * s, -1)

    def _enlarge(self, planes, crop, box, size):
        """Bicubic phases of `planes` (over `crop`) for the small pixels of `box`: (s * s, pixels, planes)."""
        axis, count, s = self.colour_axis, planes.shape[-1], self.scale
        padded = _zero_padded(planes, crop, (box[0] + axis.lo, box[1] + axis.hi, box[2] + axis.lo, box[3] + axis.hi))
        rows, columns = box[1] - box[0], box[3] - box[2]
        windows = np.empty((axis.taps, axis.taps, rows, columns, count), np.float32)
        for row in range(axis.taps):
            for column in range(axis.taps):
                windows[row, column] = padded[row:row + rows, column:column + columns]
        windows = windows.reshape(axis.taps ** 2, rows * columns, count)
        phases = (self.enlarge[axis.interior, axis.interior] @ windows.reshape(axis.taps ** 2, -1)).reshape(
            s * s, rows * columns, count)
        row_classes = axis.classes(box[0], box[1], size[0])
        column_classes = axis.classes(box[2], box[3], size[1])
        for row_class, column_class, pixels in _side_pixels(row_classes, column_classes, axis.interior):
            side = windows[:, pixels].reshape(axis.taps ** 2, -1)
            phases[:, pixels] = (self.enlarge[row_class, column_class] @ side).reshape(s * s, len(pixels), count)
        return phases


def _side_pixels(row_classes, column_classes, interior):
    """(row class, column class, flat pixel indices) for each class pair other than the interior's."""
    if np.all(row_classes == interior) and np.all(column_classes == interior):
        return
    width = int(max(row_classes.max(), column_classes.max())) + 1
    classes = (row_classes[:, None] * width + column_classes[None, :]).ravel()
    for which in np.unique(classes):
        row_class, column_class = divmod(int(which), width)
        if row_class != interior or column_class != interior:
            yield row_class, column_class, np.flatnonzero(classes == which)


def _pad_phases(taps, pad, replicate):
    """Writes the padding of (s, s, taps, rows, columns) phase maps in place: the first and
    last pad = (top, bottom, left, right) rows and columns, outside the image. Each padded
    pixel's phases all take the nearest edge phase, or zero."""
    s, rows, columns = taps.shape[0], taps.shape[3], taps.shape[4]
    inside = slice(pad[2], columns - pad[3])  # the rows first, within the image's columns
    for padded, edge, phase in ((slice(0, pad[0]), pad[0], 0), (slice(rows - pad[1], rows), rows - pad[1] - 1, s - 1)):
        if padded.start < padded.stop:
            taps[:, :, :, padded, inside] = taps[phase, :, :, edge, inside][None, :, :, None] if replicate else 0
    for padded, edge, phase in ((slice(0, pad[2]), pad[2], 0),
                                (slice(columns - pad[3], columns), columns - pad[3] - 1, s - 1)):
        if padded.start < padded.stop:
            taps[:, :, :, :, padded] = taps[:, phase, :, :, edge][:, None, :, :, None] if replicate else 0


def _zero_padded(planes, crop, region):
    """`planes` (over `crop`, the part of the image inside `region`) over `region` (top,
    bottom, left, right), zero outside the image."""
    top, bottom, left, right = region
    padded = np.zeros((bottom - top, right - left) + planes.shape[2:], np.float32)
    rows, columns = (max(top, crop[0]), min(bottom, crop[1])), (max(left, crop[2]), min(right, crop[3]))
    padded[rows[0] - top:rows[1] - top, columns[0] - left:columns[1] - left] = \
        planes[rows[0] - crop[0]:rows[1] - crop[0], columns[0] - crop[2]:columns[1] - crop[2]]
    return padded


def _quantize(planes, y, gains, rows, columns):
    """uint8 (rows, columns, s * s * C), in the layout of `tiles.put_phases`, of
    `planes` (s * s, pixels, C) plus each plane's gain times `y` (s * s, pixels), all in
    8-bit units: rounded half to even (as np.rint), then clipped to 0..255."""
    moved = int(np.count_nonzero(gains))  # `colour.y_gains`: one gain on the planes Y moves, then alpha's 0
    scaled_y = (y * gains[0])[..., None]
    if moved == planes.shape[-1]:
        values = planes + scaled_y
    else:
        values = np.array(planes, np.float32)
        values[..., :moved] += scaled_y
    np.clip(values, 0, 255, out=values)
    values += ROUNDING_OFFSET  # one pass instead of np.rint and a conversion
    phases = np.empty((rows, columns, values.shape[0], values.shape[-1]), np.uint8)
    phases[...] = values.view(np.uint32).reshape(values.shape[0], rows, columns, -1).transpose(1, 2, 0, 3)
    return phases.reshape(rows, columns, -1)
