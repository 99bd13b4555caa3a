"""Folders checked for writing once, up front. (Files themselves are
written through `srcnn.core.outputs`, the one write path.)"""

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
