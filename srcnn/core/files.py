"""Writing files: folders checked for writing once, up front, and writes that an interrupted
run never leaves half-done in a form that looks valid."""

import contextlib
import os
import tempfile

from srcnn.core.errors import OutputError, os_reason


def ensure_writable_folder(path, what):
    """Creates the folder `path` if needed and checks that files can be written in it.

    The check writes (and removes) a temporary file: `os.access` says yes to root even on
    a read-only mount or folder.

    Args:
        path: the folder.
        what: what it holds, for the message ("checkpoint", "output").

    Raises:
        OutputError: it cannot be created or written.
    """
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{path}: cannot create the {what} folder ({why_not_a_folder(path, error)})") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise OutputError(f"{path}: the {what} folder is not writable ({os_reason(error)})") from None


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path next to `path`; renamed to `path` only if the block completes.

    On any exception (or KeyboardInterrupt) the temporary file is removed and `path` is
    left as it was.
    """
    with atomic_paths([path]) as (temporary,):
        yield temporary


@contextlib.contextmanager
def atomic_paths(paths, failed=None):
    """`atomic_path` for several files: yields their temporary paths, all renamed once the
    block completes, and all removed on any exception. Should a rename fail, those made
    before it are removed too: the files appear together or not at all.

    Args:
        failed: a list that gets the path being written or renamed when an exception
            leaves the block (for messages that name the right file).
    """
    temporaries = [f"{path}.tmp-{os.getpid()}" for path in paths]
    renamed = []
    try:
        yield temporaries
        for path, temporary in zip(paths, temporaries):
            if failed is not None:
                failed[:] = [path]
            os.replace(temporary, path)
            renamed.append(path)
    except BaseException:
        for path in renamed:
            os.remove(path)
        raise
    finally:
        for temporary in temporaries:
            if os.path.exists(temporary):
                os.remove(temporary)


def same_file(path, other):
    """Whether two paths name one file (the same path, or links to it)."""
    if os.path.realpath(path) == os.path.realpath(other):
        return True
    try:
        return os.path.samefile(path, other)
    except OSError:  # one of them is not there
        return False


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
    return os_reason(error)
