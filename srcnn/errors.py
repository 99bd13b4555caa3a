"""The errors a user can cause, and how commands report them: one line, no traceback.

The library raises `SRCNNError`s whose message names the file or value and what is wrong
with it, in the library's words (no command-line flags): a program that imports srcnn
has no --checkpoint. The types say what kind of thing went wrong, so that callers can
tell them apart (a batch job skips existing outputs, a command maps each type to the
flag that fixes it):

    SRCNNError              anything a user can fix
      CheckpointError       no loadable weights at a path, or weights for another setting
      InputError            an image or video that cannot be read or used
        ImageTooLarge       an image over the pixel limit
      OutputExistsError     an output is already there (replacing it was not asked for)
      OutputError           an output that cannot be written (full disk, permissions)
      MissingDependency     a feature needs a package that is not installed

The scripts raise their own errors as `UserError` (another name of `SRCNNError`), with
messages that already say what to do in their flags.

Commands wrap their `main` in `exit_on_user_error`, which prints the message, plus the
command's hint for its type, as the last line and returns 1.
"""

import functools
import gc
import sys


class SRCNNError(Exception):
    """A problem the user can fix; the message names the file or value and the problem."""


class CheckpointError(SRCNNError):
    """Nothing loadable at a checkpoint path, or weights made for another setting."""


class InputError(SRCNNError, ValueError):
    """An image or video that cannot be read, or that this tool cannot use."""


class ImageTooLarge(InputError):
    """An image over the pixel limit (a decompression bomb, or just too big)."""


class OutputExistsError(SRCNNError, FileExistsError):
    """An output file is already there, and replacing it was not asked for."""


class OutputError(SRCNNError):
    """An output that cannot be written (no space, no permission, a name too long)."""


class MissingDependency(SRCNNError, ImportError):
    """A feature needs a package that is not installed; the message says what to pip install."""


# A command's own error: the message names the file or value and what to do in its flags.
UserError = SRCNNError


def with_hint(error, hints=None):
    """The one line for `error`: its message, then the hint `hints` gives for its type (if any)."""
    message = str(error)
    for kind, hint in (hints or {}).items():
        if isinstance(error, kind):
            return f"{message}; {hint}"
    return message


def exit_on_user_error(main=None, *, hints=None):
    """Decorates a script's `main` so an `SRCNNError` prints one line and returns exit code 1.

    Args:
        hints: {error type: what to do, in the command's words}, e.g.
            {CheckpointError: "pass another --checkpoint"}; the first that matches is added.

    Usable bare (@exit_on_user_error) or with hints (@exit_on_user_error(hints=...)).
    """
    if main is None:
        return functools.partial(exit_on_user_error, hints=hints)

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except SRCNNError as error:
            message = with_hint(error, hints)
        # The error's traceback holds the failed call's objects; TensorFlow logs warnings when
        # some are deleted (a checkpoint restore that did not finish). Let that happen now, so
        # the error is the last line, not buried under them at exit.
        gc.collect()
        sys.stdout.flush()
        print(f"error: {message}", file=sys.stderr)
        return 1

    return wrapper
