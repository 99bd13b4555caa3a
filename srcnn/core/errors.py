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
      DataFileError         a train.h5 / test.h5 that is missing, damaged or made otherwise
      SettingError          a setting's value that cannot be used (`.setting` names it)
        ResumeError         a setting that the run being continued fixes (`.recorded`)
        RunFolderError      a checkpoint or log folder that cannot be used

Commands wrap their `main` in `exit_on_user_error`, which prints the message, plus the
command's hint for its type, as the last line and returns 1.
"""

import contextlib
import errno
import functools
import gc
import signal
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


class DataFileError(SRCNNError):
    """A train.h5 or test.h5 that is missing, damaged, or made with other settings."""


class SettingError(SRCNNError):
    """A setting's value that cannot be used.

    Args:
        setting: its name (a `TrainSettings` field, or a script's own such as "train_dir"),
            so that a command can name the flag that sets it.
    """

    def __init__(self, message, setting):
        super().__init__(message)
        self.setting = setting


class ResumeError(SettingError):
    """A setting the run being continued fixes; `recorded` is the run's value."""

    def __init__(self, message, setting, recorded):
        super().__init__(message, setting)
        self.recorded = recorded


class RunFolderError(SettingError):
    """A checkpoint or log folder that cannot be used (`setting`: "checkpoint_dir" or "log_dir")."""



def with_hint(error, hints=None):
    """The one line for `error`: its message, then the hint `hints` gives for its type (if any).

    A hint may be a function of the error (e.g. naming the flag of its `.setting`); None adds nothing.
    """
    message = str(error)
    for kind, hint in (hints or {}).items():
        if isinstance(error, kind):
            hint = hint(error) if callable(hint) else hint
            return f"{message}; {hint}" if hint else message
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
            message = printable(with_hint(error, hints))  # names in it are data
        # The error's traceback holds the failed call's objects; TensorFlow logs warnings when
        # some are deleted (a checkpoint restore that did not finish). Let that happen now, so
        # the error is the last line, not buried under them at exit.
        gc.collect()
        sys.stdout.flush()
        print(f"error: {message}", file=sys.stderr)
        return 1

    return wrapper


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`, a batch scheduler's stop), raised where Ctrl-C raises KeyboardInterrupt,
    so that every `except KeyboardInterrupt` cleans up for both (see `exit_on_interrupt`)."""


EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM: what a shell reports


def exit_on_interrupt(advice):
    """Decorates a script's `main`: Ctrl-C and SIGTERM end it with one line and 130 or 143.

    SIGTERM raises `Terminated` (a KeyboardInterrupt) while `main` runs, so the `finally`
    blocks and the writes of `srcnn.core.outputs` leave nothing half-written.
    Wrap it around `exit_on_user_error`.

    Args:
        advice: what the user should know or do, ending the line "interrupted; <advice>",
            e.g. "nothing was written; rerun step1_pre.py". An interrupt raised with a
            message (training says what it saved) prints that message instead.
    """
    def decorate(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            def terminate(signum, frame):
                raise Terminated()

            try:
                previous = signal.signal(signal.SIGTERM, terminate)
            except ValueError:  # not the main thread: leave signals alone
                previous = None
            try:
                return main(argv)
            except KeyboardInterrupt as interrupt:
                sys.stdout.flush()
                what = "interrupted by SIGTERM" if isinstance(interrupt, Terminated) else "interrupted"
                print(f"{what}; {str(interrupt) or advice}", file=sys.stderr)
                return EXIT_TERMINATED if isinstance(interrupt, Terminated) else EXIT_INTERRUPTED
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)

        return wrapper

    return decorate


@contextlib.contextmanager
def interrupts_held():
    """Ctrl-C and SIGTERM that arrive inside the block take effect when it ends; a second one at once.

    Training holds them while a compiled chunk of steps runs and while a line is printed:
    raised in the middle of TensorFlow's Python side (a chunk being traced), an interrupt
    crashed the process at exit (SIGSEGV), and raised inside `print` it left a line cut
    short. A signal that would not raise here (ignored, or SIGTERM's default outside
    `exit_on_interrupt`) keeps its own handling, and outside the main thread nothing is held.
    """
    received, previous = [], {}

    def hold(signum, frame):
        if received:  # asked twice: stop now
            previous[signum](signum, frame)
        received.append(signum)

    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            if callable(signal.getsignal(signum)):
                previous[signum] = signal.signal(signum, hold)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        previous[received[0]](received[0], None)


def printable(name):
    """`name` (a file or image name, which is data) safe to print: control characters, and
    anything else a terminal would act on, written as Python escapes (repr's), no quotes:
    an escape sequence in a name prints as the text `\x1b[31m`, not as a colour change.
    """
    text = str(name)
    if text.isprintable():
        return text
    return "".join(character if character.isprintable() else repr(character)[1:-1] for character in text)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's CSV injection list


def csv_cell(text):
    """A name (data) as a CSV cell that no spreadsheet runs as a formula: one starting with
    = + - @ tab or CR gets a leading single quote (OWASP's rule)."""
    text = str(text)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def os_reason(error):
    """What an OSError means for the user, as a short phrase for a one-line message: the
    true cause from its errno (no space, no permission, a name too long, ...), not a guess."""
    reasons = {
        errno.ENOSPC: "no space left on the device; free some space",
        errno.EDQUOT: "disk quota exceeded; free some space",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        errno.EROFS: "read-only file system",
        errno.ENAMETOOLONG: "the file name is too long; use a shorter name",
        errno.ENOENT: "no such file or folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
        errno.EISDIR: "it is a folder",
        errno.EIO: "input/output error (a failing disk or network drive)",
    }
    code = getattr(error, "errno", None)
    if code in reasons:
        return reasons[code]
    text = getattr(error, "strerror", None) or str(error)
    return text.splitlines()[0] if text else type(error).__name__


def tf_reason(error):
    """`os_reason` for the OSErrors and file OpErrors of TensorFlow (which carry no errno)."""
    if isinstance(error, OSError):
        return os_reason(error)
    message = (getattr(error, "message", None) or str(error)).splitlines()[0]
    for code, text in ((errno.ENOSPC, "No space left"), (errno.EDQUOT, "quota exceeded"),
                       (errno.EACCES, "Permission denied"), (errno.EROFS, "Read-only file system"),
                       (errno.ENAMETOOLONG, "name too long")):
        if text.lower() in message.lower():
            return os_reason(OSError(code, text))
    return message
