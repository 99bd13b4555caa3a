"""Self-contained deployable models: SavedModel, TFLite and ONNX.

    srcnn-export --scale 3 --format onnx --output srcnn_x3.onnx
    srcnn-export --checkpoint checkpoint/x3 --format tflite --output srcnn_x3.tflite

Every format holds the whole upscale, so a consumer needs nothing from this project:

    input  "rgb"  uint8 (1, H, W, 3), any H and W
    output "sr"   uint8 (1, scale*H, scale*W, 3)

Inside: MATLAB rgb2ycbcr (Y rounded, as `colour.rgb_to_ycbcr`), bicubic enlargement
of Y, Cb, Cr (`resampling.enlarge_bicubic`, equal to `tf.image.resize(..., "bicubic",
antialias=True)`), the network on Y with each layer's input edge-padded ("replicate",
the MATLAB demo's borders), the restored Y clipped to [0, 1], the bicubic Cb/Cr put
back, and the RGB rounded and clipped to uint8, as `upscale.upscale` does.

The graph uses only operations that TFLite and ONNX have as builtins (convolutions,
ReLU, pad, slice, concat, tile, reshape, transpose, round, range, gather, division): the
bicubic resize is a fixed-kernel convolution renormalised at the borders, and edge
padding is concatenated edge rows, since TFLite's MIRROR_PAD has no "edge" mode. It runs
in float32 (`precision` of the Upscaler does not apply). The SavedModel, the TFLite
converter and tf2onnx all take the same traced function of `DeployableSRCNN`, so the
three formats are one graph.
"""

import os

import numpy as np
from srcnn.core.startup import tf  # TensorFlow with its start-up messages filtered (srcnn.core.startup)

from srcnn.core import colour, image_files
from srcnn.core import resampling
from srcnn.core.choices import EXPORT_FORMATS
from srcnn.core.errors import MissingDependency, OutputError, SRCNNError, printable, tf_reason
from srcnn.core.outputs import KINDS, Outputs
from srcnn.core.model import InferenceLayers, restore_y

FORMATS = EXPORT_FORMATS
SUFFIXES = {"savedmodel": "", "tflite": ".tflite", "onnx": ".onnx"}
ONNX_OPSET = 17


class DeployableSRCNN(tf.Module):
    """The whole upscale (uint8 RGB in, uint8 RGB out) as one graph; see the module docstring.

    Args:
        model: a `srcnn.core.model.SRCNN` (its current weights are copied as constants).
        scale: the integer factor the weights were trained for.
    """

    def __init__(self, model, scale):
        super().__init__()
        self.scale = int(scale)
        # numpy, not tensors: traced into the graph as constants (tf2onnx takes captured
        # tensors for extra inputs)
        self._layers = InferenceLayers(model, lambda weights: weights.numpy())
        self._layers.last_bias = self._layers.last_bias.numpy()
        # MATLAB rgb2ycbcr and its inverse as 1x1 convolutions, RGB and YCbCr in [0, 255]
        self._to_ycbcr = (colour.YCBCR_MATRIX.T / 255.0)[None, None].astype(np.float32)
        self._ycbcr_offset = colour.YCBCR_OFFSET.astype(np.float32)
        self._to_rgb = (colour.RGB_MATRIX.T * 255.0)[None, None].astype(np.float32)

    @tf.function(input_signature=[tf.TensorSpec((1, None, None, 3), tf.uint8, name="rgb")])
    def __call__(self, rgb):
        """uint8 (1, H, W, 3) RGB -> {"sr": uint8 (1, scale*H, scale*W, 3)}."""
        ycbcr = tf.nn.conv2d(tf.cast(rgb, tf.float32), self._to_ycbcr, 1, "VALID") + self._ycbcr_offset
        # Y rounded to 8 bits as MATLAB rgb2ycbcr gives it for uint8 input; Cb, Cr not.
        ycbcr = tf.concat([tf.round(ycbcr[..., :1]), ycbcr[..., 1:]], axis=-1) / 255.0
        bicubic = resampling.enlarge_bicubic(ycbcr, self.scale)
        sr_y = tf.clip_by_value(restore_y(bicubic[..., :1], self._layers), 0.0, 1.0)
        sr_ycbcr = tf.concat([sr_y, bicubic[..., 1:]], axis=-1) * 255.0 - self._ycbcr_offset
        sr_rgb = tf.nn.conv2d(sr_ycbcr, self._to_rgb, 1, "VALID")
        sr = tf.cast(tf.clip_by_value(tf.round(sr_rgb), 0.0, 255.0), tf.uint8)
        return {"sr": sr}


