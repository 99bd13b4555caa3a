"""The Python API: `Upscaler`, one object that upscales images in memory.

    from srcnn import Upscaler

    upscaler = Upscaler.pretrained(scale=3)             # the shipped weights, from any folder
    big = upscaler.upscale(pixels)                      # numpy in, numpy out (or PIL in, PIL out)
    upscaler = Upscaler.from_checkpoint("checkpoint/x3", precision="float32", tile=256)
    upscaler.export("srcnn_x3.onnx", "onnx")            # a model that runs without this project
    upscaler.upscale_file("photo.jpg", "photo_x3.png")  # any image file Pillow reads; PNG, JPEG, WebP, TIFF out
    upscaler.upscale_video("clip.mp4", "clip_x3.mp4")   # frame by frame, sound copied (srcnn.upscaling.video)

It is the one front door: `srcnn-upscale`, `step3_test.py --input` and batch jobs
(`srcnn.upscaling.jobs`) upscale through it. Bicubic enlargement, SRCNN on Y, bicubic Cb/Cr, alpha
enlarged bicubically, greyscale kept greyscale, done in tiles by the engine that
`srcnn.upscaling.engines.select_engine` picks for each image.

Accepted images:
    uint8 numpy arrays (H, W) or (H, W, C), C = 1 (grey), 2 (grey + alpha), 3 (RGB), 4 (RGBA);
    float numpy arrays of the same shapes, in [0, 1] or in [0, 255]: values up to 1 are
        read as [0, 1], larger ones as [0, 255] (pass `value_range` to say which). They are
        rounded to 8 bits, as the network was trained on 8-bit images, and returned in the
        same range and dtype;
    PIL images of any mode Pillow converts (EXIF orientation applied, palette/CMYK/16-bit
        converted as `image_files.read_image` does); the result is an "L", "LA", "RGB" or
        "RGBA" image carrying the input's colour profile.
Anything else raises one TypeError (wrong type or dtype) or ValueError (wrong shape,
empty, values out of range) that names the problem. Files, folders and checkpoints raise
the `srcnn.core.errors` types (InputError, OutputExistsError, OutputError, CheckpointError).
"""

import numbers
import os

import numpy as np
from PIL import Image, ImageOps

from srcnn.core import checkpoints
from srcnn.core import colour
from srcnn.core import image_files
from srcnn.core.choices import DEFAULT_CRF, DEFAULT_MAX_PIXELS, DEFAULT_PADDING, DEFAULT_SCALE, DEFAULT_TILE, PRECISIONS, SCALES, UPSCALE_PADDINGS
from srcnn.core.model import DEFAULT_ARCH, normalise_arch
from srcnn.core.errors import CheckpointError, InputError, OutputError, SRCNNError, os_reason, printable
from srcnn.upscaling.export import DeployableSRCNN, export as export_module
from srcnn.core.outputs import KINDS, Outputs
from srcnn.core.precision import resolve_precision
from srcnn.upscaling import engines
from srcnn.upscaling import video

_CHANNEL_MEANING = "1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA)"
_PIL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


