"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016) on TensorFlow 2.

Modules, one job each:
    choices      the choices and defaults the library and the commands share (no TensorFlow)
    errors       the typed errors a user can cause, and the commands' one-line report of them
    files        folders checked for writing with a real write; atomic writes (temporary, then rename)
    flags        argparse types: numeric flags checked when parsed
    imaging      colour conversion (MATLAB rgb2ycbcr), modcrop, bicubic degradation, image files
    data         training patches, the 8 flips/rotations, test images and their HDF5 layout
    model        the 9-1-5 network with VALID / replicate / zero padding
    metrics      PSNR and SSIM on the Y channel, a border as wide as the scale left out
    checkpoints  the checkpoint bundle (weights + the config that rebuilds the model), recipe.json
    train        the training loop: run builder, train step, validation, checkpointer, summaries
    run_folders  a training's checkpoint and log folders: locked, owned, nothing in the way
    evaluate     test-set evaluation: sample PNGs, results table and CSV
    upscale      the upscale engine: an image array, tiled inference, colour, alpha
    composed     the float32 upscale on the small image's grid (conv1 composed with the bicubic)
    video        upscaling videos: frames streamed through ffmpeg, each as a still image, sound copied
    jobs         files and folders to upscale, and the names of the files they become
    report       sample/index.html: the test images side by side, crops, figures, training curve
    startup      TensorFlow imported without its start-up messages
    upscaler     the Python API and front door: `Upscaler` (arrays, PIL images, files, videos)
    export       self-contained SavedModel / TFLite / ONNX models of the whole upscale
    cli          the console scripts srcnn-upscale and srcnn-export

    from srcnn import Upscaler
    sr = Upscaler.pretrained(scale=3).upscale(pixels)
"""

__version__ = "1.0.0"

# Importing srcnn loads nothing heavy: TensorFlow comes with the first module that
# computes (srcnn.core.startup imports it quietly), so a command's --help answers at once.
_LAZY = {"Upscaler": "srcnn.upscaling.upscaler", "SRCNNError": "srcnn.core.errors"}


def __getattr__(name):
    # `from srcnn import Upscaler`, imported on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'srcnn' has no attribute {name!r}")
