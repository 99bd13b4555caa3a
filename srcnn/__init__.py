"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016) on TensorFlow 2.

Modules, one job each:
    errors       UserError, the one-line failures a user can cause
    files        atomic writes (temporary file, then rename)
    flags        argparse types: numeric flags checked when parsed
    imaging      colour conversion (MATLAB rgb2ycbcr), modcrop, bicubic degradation, image files
    data         training patches, test images and their HDF5 layout
    model        the 9-1-5 network with VALID / replicate / zero padding
    metrics      PSNR and SSIM on the Y channel with a border shave
    checkpoints  the checkpoint bundle (weights + the config that rebuilds the model)
    train        the training loop, checkpoints, TensorBoard summaries
    run_folders  a training's checkpoint and log folders: locked, owned, nothing in the way
    evaluate     test-set evaluation: sample PNGs, results table and CSV
    upscale      upscaling your own images: tiled inference, colour, alpha, bad input
"""

import os

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) would bury the scripts' output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
