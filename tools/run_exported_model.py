"""Runs a model written by `srcnn-export` with its own runtime only, as a consumer would.

    python tools/run_exported_model.py srcnn_x3.onnx photo.png photo_x3.png   # an image (needs Pillow)
    python tools/run_exported_model.py srcnn_x3.onnx inputs.npz outputs.npz
    python tools/run_exported_model.py srcnn_x3.tflite inputs.npz outputs.npz --repeat 3

The format comes from the path: a folder is a SavedModel (TensorFlow), `.tflite` runs under
ai-edge-litert and `.onnx` under onnxruntime. This file imports numpy and that one runtime,
nothing from this project: ONNX and TFLite run without TensorFlow, and the SavedModel without
the `srcnn` package (both are blocked from importing here, so a model that needed them fails).

`inputs.npz` holds uint8 (H, W, 3) RGB arrays; `outputs.npz` gets the upscaled uint8 arrays
under the same names, plus `names` (their order) and `seconds` (per image, the fastest of
`--repeat` runs, leaving out the first, which plans the shape, when `--repeat` > 1). Any other
input is read as an image with Pillow (converted to RGB) and the result written as an image.
"""

import argparse
import os
import sys
import time

# What a consumer of each format does not have: importing any of these fails here.
BLOCKED = {"savedmodel": ("srcnn",), "tflite": ("srcnn", "tensorflow", "keras"),
           "onnx": ("srcnn", "tensorflow", "keras")}


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number above 0")
    return value


def model_format(path):
    if not os.path.exists(path):
        raise SystemExit(f"{path}: no such file or folder; export one with srcnn-export (pip install . first)")
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            raise SystemExit(f"{path}: a folder without saved_model.pb, not a SavedModel")
        return "savedmodel"
    if path.endswith(".tflite"):
        return "tflite"
    if path.endswith(".onnx"):
        return "onnx"
    raise SystemExit(f"{path}: not a SavedModel folder, .tflite or .onnx file")


def block_imports(names):
    """Makes `import name` raise ImportError for each name (Python's documented sys.modules rule)."""
    for name in names:
        sys.modules[name] = None


def savedmodel_runner(path):
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    return lambda rgb: serve(rgb=tf.constant(rgb))["sr"].numpy()


def tflite_runner(path, threads):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    source, = interpreter.get_input_details()
    shape = [None]

    def run(rgb):
        if shape[0] != rgb.shape:  # any H, W: the dynamic input is resized, then planned again
            interpreter.resize_tensor_input(source["index"], rgb.shape, strict=False)
            interpreter.allocate_tensors()
            shape[0] = rgb.shape
        interpreter.set_tensor(source["index"], rgb)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    return run


def onnx_runner(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    input_name, output_name = session.get_inputs()[0].name, session.get_outputs()[0].name
    return lambda rgb: session.run([output_name], {input_name: rgb})[0]


def read_inputs(path, np):
    """{name: uint8 (H, W, 3)} from an .npz, else from an image file read with Pillow."""
    if path.lower().endswith(".npz"):
        try:
            with np.load(path) as inputs:
                images = {name: inputs[name] for name in inputs.files}
        except (OSError, ValueError) as error:
            raise SystemExit(f"{path}: not a readable .npz ({error})") from None
        if not images:
            raise SystemExit(f"{path}: holds no arrays; put uint8 (H, W, 3) RGB images in it")
        return images
    try:
        from PIL import Image
    except ImportError:
        raise SystemExit(f"{path}: reading images needs Pillow (pip install pillow), or pass an .npz") from None
    try:
        with Image.open(path) as image:
            return {"image": np.asarray(image.convert("RGB"))}
    except Image.DecompressionBombError as error:
        raise SystemExit(f"{path}: refused as a decompression bomb ({error})") from None
    except (OSError, ValueError) as error:
        raise SystemExit(f"{path}: not an image Pillow can read ({error})") from None


def write_image(path, rgb):
    from PIL import Image

    try:
        Image.fromarray(rgb).save(path)
    except (OSError, ValueError, KeyError) as error:
        raise SystemExit(f"{path}: cannot write the image ({error}); name it .png, .jpg, .webp or .tif") from None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="SavedModel folder, .tflite or .onnx file")
    parser.add_argument("inputs", help=".npz of uint8 (H, W, 3) RGB arrays, or an image file")
    parser.add_argument("outputs", help=".npz to write the upscaled arrays to, or an image file")
    parser.add_argument("--repeat", type=positive_int, default=1, help="runs per image; the fastest is reported")
    parser.add_argument("--threads", type=positive_int, default=None, help="runtime threads (default: the runtime's)")
    args = parser.parse_args(argv)
    kind = model_format(args.model)
    if not os.path.isfile(args.inputs):
        raise SystemExit(f"{args.inputs}: no such file; pass an image or an .npz of uint8 (H, W, 3) RGB arrays")
    written = args.outputs if not args.inputs.lower().endswith(".npz") or args.outputs.endswith(".npz") \
        else args.outputs + ".npz"  # as numpy names it
    for read in (args.inputs, args.model):
        if os.path.exists(written) and os.path.samefile(written, read):
            raise SystemExit(f"{args.outputs}: is {read}, which this run reads; name another output")
    block_imports(BLOCKED[kind])
    import numpy as np

    images = read_inputs(args.inputs, np)

    if kind == "savedmodel":
        run = savedmodel_runner(args.model)
    elif kind == "tflite":
        run = tflite_runner(args.model, args.threads)
    else:
        run = onnx_runner(args.model, args.threads)
    results, seconds = {}, {}
    for name, pixels in images.items():
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise SystemExit(f"{args.inputs}: array {name!r} is {pixels.dtype} {pixels.shape}; "
                             "each must be uint8 (H, W, 3) RGB, one image without a batch axis")
        rgb = np.ascontiguousarray(pixels[None])
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            results[name] = run(rgb)[0]
            times.append(time.perf_counter() - start)
        seconds[name] = min(times[1:] or times)
    if args.inputs.lower().endswith(".npz"):
        np.savez(args.outputs, **results, seconds=np.array([seconds[name] for name in results]),
                 names=np.array(list(results)))
    else:
        write_image(args.outputs, results["image"])
    print(f"{kind}: {len(results)} images, {sum(seconds.values()):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