class Upscaler:
    """Upscales images `scale` times with SRCNN; see the module docstring for inputs.

    Args:
        model: a `srcnn.core.model.SRCNN` with its weights.
        scale: the factor those weights were trained for.
        padding: "replicate" (the MATLAB demo's borders, default) or "zero".
        precision: "auto" (bfloat16 where the hardware runs it natively, else float32),
            "float32" or "bfloat16".
        tile: output tile side in pixels of the TensorFlow engine; memory grows with its square
            (the composed engine cuts its own, `srcnn.upscaling.composed_engine.TILE_PIXELS`).
        checkpoint: where the weights came from (for messages), or None.
    """

    def __init__(self, model, scale, padding=DEFAULT_PADDING, precision="auto", tile=DEFAULT_TILE,
                 checkpoint=None):
        if precision not in PRECISIONS:
            raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
        _check_padding(padding)
        if isinstance(tile, bool) or not isinstance(tile, numbers.Integral) or tile < 1:
            raise ValueError(f"tile {tile!r}: must be a whole number of pixels above 0")
        checkpoints.check_upscalable(checkpoint or "this network", getattr(model, "channels", "y"))
        self.model, self.scale, self.checkpoint = model, int(scale), checkpoint
        self.precision = resolve_precision(precision)
        self.network = engines.TiledSRCNN(model, padding, self.precision, tile)
        self._composed = None  # the composed engine, made on first use

    @classmethod
    def pretrained(cls, scale=DEFAULT_SCALE, arch=DEFAULT_ARCH, **options):
        """The shipped weights of network `arch` ("9-1-5", or "9-5-5": `checkpoints.describe_shipped`)
        for `scale` (2, 3 or 4); `options` as for the constructor."""
        if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or int(scale) not in SCALES:
            raise ValueError(f"no shipped weights for scale {scale}: there are x2, x3 and x4")
        scale = int(scale)  # numpy's integers too
        path = checkpoints.pretrained_path(scale, arch)  # a bad arch: ValueError
        if not os.path.exists(path + ".index"):
            raise ValueError(f"no shipped {normalise_arch(arch)} weights for x{scale}; shipped: "
                             f"{checkpoints.describe_shipped()}")
        return cls.from_checkpoint(path, **options)

    @classmethod
    def from_checkpoint(cls, path, padding=DEFAULT_PADDING, scale=None, **options):
        """Weights from a checkpoint prefix or folder (its newest complete checkpoint).

        Args:
            scale: the factor expected of the weights, or None for theirs.

        Raises:
            srcnn.core.errors.CheckpointError: nothing loadable at `path`, or weights for
                another `scale`.
        """
        _check_padding(padding)
        prefix = checkpoints.resolve(os.fspath(path))
        model, config = checkpoints.load_model(prefix, padding=padding)
        if scale is not None and scale != config["scale"]:
            raise CheckpointError(f"{prefix}: trained for x{config['scale']}, not x{scale}")
        return cls(model, config["scale"], padding=padding, checkpoint=prefix, **options)

    @property
    def shipped(self):
        """Whether the weights are the ones shipped with srcnn."""
        return bool(self.checkpoint) and checkpoints.is_pretrained_location(self.checkpoint)

    def describe(self):
        """One line: which weights, and how they compute."""
        weights = f"the shipped x{self.scale} weights" if self.shipped else f"{self.checkpoint or 'in memory'}"
        return (f"weights: {weights} ({self.arch}, x{self.scale}"
                + (f", {self.checkpoint}" if self.shipped else "")
                + f"), padding: {self.padding}, precision: {self.precision}")

    @property
    def arch(self):
        return self.model.arch

    @property
    def padding(self):
        return self.network.padding

    @property
    def tile(self):
        return self.network.tile

    def engine_for(self, size):
        """The engine that upscales an image of `size` (height, width): see `engines.select_engine`."""
        if engines.select_engine(self.arch, self.precision, size) == engines.TENSORFLOW:
            return self.network
        if self._composed is None:
            self._composed = engines.ComposedSRCNN(self.model, self.scale, self.padding)
        return self._composed

    def _upscale(self, pixels, alpha, progress, with_bicubic=False):
        """`engines.upscale` of uint8 pixels (and alpha) by the engine for their size.

        Greyscale goes through as RGB with R = G = B: the network then sees the Y it was trained on
        (BT.601, 16-235), not the grey level itself (black would come out at 6), and the output's
        R = G = B is its grey.
        """
        grey = pixels.ndim == 2
        if grey:
            pixels = np.repeat(pixels[..., None], 3, axis=-1)
        sr, bicubic = engines.upscale(self.engine_for(pixels.shape[:2]), pixels, self.scale, alpha, progress,
                                      with_bicubic)
        if grey:
            planes = [0, 3] if alpha is not None else 0
            sr, bicubic = sr[..., planes], None if bicubic is None else bicubic[..., planes]
        return np.ascontiguousarray(sr), None if bicubic is None else np.ascontiguousarray(bicubic)

    def __repr__(self):
        return (f"Upscaler(x{self.scale}, {self.arch}, padding={self.padding!r}, precision={self.precision!r}, "
                f"tile={self.tile}, checkpoint={self.checkpoint!r})")

    def upscale(self, image, value_range=None, progress=False):
        """`image` enlarged `scale` times, as the same kind of image.

        Args:
            image: a numpy array or PIL image (see the module docstring).
            value_range: for float arrays, 1 ([0, 1]) or 255 ([0, 255]); None guesses
                from the largest value.
            progress: show a progress bar over the tiles.

        Returns:
            numpy (scale*H, scale*W[, C]) of the input's dtype and layout, or a PIL image.

        Raises:
            TypeError: not a numpy array or PIL image, or an unsupported dtype.
            ValueError: zero size, an unsupported shape or channel count, or float values
                outside [0, 1] and [0, 255] (or NaN).
        """
        if isinstance(image, Image.Image):
            return self._upscale_pil(image, progress)
        if not isinstance(image, np.ndarray):
            raise TypeError(f"image is a {type(image).__name__}; pass a numpy array or a PIL image")
        pixels8, top = _to_uint8(image, value_range)
        channels = 1 if image.ndim == 2 else image.shape[2]
        grey = pixels8 if image.ndim == 2 else pixels8[..., 0] if channels <= 2 else pixels8[..., :3]
        alpha = pixels8[..., -1] if channels in (2, 4) else None
        sr, _ = self._upscale(np.ascontiguousarray(grey), None if alpha is None else np.ascontiguousarray(alpha),
                              progress)
        sr = sr.reshape(sr.shape[:2] + image.shape[2:])
        if top is None:
            return sr
        return (sr * (top / 255.0)).astype(image.dtype)

    def _upscale_pil(self, image, progress):
        if image.width == 0 or image.height == 0:
            raise ValueError(f"image is {image.width}x{image.height} pixels; it needs at least one pixel")
        frames = getattr(image, "n_frames", 1)
        if frames > 1 and image.format != "MPO":  # as image_files.read_image: never cut to one frame
            raise ValueError(f"image is an animation or multi-page file of {frames} frames; pass one frame "
                             "(image.seek(i), then image.copy())")
        try:
            loaded = image_files.convert_pil_image(ImageOps.exif_transpose(image))
        except OSError as error:  # the pixels are decoded only now
            raise InputError(f"image: truncated or damaged ({' '.join(str(error).split())})") from None
        sr, _ = self._upscale(loaded.pixels, loaded.alpha, progress)
        result = Image.fromarray(sr, _PIL_MODES[1 if sr.ndim == 2 else sr.shape[2]])
        if loaded.icc_profile:
            result.info["icc_profile"] = loaded.icc_profile
        return result

    def upscale_file(self, source, destination, bicubic_destination=None, overwrite=False,
                     max_pixels=DEFAULT_MAX_PIXELS, progress=False, outputs=None, provenance=None):
        """Reads the image file `source`, upscales it and writes `destination` (and the
        bicubic enlargement to `bicubic_destination`, if given; either may be None).

        The format follows the extension (`image_files.SAVE_OPTIONS`: PNG, JPEG, WebP, TIFF),
        the colour profile is kept, and the files are renamed into place only once all are
        written: an error or interrupt leaves none of them. They are written through
        `srcnn.core.outputs`: `outputs` (an `Outputs` holding every input of a larger run) or
        one made here for `source` and `overwrite`. With `provenance` (`srcnn.upscaling.jobs.Provenance`)
        each file carries its note, by which a rerun knows what made it.

        Raises:
            srcnn.core.errors.InputError: `source` is not a readable image, or over `max_pixels`.
            srcnn.core.errors.OutputExistsError: an output exists (and not `overwrite`).
            srcnn.core.errors.OutputError: an output cannot be written.
        """
        wanted = [(os.fspath(path), kind) for path, kind in ((destination, "sr"), (bicubic_destination, "bicubic"))
                  if path is not None]
        if not wanted:
            raise ValueError("pass a destination, a bicubic_destination or both")
        if len({os.path.abspath(path) for path, _ in wanted}) < len(wanted):
            raise ValueError(f"{wanted[0][0]}: passed as both destination and bicubic_destination; name two files")
        run = outputs or Outputs(overwrite=overwrite)
        run.protect(source)
        for path, _ in wanted:
            if os.path.splitext(path)[1].lower() not in image_files.SAVE_OPTIONS:
                raise ValueError(f"{path}: name the output {', '.join(image_files.SAVE_OPTIONS)}")
            run.check(path, KINDS["image"])
        image = image_files.read_image(os.fspath(source), max_pixels)
        for path, _ in wanted:
            image_files.check_size_fits(path, image.pixels.shape[0] * self.scale, image.pixels.shape[1] * self.scale)
        sr, bicubic = self._upscale(image.pixels, image.alpha, progress, with_bicubic=bicubic_destination is not None)
        pixels, failed = {"sr": sr, "bicubic": bicubic}, []
        try:
            with run.writing_all([(path, KINDS["image"]) for path, _ in wanted], failed=failed) as temporaries:
                for (path, kind), temporary in zip(wanted, temporaries):  # all written, then all renamed
                    failed[:] = [path]
                    note = provenance.note(source, kind) if provenance else None
                    image_files.write_image(temporary, pixels[kind], os.path.splitext(path)[1], image.icc_profile,
                                            note=note)
        except SRCNNError:
            raise
        except OSError as error:
            raise OutputError(f"{printable(failed[0] if failed else wanted[0][0])}: cannot write "
                              f"({os_reason(error)})") from None

    def upscale_video(self, source, destination, crf=DEFAULT_CRF, overwrite=False, progress=False, outputs=None,
                      provenance=None):
        """Upscales the video file `source` into the MP4 `destination`, each frame as `upscale` does.

        Streams through ffmpeg with the audio copied; see `srcnn.upscaling.video.upscale_video` for
        `crf`, `overwrite` and `progress`.

        Returns:
            a `srcnn.upscaling.video.VideoResult` (frames, size, frame rate, what became of the audio).

        Raises:
            srcnn.core.errors.SRCNNError: `source` is not a usable video, or `destination`
                exists (and not `overwrite`) or cannot be written.
        """
        return video.upscale_video(self.upscale, self.scale, os.fspath(source), os.fspath(destination),
                                   crf, overwrite=overwrite, progress=progress, outputs=outputs,
                                   note=provenance.note(source, "sr") if provenance else None)

    def export(self, path, model_format, overwrite=False):
        """Writes this upscaler as a self-contained model (see `srcnn.upscaling.export`); returns `path`.

        The model always computes in float32 with replicate padding. An existing `path` is
        replaced only with `overwrite`, and only if it is a model of that format.
        """
        run = Outputs(inputs=checkpoints.bundle_files(self.checkpoint) if self.checkpoint else (), overwrite=overwrite)
        return export_module(DeployableSRCNN(self.model, self.scale), model_format, os.fspath(path), outputs=run)


