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


def why_not_a_folder(path, error):
    """Why making or using the folder `path` failed, for a one-line message.

    os.makedirs says "File exists" or "Not a directory" when a file stands where a folder
    should be; this names that file instead.
    """
    part = os.path.abspath(path)
    while not os.path.exists(part) and os.path.dirname(part) != part:
        part = os.path.dirname(part)
    if os.path.exists(part) and not os.path.isdir(part):
        return "a file of that name is in the way" if part == os.path.abspath(path) else f"{part} is a file"
    return error.strerror or str(error)
