"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016) on TensorFlow 2.

Modules, one job each:
    errors       UserError, the one-line failures a user can cause
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
    upscale      upscaling your own images: tiled inference, colour, alpha, bad input
    composed     the float32 upscale on the small image's grid (conv1 composed with the bicubic)
    video        upscaling videos: frames streamed through ffmpeg, each as a still image, sound copied
    report       sample/index.html: the test images side by side, crops, figures, training curve
    startup      TensorFlow imported without its start-up messages
    upscaler     the Python API: `Upscaler` (numpy or PIL in, the same out)
    export       self-contained SavedModel / TFLite / ONNX models of the whole upscale
    cli          the console scripts srcnn-upscale and srcnn-export

    from srcnn import Upscaler
    sr = Upscaler.pretrained(scale=3).upscale(pixels)
"""

from srcnn.startup import import_tensorflow_quietly

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probes) would bury the scripts' output;
# every script imports srcnn before tensorflow, so this is the one place it is silenced.
import_tensorflow_quietly()

__version__ = "1.0.0"


def __getattr__(name):
    # `from srcnn import Upscaler`, imported on first use: srcnn.upscaler imports the package
    if name == "Upscaler":
        from srcnn.upscaler import Upscaler

        return Upscaler
    raise AttributeError(f"module 'srcnn' has no attribute {name!r}")