def _check_padding(padding):
    if padding not in UPSCALE_PADDINGS:
        raise ValueError(f"padding {padding!r} is not one of {', '.join(map(repr, UPSCALE_PADDINGS))}")


def _to_uint8(image, value_range):
    """Checks a numpy image and returns (uint8 pixels, the float range or None for uint8)."""
    if image.ndim not in (2, 3):
        raise ValueError(f"image has shape {image.shape}; expected (H, W) or (H, W, C) with C = {_CHANNEL_MEANING}")
    if image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4):
        raise ValueError(f"image has {image.shape[2]} channels (shape {image.shape}); expected {_CHANNEL_MEANING}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image has zero size (shape {image.shape}); it needs at least one pixel")
    if image.dtype == np.uint8:
        return image, None
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"image dtype {image.dtype} is not supported; pass uint8 (0-255) or a float array "
                        "in [0, 1] or [0, 255] (e.g. image.astype(np.uint8))")
    if value_range not in (None, 1, 255):
        raise ValueError(f"value_range {value_range!r} is not 1 ([0, 1]), 255 ([0, 255]) or None (guess)")
    if not np.isfinite(image).all():
        raise ValueError("image has NaN or infinite values; float images must lie in [0, 1] or [0, 255]")
    low, high = float(image.min()), float(image.max())
    top = value_range or (1 if high <= 1 else 255)
    if low < 0 or high > top:
        expected = f"[0, {top}] (value_range={value_range})" if value_range else "[0, 1] or [0, 255]"
        raise ValueError(f"image values span [{low:g}, {high:g}], outside {expected}")
    return colour.to_uint8(image / np.float64(top)), top