def default_output(scale, model_format):
    """srcnn_x3.onnx, srcnn_x3.tflite, srcnn_x3_savedmodel (a folder)."""
    return f"srcnn_x{scale}" + (SUFFIXES[model_format] or "_savedmodel")


def save_savedmodel(module, path):
    """Writes the SavedModel folder (signature "serving_default": rgb -> sr)."""
    tf.saved_model.save(module, path, signatures={"serving_default": module.__call__.get_concrete_function()})


def tflite_bytes(module):
    """The module as a TFLite flatbuffer of builtin operations only (no TF select ops)."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions([module.__call__.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter.convert()


def onnx_bytes(module):
    """The module as a serialized ONNX model (tf2onnx), input "rgb", output "sr"."""
    import tf2onnx  # an export-only dependency (pip install srcnn[export])

    model_proto, _ = tf2onnx.convert.from_function(
        module.__call__, input_signature=[tf.TensorSpec((1, None, None, 3), tf.uint8, name="rgb")],
        opset=ONNX_OPSET, output_path=None)
    return model_proto.SerializeToString()


def export(module, model_format, path, overwrite=False, outputs=None):
    """Writes `module` in `model_format` ("savedmodel", "tflite" or "onnx") to `path`.

    A SavedModel is a folder; the others are one file. Written through `srcnn.core.outputs`:
    under a temporary name, renamed when complete; never over an input of the run (`outputs`
    holds them), and an existing `path` replaced only with `overwrite` and only if it is a
    model of that format.

    Raises:
        ValueError: unknown format.
        OutputExistsError: `path` exists (and not `overwrite`).
        OutputError: `path` is something else than such a model, or cannot be written.
        MissingDependency: onnx without tf2onnx.
    """
    if model_format not in FORMATS:
        raise ValueError(f"format {model_format!r} is not one of {', '.join(FORMATS)}")
    path = os.fspath(path)
    if model_format != "savedmodel" and path.endswith((os.sep, "/")):
        raise OutputError(f"{printable(path)}: names a folder; {KINDS[model_format].a_name} is one file "
                          f"(name it e.g. {printable(os.path.join(path, default_output(3, model_format)))})")
    path = path.rstrip(os.sep) or os.sep
    run = outputs or Outputs(overwrite=overwrite)
    kind = KINDS[model_format]
    run.check(path, kind)
    extension = os.path.splitext(path)[1].lower()
    if extension and extension != SUFFIXES[model_format] and (
            model_format != "savedmodel" or extension in set(SUFFIXES.values()) | set(image_files.SAVE_OPTIONS)):
        raise OutputError(f"{printable(path)}: {kind.a_name} named {extension} would pass for another kind of "
                          f"file; name it {SUFFIXES[model_format] or 'without that extension'}")
    if model_format == "onnx":
        try:
            import tf2onnx  # noqa: F401
        except ImportError:
            raise MissingDependency("ONNX export needs tf2onnx: pip install 'srcnn[export]' "
                                    "(or pip install tf2onnx)") from None
    try:
        data = None if model_format == "savedmodel" else (tflite_bytes if model_format == "tflite" else onnx_bytes)(module)
        with run.writing(path, kind) as temporary:
            if data is None:
                save_savedmodel(module, temporary)
            else:
                with open(temporary, "wb") as handle:
                    handle.write(data)
    except SRCNNError:
        raise
    except (OSError, tf.errors.OpError) as error:  # TensorFlow's file errors (a full disk) are OpErrors
        raise OutputError(f"{printable(path)}: cannot write the model ({tf_reason(error)})") from None
    return path
