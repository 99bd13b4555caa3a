"""TensorFlow imported once, without the start-up messages it prints on every run.

TF_CPP_MIN_LOG_LEVEL=2 hides TensorFlow's C++ INFO and WARNING lines, but not those
logged while its libraries load: they come before absl::InitializeLog(), which prints
them all to stderr whatever the level ("All log messages before absl::InitializeLog()
is called...", "oneDNN custom operations are on...", "Could not find cuda drivers...").
The CUDA probe's failure where there is no driver ("failed call to cuInit") comes
later, on the first look at the devices. So TensorFlow is imported and the devices
listed with stderr (the file descriptor, which C++ writes to) led
into a temporary file, and afterwards everything in it is written back to stderr except
the known start-up lines below: errors and warnings nobody expected still show.

Set TF_CPP_MIN_LOG_LEVEL to 0 or 1 to see every line.

`import srcnn` does not load TensorFlow (a command's --help answers at once); each module
that computes with it imports it from here, first:

    from srcnn.core.startup import tf
"""

import os
import sys
import tempfile

# Printed on every start; none tells the user anything they can act on.
STARTUP_NOISE = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",  # oneDNN is what makes bfloat16 fast here; keep it on
    "Could not find cuda drivers on your machine, GPU will not be used",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "rebuild TensorFlow with the appropriate compiler flags",
    "Attempting to register factory for plugin",
    "TF-TRT Warning: Could not find TensorRT",
)
# cuInit fails wherever there is no driver; noise only when TensorFlow itself said so above.
NO_DRIVER_CONSEQUENCE = "failed call to cuInit"


def without_startup_noise(text):
    """The lines of `text` (stderr during the import) that are not known start-up noise."""
    lines = text.splitlines(keepends=True)
    no_driver = any(STARTUP_NOISE[2] in line for line in lines)
    return "".join(line for line in lines
                   if not any(noise in line for noise in STARTUP_NOISE)
                   and not (no_driver and NO_DRIVER_CONSEQUENCE in line))


def import_tensorflow_quietly():
    """The tensorflow module, imported with its start-up noise filtered out of stderr (see the module docstring)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or os.environ["TF_CPP_MIN_LOG_LEVEL"] in ("0", "1"):
        import tensorflow  # already loaded, or the user asked for every line
        return tensorflow
    try:
        saved_stderr = os.dup(2)
    except OSError:  # no stderr to filter
        import tensorflow
        return tensorflow
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
            # The CUDA probe (and its cuInit failure where there is no driver) runs on the
            # first look at the devices; listing them is cheap and leaves them configurable.
            tensorflow.config.list_physical_devices("GPU")
        finally:
            sys.stderr.flush()
            os.dup2(saved_stderr, 2)
            os.close(saved_stderr)
            captured.seek(0)
            kept = without_startup_noise(captured.read().decode("utf-8", "replace"))
            if kept:
                os.write(2, kept.encode("utf-8"))
    return tensorflow


def __getattr__(name):
    # `from srcnn.core.startup import tf`: TensorFlow, imported quietly on that first use
    if name == "tf":
        return import_tensorflow_quietly()
    raise AttributeError(f"module 'srcnn.core.startup' has no attribute {name!r}")
