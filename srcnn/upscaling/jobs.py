"""Files to upscale and the files they become: what `srcnn-upscale`, `step3_test.py --input`
and batch jobs write, and the one place their names are made.

    naming = Naming(scale=3)                                    # photo.jpg -> photo_srcnn_x3.png
    jobs, clashes = plan_jobs(["photos/", "clip.mp4"], "output", naming)
    for job in jobs:
        if not job.done():
            run_job(upscaler, job)

Names: `<stem><suffix>.<ext>` in the output folder, in the same subfolder as the file below
a folder input. `suffix` defaults to `_srcnn_x{scale}`, `ext` to png (lossless); "same"
keeps the input's own extension where images of it can be written, else png. With
`bicubic`, the plain bicubic enlargement is written too, as `<stem>_bicubic_x{scale}.<ext>`,
for comparison. A video becomes `<stem><suffix>.mp4` (H.264), never a bicubic one.

Outputs are never read back as inputs: an output folder inside an input folder is left
out of it, and where it is the input folder, files named like outputs are left out.
"""

import functools
import glob
import hashlib
import os
import re
import string
from dataclasses import dataclass

from srcnn.upscaling import video
from srcnn.core import image_files
from srcnn.core.choices import DEFAULT_CRF, DEFAULT_MAX_PIXELS, DEFAULT_OUTPUT_EXTENSION
from srcnn.core.errors import InputError, OutputExistsError
from srcnn.core.files import ensure_writable_folder
from srcnn.core.outputs import identity

DEFAULT_SUFFIX = "_srcnn_x{scale}"
BICUBIC_SUFFIX = "_bicubic_x{scale}"


@dataclass(frozen=True)
class Naming:
    """How outputs are named (see the module docstring)."""

    scale: int
    suffix: str = DEFAULT_SUFFIX
    extension: str = DEFAULT_OUTPUT_EXTENSION  # "png", "jpg", "webp", "tif" or "same"
    bicubic: bool = False

    def __post_init__(self):
        try:  # only a bare {scale}: no index, attribute, conversion or format (a width could be huge)
            fields = [(name, spec, conversion) for _, name, spec, conversion in string.Formatter().parse(self.suffix)
                      if name is not None]
        except ValueError:
            fields = [None]
        if any(field != ("scale", "", None) for field in fields):
            raise ValueError(f"suffix {self.suffix!r}: only {{scale}} may stand in braces (write {{{{ or }}}} for "
                             "a brace)")
        if self.bicubic and self.suffix.format(scale=self.scale) == BICUBIC_SUFFIX.format(scale=self.scale):
            raise ValueError(f"suffix {self.suffix!r} is the bicubic image's; with it, both outputs would have "
                             "one name")
        if os.sep in self.suffix or (os.altsep and os.altsep in self.suffix):
            raise ValueError(f"suffix {self.suffix!r} holds a path separator; it is added to file names")
        if self.extension != "same" and "." + self.extension not in image_files.SAVE_OPTIONS:
            raise ValueError(f"extension {self.extension!r} is not one of "
                             f"{', '.join(ext[1:] for ext in image_files.SAVE_OPTIONS)} or 'same'")

    def image_extension(self, source):
        """The extension (with its dot) of the upscaled image of `source`."""
        if self.extension != "same":
            return "." + self.extension
        own = os.path.splitext(source)[1].lower()
        return own if own in image_files.SAVE_OPTIONS else "." + DEFAULT_OUTPUT_EXTENSION

    def outputs(self, source, folder):
        """(sr_path, bicubic_path or None) of `source`, written in `folder`."""
        stem = os.path.join(folder, os.path.splitext(os.path.basename(source))[0])
        if video.is_video(source):
            return os.path.normpath(stem + self.suffix.format(scale=self.scale) + ".mp4"), None
        extension = self.image_extension(source)
        sr = os.path.normpath(stem + self.suffix.format(scale=self.scale) + extension)
        bicubic = os.path.normpath(stem + BICUBIC_SUFFIX.format(scale=self.scale) + extension)
        return sr, bicubic if self.bicubic else None

    def is_output_name(self, name):
        """Whether a file name looks like an output of this naming, at any scale."""
        stem, extension = os.path.splitext(name)
        if extension.lower() not in tuple(image_files.SAVE_OPTIONS) + (".mp4",):
            return False
        suffixes = (self.suffix, BICUBIC_SUFFIX)
        return any(re.search(re.escape(suffix).replace(re.escape("{scale}"), r"\d+") + "$", stem)
                   for suffix in suffixes if suffix)


@functools.lru_cache(maxsize=4096)
def _file_digest(path, size, modified):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digest(path):
    """SHA-256 of a file's bytes (cached while its size and time stay the same)."""
    status = os.stat(path)
    return _file_digest(os.path.abspath(path), status.st_size, status.st_mtime_ns)


@dataclass(frozen=True)
class Provenance:
    """What an output is made from besides its source: the weights' bytes and the settings.

    Each image output carries `note(source, role)` in its metadata, so a rerun skips it only
    if it was made from the same source bytes, weights and settings (not just named alike).
    """

    weights: str  # SHA-256 of the checkpoint's files
    settings: str

    @classmethod
    def of(cls, prefix, scale, padding, precision):
        digest = hashlib.sha256()
        for path in sorted(glob.glob(glob.escape(prefix) + ".*")):
            digest.update(file_digest(path).encode())
        return cls(digest.hexdigest(), f"x{scale} {padding} {precision}")

    def note(self, source, role):
        """The text an output of `source` ("sr" or "bicubic") carries."""
        made = "bicubic" if role == "bicubic" else f"{role} {self.weights} {self.settings}"
        return "srcnn " + hashlib.sha256(f"{made} {file_digest(source)}".encode()).hexdigest()[:32]


