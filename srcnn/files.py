"""Writing files so that an interrupted run never leaves a half-written one that looks valid."""

import contextlib
import os


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path next to `path`; renamed to `path` only if the block completes.

    On any exception (or KeyboardInterrupt) the temporary file is removed and `path` is
    left as it was.
    """
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
