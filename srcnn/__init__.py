"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016) on TensorFlow 2.

Subpackages, one concern each (their modules are listed in docs/development.md):
    core/       colour, resampling, image files, the network, metrics, checkpoints, precision,
                errors, the one write path (outputs) and argparse types: what every side shares
    training/   the config, patches and HDF5, batches, the loop and its parts (update, progress,
                checkpointing, summaries, distribution), the run folder, history, evaluation, report
    upscaling/  the Upscaler, engine choice, the two engines and their one tiler, files and
                videos to upscale, export, the Apache Beam batch
    commands/   the console scripts srcnn-upscale and srcnn-export, and the paper's studies
                (paper_studies.py: their runs, and docs/paper.md)

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
