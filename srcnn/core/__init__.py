"""The core: colour, resampling, image files, the network, metrics, checkpoints, errors, atomic files."""