@dataclass
class Job:
    """One image or video to upscale and the files it becomes (bicubic_path: None if not wanted)."""

    source: str
    sr_path: str
    bicubic_path: str = None

    @property
    def outputs(self):
        return [path for path in (self.sr_path, self.bicubic_path) if path]

    def existing(self):
        """The outputs already there (a link counts, even a broken one: it is not ours to replace)."""
        return [path for path in self.outputs if os.path.lexists(path)]

    def role(self, path):
        return "bicubic" if path == self.bicubic_path else "sr"

    def made_by(self, path, provenance):
        """Whether the output `path` was made from this source with `provenance` (its note says so)."""
        note = video.read_note(path) if video.is_video(self.source) else image_files.read_note(path)
        return note == provenance.note(self.source, self.role(path))

    def done(self, provenance=None):
        """Whether every output is already there, made from this source with `provenance` if given (a rerun
        skips the job)."""
        if len(self.existing()) < len(self.outputs):
            return False
        return provenance is None or all(self.made_by(path, provenance) for path in self.outputs)


def _sources(input_path, output_dir, naming):
    """(file, its folder relative to the input) for one input: a file, or a folder's images and videos."""
    if os.path.isdir(input_path):
        same_folder = os.path.realpath(output_dir) == os.path.realpath(input_path)
        exclude = () if same_folder else (output_dir,)
        sources = [source for source in image_files.list_images(input_path, exclude=exclude)
                   + video.list_videos(input_path, exclude=exclude)
                   if not (same_folder and naming.is_output_name(os.path.basename(source)))]
        if not sources:
            raise InputError(f"{input_path}: no images or videos in this folder or its subfolders (besides earlier "
                             "outputs)")
        return [(source, os.path.relpath(os.path.dirname(source), input_path)) for source in sources]
    if os.path.exists(input_path):
        return [(input_path, os.curdir)]
    raise InputError(f"{input_path}: no such file or folder")


def plan_jobs(inputs, output_dir, naming):
    """The images and videos of `inputs` (files and folders) and the outputs they become.

    Returns:
        (jobs, clashes): `Job`s, and one message per file whose output another file of
        the list already takes (photo.jpg and photo.png), or that would replace its input.

    Raises:
        InputError: an input is missing, or a folder without images.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    sources = [found for input_path in inputs for found in _sources(os.fspath(input_path), output_dir, naming)]
    by_identity = {identity(source): source for source, _ in sources}  # links and other spellings too
    jobs, clashes, taken = [], [], {}
    for source, folder in sources:
        job = Job(source, *naming.outputs(source, os.path.join(output_dir, folder)))
        replaced = [by_identity[found] for found in map(identity, job.outputs) if found and found in by_identity]
        if replaced:
            what = "it" if replaced[0] == source else f"the input {replaced[0]}"
            clashes.append(f"{source}: its output would replace {what}; pass another suffix or output folder")
            continue
        other = next((taken[path] for path in job.outputs if path in taken), None)
        if other:
            clashes.append(f"{source}: its output {job.sr_path} is also {other}'s; "
                           "rename one of them or upscale them separately")
            continue
        taken.update((path, source) for path in job.outputs)
        jobs.append(job)
    return jobs, clashes


def prepare_output(output_dir):
    """Creates the output folder and checks that it can be written.

    Raises:
        OutputError: it cannot be created or written.
    """
    ensure_writable_folder(output_dir, "output")


def run_job(upscaler, job, overwrite=False, crf=DEFAULT_CRF, max_pixels=DEFAULT_MAX_PIXELS, progress=False,
            outputs=None, provenance=None):
    """Upscales one job with an `srcnn.Upscaler`; returns the line that reports it.

    `outputs`: the run's `srcnn.core.outputs.Outputs`, which knows all its inputs.
    `provenance`: what the outputs are made from (`Provenance`); an output already there is kept
    only if it was made the same way, and is otherwise refused (replaced with `overwrite`).

    Without `overwrite`, outputs that are already there are kept and only the others
    written (e.g. the bicubic image asked for on a rerun).

    Raises:
        OutputExistsError: every output exists (and not `overwrite`).
        SRCNNError: the input cannot be read, or an output cannot be written.
    """
    kept = [] if overwrite else job.existing()
    other = [path for path in kept if provenance is not None and not job.made_by(path, provenance)]
    if other:
        raise OutputExistsError(f"{other[0]}: already exists, and was not made from {job.source} with these "
                                "weights and settings")
    if len(kept) == len(job.outputs):
        raise OutputExistsError(f"{kept[0]}: already exists")
    if video.is_video(job.source):
        result = upscaler.upscale_video(job.source, job.sr_path, crf, overwrite, progress=progress, outputs=outputs,
                                        provenance=provenance)
        return f"{job.source} -> {job.sr_path} ({result.summary()})"
    written = [None if path in kept else path for path in (job.sr_path, job.bicubic_path)]
    upscaler.upscale_file(job.source, *written, overwrite=overwrite, max_pixels=max_pixels, progress=progress,
                          outputs=outputs, provenance=provenance)
    return (f"{job.source} -> " + ", ".join(path for path in written if path)
            + "".join(f" ({path} already there, kept)" for path in kept))
