"""Outputs: the one place that decides whether a path may be written, and writes it.

Every file or folder a command creates or replaces goes through an `Outputs` of its run:
- never a path that is an input of the run (compared by device and inode, so links and
  other spellings of the same file count), nor a link (writing through it reaches its target);
- never a folder where a file goes, nor the reverse;
- without overwrite, created exclusively (a rename that refuses to replace), so of two runs
  writing one name one wins and the other is told;
- with overwrite, replacing only an output of the same kind (`KINDS`: a model by its format,
  a failures CSV by its header, an image or video by being this run's declared output);
- written under a temporary name this module owns (`TEMPORARY_MARK`), removed on any exit,
  and by a later run (`sweep`) when the process that made it is gone.
"""

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from typing import Callable, Optional

from srcnn.core.errors import OutputError, OutputExistsError, os_reason, printable

TEMPORARY_MARK = ".srcnn-tmp-"  # in every temporary's name: ".NAME.srcnn-tmp-PID-TOKEN.EXT"
# Ours, and what another library makes of one (Beam's "beam-temp-.NAME.srcnn-tmp-PID-TOKEN.EXT-UUID").
_TEMPORARY = re.compile(r"\.srcnn-tmp-(?P<pid>\d+)-[0-9a-f]{8}(\.[^.]*)?(-[0-9a-f]+)?$")


def _starts_with(magic, offset=0):
    def recognise(path):
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                return handle.read(len(magic)) == magic
        except OSError:
            return False
    return recognise


def _onnx_model(path):
    # A ModelProto opens with field 1 (ir_version, varint) and names its opset domain early.
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError:
        return False
    return head[:1] == b"\x08" and (b"ai.onnx" in head or b"onnx" in head)


# What a SavedModel folder holds: one that holds anything else is not replaced.
SAVEDMODEL_ENTRIES = {"saved_model.pb", "variables", "assets", "fingerprint.pb"}


def _saved_model(path):
    try:
        entries = set(os.listdir(path))
    except OSError:
        return False
    return "saved_model.pb" in entries and not entries - SAVEDMODEL_ENTRIES


