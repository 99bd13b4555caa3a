"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016) on TensorFlow 2.

Modules, one job each:
    errors       UserError, the one-line failures a user can cause
    files        folders checked for writing with a real write; atomic writes (temporary, then rename)
    imaging      colour conversion (MATLAB rgb2ycbcr), modcrop, bicubic degradation, image files
    data         training patches, the 8 flips/rotations, test images and their HDF5 layout
    model        the 9-1-5 network with VALID / replicate / zero padding
    metrics      PSNR and SSIM on the Y channel, a border as wide as the scale left out
    checkpoints  the checkpoint bundle (weights + the config that rebuilds the model), recipe.json
    train        the training loop: run builder, train step, validation, checkpointer, summaries
    evaluate     test-set evaluation: sample PNGs, results table and CSV
    upscale      upscaling your own images: tiled inference, colour, alpha, bad input
"""

import os

# TensorFlow's C++ start-up chatter (oneDNN, CPU features) would bury the scripts' output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
