"""Training: config, patches and HDF5, batches, the loop and its parts, evaluation and the report."""