def _first_line(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline().rstrip("\r\n")
    except OSError:
        return None


def _first_line_is(header):
    return lambda path: _first_line(path) == header


def first_line_starts(text):
    """Recognises a text file by the start of its first line."""
    return lambda path: (_first_line(path) or "").startswith(text)


def text_matching(pattern, limit=64):
    """Recognises a small text file whose content (up to `limit` characters) matches `pattern` whole."""
    def recognise(path):
        try:
            with open(path, encoding="ascii", errors="replace") as handle:
                return bool(re.fullmatch(pattern, handle.read(limit)))
        except OSError:
            return False
    return recognise


def folder_of_files(names=None):
    """Recognises a folder that holds plain files only (no link, no folder), each named as the
    regular expression `names` says, if given (what another program's writer leaves, e.g. Beam's)."""
    def recognise(path):
        try:
            return all(entry.is_file(follow_symlinks=False) and (names is None or re.fullmatch(names, entry.name))
                       for entry in os.scandir(path))
        except OSError:
            return False
    return recognise


@dataclass(frozen=True)
class OutputKind:
    """A kind of output: a file or a folder, and how an existing one is recognised as one.

    `recognise` None: only a declared output of the run itself may be replaced (images, videos).
    """
    name: str
    folder: bool = False
    recognise: Optional[Callable[[str], bool]] = None

    @property
    def a_name(self):
        """The name with its article, for messages ("an ONNX model", "a TFLite model")."""
        return ("an " if self.name[0] in "AEIOU" or self.name.startswith("HDF") else "a ") + self.name


ANY_FILE = OutputKind("file", recognise=os.path.isfile)  # a file a command rewrites on each run

KINDS = {
    "image": OutputKind("image"),
    "html": OutputKind("HTML page", recognise=_starts_with(b"<!DOCTYPE html>")),
    "video": OutputKind("video"),
    "onnx": OutputKind("ONNX model", recognise=_onnx_model),
    "tflite": OutputKind("TFLite model", recognise=_starts_with(b"TFL3", 4)),
    "savedmodel": OutputKind("SavedModel", folder=True, recognise=_saved_model),
    "hdf5": OutputKind("HDF5 file", recognise=_starts_with(b"\x89HDF\r\n\x1a\n")),
}


def csv_kind(name, header):
    """The kind of a CSV this project writes (`name`, e.g. "failures CSV"), recognised by its header line."""
    return OutputKind(name, recognise=_first_line_is(header))


@contextlib.contextmanager
def rewriting(path, kind=ANY_FILE, inputs=()):
    """Yields a temporary for a file a command rewrites on each run (step 1's HDF5, history.csv,
    results.csv, recipe.json, index.html): `Outputs.writing` with overwrite, so never through a
    link, over an input or a folder, nor over a file that is not of `kind`."""
    with Outputs(inputs=inputs, overwrite=True).writing(path, kind) as temporary:
        yield temporary


def identity(path):
    """(device, inode) of what `path` names, links followed; None if nothing is there."""
    try:
        status = os.stat(path)
    except (OSError, ValueError):
        return None
    return status.st_dev, status.st_ino


def temporary_name(path):
    """A temporary path beside `path`, in this module's own naming, with `path`'s extension."""
    folder, name = os.path.split(path)
    extension = os.path.splitext(name)[1]
    return os.path.join(folder, f".{name}{TEMPORARY_MARK}{os.getpid()}-{secrets.token_hex(4)}{extension}")


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def sweep(folder):
    """Removes the temporaries in `folder` that a killed run of this project left; returns them."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TEMPORARY.search(name)
        if match and int(match["pid"]) != os.getpid() and not _process_alive(int(match["pid"])):
            _remove(os.path.join(folder, name))
            removed.append(name)
    return removed


def _check_kind(path, kind, declared):
    """Raises OutputError unless what is at `path` (there, not a link) is an output of `kind`."""
    if os.path.isdir(path) != kind.folder:
        there, wanted = ("a folder", "file") if os.path.isdir(path) else ("a file", "folder")
        raise OutputError(f"{printable(path)}: {there} is there, where the {kind.name} {wanted} goes; it is kept")
    recognised = (kind.recognise(path) if kind.recognise else declared) or (
        not kind.folder and os.path.getsize(path) == 0)  # an empty file holds nothing to lose
    if not recognised:
        raise OutputError(f"{printable(path)}: is there and is not {kind.a_name}; it is kept")


def remove_outputs(found):
    """Deletes what a command itself wrote and now drops (a fresh start, a stopped run's leftovers).

    Checks every (path, kind) in `found` before deleting any, so a refusal deletes nothing.
    A path that is not there is skipped.

    Returns:
        the paths deleted.

    Raises:
        OutputError: a path is a link, a folder where `kind` is a file (or the reverse), or
            is not recognised as `kind` (of a kind without `recognise`, only an empty file is
            deleted).
    """
    there = []
    for path, kind in found:
        if not os.path.lexists(path):
            continue
        if os.path.islink(path):
            raise OutputError(f"{printable(path)}: is a link where {kind.a_name} of this project goes; "
                              "it is kept (move it away)")
        _check_kind(path, kind, declared=False)
        there.append(path)
    for path in there:
        try:
            _remove(path)
        except OSError as error:
            raise OutputError(f"{printable(path)}: cannot delete it ({os_reason(error)})") from None
    return there


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


_RENAME_NOREPLACE = 1
_AT_FDCWD = -100
try:
    _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
except (OSError, AttributeError):
    _renameat2 = None


def rename_without_replacing(source, destination):
    """Renames `source` to `destination`, atomically refusing (FileExistsError) if it exists.

    Linux's renameat2(RENAME_NOREPLACE) where the file system has it; elsewhere a hard link
    for files (also atomic), and for folders a check just before the rename.
    """
    if _renameat2 is not None:
        if _renameat2(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(destination), _RENAME_NOREPLACE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(code, os.strerror(code), destination)
    if os.path.isdir(source):
        if os.path.lexists(destination):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), destination)
        os.rename(source, destination)
        return
    os.link(source, destination)
    os.remove(source)


class Outputs:
    """What one run may write.

    Args:
        inputs: the paths the run reads (files or folders); none of them is ever written.
        overwrite: whether an existing output of the same kind may be replaced.
    """

    def __init__(self, inputs=(), overwrite=False):
        self.overwrite = overwrite
        self._inputs = set()
        self.protect(*inputs)

    def protect(self, *paths):
        """Adds `paths` to the run's inputs."""
        self._inputs |= {found for found in map(identity, paths) if found is not None}

    def is_input(self, path):
        found = identity(path)
        return found is not None and found in self._inputs

    def check(self, path, kind, declared=True):
        """Raises unless `path` may be written as `kind`; returns whether something is there.

        Args:
            declared: `path` is this run's own declared output (images and videos are
                replaceable only then).

        Raises:
            OutputError: an input, a link, a folder for a file or the reverse, or something
                that is not an output of that kind.
            OutputExistsError: something of that kind is there and overwrite is off.
        """
        name = printable(path)
        if os.path.islink(path):
            raise OutputError(f"{name}: is a link; name the output itself, not a link to it")
        if self.is_input(path):
            raise OutputError(f"{name}: is an input of this run; it is kept")
        if not os.path.lexists(path):
            self._check_parents(path)
            return False
        _check_kind(path, kind, declared)
        if not self.overwrite:
            raise OutputExistsError(f"{name}: already exists")
        return True

    def _check_parents(self, path, name=None):
        part = os.path.dirname(os.path.abspath(path))
        while part and not os.path.lexists(part):
            part = os.path.dirname(part) if os.path.dirname(part) != part else ""
        if part and not os.path.isdir(part):
            raise OutputError(f"{printable(name or path)}: {printable(part)} is a file, not a folder")

    def make_folder(self, path):
        """Creates the folder `path` (and its parents) for outputs; refuses a file in the way."""
        if os.path.isdir(path):
            return
        self._check_parents(os.path.join(path, "x"), name=path)  # the folder itself may be the file in the way
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as error:
            raise OutputError(f"{printable(path)}: cannot create the folder ({os_reason(error)})") from None

    @contextlib.contextmanager
    def writing(self, path, kind, declared=True):
        """Yields a temporary path to write `path`'s content to; `path` gets it when the block ends.

        On any exception, KeyboardInterrupt and SIGTERM's included, the temporary is removed and
        `path` is as it was.
        """
        with self.writing_all([(path, kind)], declared) as (temporary,):
            yield temporary

    @contextlib.contextmanager
    def writing_all(self, outputs, declared=True, failed=None):
        """`writing` for several (path, kind): they appear together or not at all.

        Args:
            failed: a list that gets the path being written when an exception leaves the block.
        """
        for path, kind in outputs:
            self.check(path, kind, declared)
        for path, _ in outputs:
            self.make_folder(os.path.dirname(path) or os.curdir)
            sweep(os.path.dirname(path) or os.curdir)
        temporaries = [temporary_name(path) for path, _ in outputs]
        placed = []
        try:
            for temporary, (_, kind) in zip(temporaries, outputs):
                if not kind.folder:  # claimed now, so no one else's file can be there
                    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            yield temporaries
            for temporary, (path, kind) in zip(temporaries, outputs):
                if failed is not None:
                    failed[:] = [path]
                self._place(temporary, path, kind, declared)
                placed.append(path)
        except BaseException:
            for path in placed:
                _remove(path)
            raise
        finally:
            for temporary in temporaries:
                if os.path.lexists(temporary):
                    _remove(temporary)

    def _place(self, temporary, path, kind, declared):
        if not self.overwrite or not os.path.lexists(path):
            try:
                rename_without_replacing(temporary, path)
                return
            except FileExistsError:
                if not self.overwrite:
                    raise OutputExistsError(f"{printable(path)}: appeared while this run wrote it "
                                            "(another run?); kept") from None
        self.check(path, kind, declared)  # again, just before replacing
        if kind.folder:
            old = temporary_name(path)
            os.rename(path, old)
            try:
                os.rename(temporary, path)
            except BaseException:
                os.rename(old, path)
                raise
            _remove(old)
        else:
            os.replace(temporary, path)
