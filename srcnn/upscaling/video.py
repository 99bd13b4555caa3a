"""Upscaling videos: frames streamed through ffmpeg, each upscaled exactly as a still image.

    srcnn-upscale clip.mp4 -s 2      # -> output/clip_srcnn_x2.mp4

Three processes run side by side, connected by pipes, so nothing but one frame at a time
is held in memory and no frame ever touches the disk:

    ffmpeg (decode to rgb24) -> upscale_frame (SRCNN, this process) -> ffmpeg (H.264 + audio)

- Frames: every frame of the first video stream, once, in order, with its rotation
  metadata applied (phone videos come out upright), written at the stream's frame rate
  (ffmpeg's `tbr`). A variable-frame-rate video (average rate != `tbr`) is written at
  that constant rate instead: frames the source shows longer are repeated, none are
  dropped, so it plays in step with its sound; the count then differs from the source's.
- Each decoded frame goes through `upscale_frame` (`srcnn.Upscaler` passes its still-image
  path), unchanged except that an odd output width or height loses its last column or
  row (4:2:0 H.264 needs even sides).
- Encoding: H.264 (libx264), yuv420p, `crf` (18 by default: visually lossless; lower is
  better and bigger), BT.709 tagged, `+faststart` MP4. Audio streams are copied unchanged
  into the same file in the same ffmpeg run; codecs MP4 cannot hold (e.g. PCM, Vorbis)
  are re-encoded to AAC, and the result says so.
- Safety: the MP4 goes through `srcnn.core.outputs` (a temporary renamed when all succeeded);
  on any error or Ctrl-C the children are killed and the temporary removed.
- ffmpeg is the binary `imageio-ffmpeg` installs with pip (no system ffmpeg needed).
"""

import os
import re
import subprocess
import threading
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from tqdm import tqdm

from srcnn.core import image_files
from srcnn.core.choices import DEFAULT_CRF
from srcnn.core.errors import InputError, MissingDependency, OutputError, SRCNNError, os_reason, printable
from srcnn.core.outputs import KINDS, Outputs
from srcnn.core.flags import check_crf
from srcnn.upscaling.video_encoder import audio_options, encoder_command

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".wmv", ".flv",
                    ".3gp")
DEFAULT_PRESET = "medium"
MP4_EXTENSIONS = (".mp4", ".m4v")  # the container written (-f mp4)
_STDERR_LINES = 50  # ffmpeg messages kept for error reports


def ffmpeg_path():
    """The ffmpeg binary that imageio-ffmpeg ships.

    Raises:
        MissingDependency: imageio-ffmpeg is not installed.
    """
    try:
        import imageio_ffmpeg
    except ImportError:
        raise MissingDependency("videos need ffmpeg: pip install imageio-ffmpeg (see requirements.txt)") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def _start_ffmpeg(command, **pipes):
    """subprocess.Popen of an ffmpeg command line.

    Raises:
        MissingDependency: the ffmpeg binary cannot be started (damaged or not executable).
    """
    try:
        return subprocess.Popen(command, **pipes)
    except OSError as error:
        raise MissingDependency(f"{command[0]}: ffmpeg cannot start ({os_reason(error)}); "
                        "reinstall it: pip install --force-reinstall imageio-ffmpeg") from None


def is_video(path):
    """Whether `path` is named like a video file (by its extension)."""
    return path.lower().endswith(VIDEO_EXTENSIONS)


def list_videos(directory, exclude=()):
    """Sorted paths of the video files in `directory` and its subfolders; see `image_files.list_files`."""
    return image_files.list_files(directory, is_video, exclude=exclude)


def output_size(height, width, scale):
    """(height, width) of the encoded frames: `scale` times, each side cut down to even."""
    return height * scale // 2 * 2, width * scale // 2 * 2


@dataclass
class VideoInfo:
    """What the upscaler needs to know of a video file (see `probe`).

    width, height: of the decoded frames, after rotation metadata is applied.
    frame_rate: the constant rate frames are decoded at (exact, e.g. 30000/1001).
    average_rate: the container's average frame rate; differs from `frame_rate` for
        variable-frame-rate videos. None when unknown.
    duration: seconds, or None when the container does not say.
    codec: the video codec's ffmpeg name.
    rotation: degrees of the rotation metadata (0 without).
    audio_codecs: ffmpeg names of the audio streams, in order.
    sample_aspect: pixel aspect ratio as "num:den".
    """

    width: int
    height: int
    frame_rate: Fraction
    average_rate: float
    duration: float
    codec: str
    rotation: float = 0.0
    audio_codecs: list = field(default_factory=list)
    sample_aspect: str = "1:1"

    @property
    def variable_rate(self):
        return self.average_rate is not None and abs(self.average_rate - float(self.frame_rate)) > 0.01

    @property
    def expected_frames(self):
        """Frames to decode as the header suggests (for progress), or None."""
        return round(self.duration * self.frame_rate) if self.duration else None


class _StderrTail:
    """Drains a child's stderr on a thread (so a chatty ffmpeg never blocks) and keeps its end."""

    def __init__(self, stream):
        self.lines = deque(maxlen=_STDERR_LINES)
        self._thread = threading.Thread(target=self._drain, args=(stream,), daemon=True)
        self._thread.start()

    def _drain(self, stream):
        for line in stream:
            text = line.decode("utf-8", "replace").strip()
            if text:
                self.lines.append(text)

    def join(self):
        self._thread.join(timeout=10)
        return list(self.lines)


def _input_header(stderr):
    """The part of ffmpeg's log that describes the input file (before the output's)."""
    for marker in ("Stream mapping:", "Output #0"):
        stderr = stderr.split(marker)[0]
    return stderr


def _last_error(lines):
    """ffmpeg's most telling error line, without its "[component @ 0x...]" prefix."""
    for line in reversed(lines):
        if not line.startswith(("Error opening output", "Error parsing options", "Conversion failed")):
            line = re.sub(r"^\[[^]]*\]\s*", "", line)
            return line.replace("Error opening input files: ", "")
    return "no message"


def _rate(text):
    """ffmpeg's printed rate ("29.97", "25", "1k") as a float."""
    return float(text[:-1]) * 1000 if text.endswith("k") else float(text)


def read_note(path):
    """The comment `upscale_video` wrote into an MP4 (what made it), or None."""
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-i", path]
    with _start_ffmpeg(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        _, stderr = process.communicate()
    found = re.search(r"^\s*comment\s*:\s*(srcnn \S+)\s*$", _input_header(stderr.decode("utf-8", "replace")), re.M)
    return found.group(1) if found else None


def probe(path):
    """Reads a video's header and decodes its first frame, with ffmpeg.

    Raises:
        InputError: the file is missing, is not a video ffmpeg can read, has no video
            stream, or its video codec cannot be decoded.
    """
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    # One frame decoded to y4m: its header carries the decoded (rotated) size and the exact
    # constant rate ffmpeg will decode at, which its log only prints rounded.
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-i", path, "-map", "0:V:0", "-frames:v", "1",
               "-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p", "pipe:1"]
    with _start_ffmpeg(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        stdout, stderr = process.communicate()
    log = stderr.decode("utf-8", "replace")
    header = _input_header(log)
    streams = re.findall(r"Stream #\d+:\d+\S*: (Video|Audio): (\S+)([^\n]*)", header)
    videos = [(codec, rest) for kind, codec, rest in streams if kind == "Video" and "(attached pic)" not in rest]
    audio_codecs = [codec.rstrip(",") for kind, codec, _ in streams if kind == "Audio"]
    if "Error opening input" in log or "Input #0" not in header:
        raise InputError(f"{path}: not a video ffmpeg can read, or truncated ({_last_error(log.splitlines())}); "
                         "pass a video file, e.g. .mp4, .mov, .mkv")
    if not videos:
        raise InputError(f"{path}: has no video stream (audio only?); pass a video file")
    codec, rest = videos[0][0].rstrip(","), videos[0][1]
    y4m = stdout.split(b"\n", 1)[0].decode("ascii", "replace")
    if process.returncode != 0 or not y4m.startswith("YUV4MPEG2"):
        if codec == "none" or "no decoder found" in log or "Decoder" in log and "not found" in log:
            fourcc = re.search(r"\(([^/()]+) / 0x", rest)
            name = fourcc.group(1).strip() if fourcc else codec
            raise InputError(f"{path}: its video codec ({name}) is not supported by ffmpeg; "
                             "convert it first, e.g. to H.264")
        raise InputError(f"{path}: cannot decode its video ({_last_error(log.splitlines())}); "
                         "the file may be damaged or truncated")
    fields = dict((item[0], item[1:]) for item in y4m.split()[1:] if item)
    numerator, denominator = (int(part) for part in fields["F"].split(":"))
    average = re.search(r"([\d.]+k?) fps", rest)
    duration = re.search(r"Duration: (\d+):(\d+):([\d.]+)", header)
    rotation = re.search(r"rotation of (-?[\d.]+) degrees", header)
    aspect = fields.get("A", "1:1")
    return VideoInfo(
        width=int(fields["W"]), height=int(fields["H"]), frame_rate=Fraction(numerator, denominator),
        average_rate=_rate(average.group(1)) if average else None,
        duration=(int(duration.group(1)) * 3600 + int(duration.group(2)) * 60 + float(duration.group(3))
                  if duration else None),
        codec=codec, rotation=float(rotation.group(1)) if rotation else 0.0, audio_codecs=audio_codecs,
        sample_aspect=aspect if aspect not in ("0:0", "1:1") else "1:1")


def _kill(process):
    """Stops a child process (if still running) and reaps it."""
    if process.poll() is None:
        process.kill()
    process.wait()


def decoded_frames(path, info):
    """Yields the frames of `path` as uint8 (height, width, 3) RGB arrays, one at a time.

    Raises:
        InputError: ffmpeg reports the stream damaged or truncated, or decodes no frame.
    """
    # Every frame once for a constant rate (ffmpeg's own cfr mode may repeat one over a
    # timestamp quirk, e.g. in AVI); a variable rate is resampled to the constant one.
    timing = ["-fps_mode", "cfr", "-r", str(info.frame_rate)] if info.variable_rate else ["-fps_mode", "passthrough"]
    command = [ffmpeg_path(), "-hide_banner", "-nostdin", "-nostats", "-v", "error", "-i", path,
               "-map", "0:V:0", *timing, "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    frame_bytes = info.height * info.width * 3
    process = _start_ffmpeg(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    errors = _StderrTail(process.stderr)
    count = 0
    try:
        while True:
            buffer = process.stdout.read(frame_bytes)
            if len(buffer) < frame_bytes:
                break
            count += 1
            yield np.frombuffer(buffer, np.uint8).reshape(info.height, info.width, 3)
        process.wait()
        messages = errors.join()
        # A decodable but damaged file (cut short, broken packets) decodes with error
        # messages: refuse it rather than write a video with frames missing or smeared.
        if process.returncode != 0 or messages or len(buffer):
            raise InputError(f"{path}: damaged or truncated video (ffmpeg, after {count} frames: "
                             f"{_last_error(messages)}); repair or re-export it")
        if count == 0:
            raise InputError(f"{path}: no frame could be decoded; pass another video")
    finally:
        _kill(process)


def upscaled_frames(source, upscale_frame, scale, info=None):
    """Yields what `upscale_video` encodes: each decoded frame through `upscale_frame`, cut to even sides."""
    info = info or probe(source)
    height, width = output_size(info.height, info.width, scale)
    frames = decoded_frames(source, info)
    try:
        for frame in frames:
            upscaled = upscale_frame(frame)
            if upscaled.shape != (info.height * scale, info.width * scale, 3):
                raise ValueError(f"upscale_frame gave {upscaled.shape} for a {frame.shape} frame at x{scale}")
            yield upscaled[:height, :width]
    finally:
        frames.close()  # stops the decoder at once, also when we stop early


@dataclass
class VideoResult:
    """What `upscale_video` wrote: frame count and size, rate, and what became of the audio."""

    frames: int
    width: int
    height: int
    frame_rate: Fraction
    audio: str
    notes: list

    def summary(self):
        """One line for a report, e.g. "75 frames, 640x480, 25 fps, audio copied"."""
        return (f"{self.frames} frames, {self.width}x{self.height}, {float(self.frame_rate):g} fps, "
                f"audio {self.audio}" + "".join(f"; {note}" for note in self.notes))


def upscale_video(upscale_frame, scale, source, destination, crf=DEFAULT_CRF, preset=DEFAULT_PRESET,
                  overwrite=False, progress=False, outputs=None, note=None):
    """Upscales the video `source` frame by frame into the MP4 `destination`.

    Args:
        upscale_frame: uint8 RGB (h, w, 3) -> uint8 RGB (h * scale, w * scale, 3), e.g.
            an `srcnn.Upscaler`'s.
        scale: the integer factor of `upscale_frame`.
        source: a video file ffmpeg reads.
        destination: the MP4 to write (replaced only if `overwrite`).
        crf: x264 constant rate factor, an integer from 0 (lossless) to 51.
        preset: x264 preset (speed against file size).
        progress: show a progress bar (frames, frames/s, ETA).
        outputs: the run's `srcnn.core.outputs.Outputs` (with its inputs); else one for `source`.
        note: the MP4's comment, what made it (`read_note`).

    Returns:
        A `VideoResult`.

    Raises:
        ValueError: `crf` out of range, or a `destination` not named .mp4 or .m4v.
        OutputExistsError: `destination` exists (and not `overwrite`).
        OutputError: it cannot be written, or is `source`.
        InputError: `source` is not a usable video (see `probe` and `decoded_frames`).
    """
    check_crf(crf)
    if not destination.lower().endswith(MP4_EXTENSIONS):
        raise ValueError(f"{destination}: the video is written as MP4; name it {' or '.join(MP4_EXTENSIONS)}")
    run = outputs or Outputs(overwrite=overwrite)
    run.protect(source)
    run.check(destination, KINDS["video"])
    info = probe(source)
    height, width = output_size(info.height, info.width, scale)
    notes = []
    if (height, width) != (info.height * scale, info.width * scale):
        notes.append(f"odd size {info.width * scale}x{info.height * scale} cropped to {width}x{height} "
                     "(last column/row dropped)")
    if info.variable_rate:
        notes.append(f"variable frame rate (average {info.average_rate:g} fps) written at a constant "
                     f"{float(info.frame_rate):g} fps, repeating frames")
    _, audio = audio_options(info)
    try:
        with run.writing(destination, KINDS["video"]) as temporary:
            count = _encode(upscaled_frames(source, upscale_frame, scale, info), source, info, height, width,
                            temporary, crf, preset, progress, note)
    except SRCNNError:
        raise
    except OSError as error:
        raise OutputError(f"{printable(destination)}: cannot write ({os_reason(error)})") from None
    return VideoResult(count, width, height, info.frame_rate, audio, notes)


def _encode(frames, source, info, height, width, destination, crf, preset, progress, note=None):
    """Pipes `frames` into the encoder writing `destination`; returns how many were written."""
    command = encoder_command(ffmpeg_path(), source, info, height, width, destination, crf, preset, note)
    process = _start_ffmpeg(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    errors = _StderrTail(process.stderr)
    count = 0
    bar = tqdm(total=info.expected_frames, unit="frame", desc=os.path.basename(source), leave=False,
               disable=None if progress else True)
    try:
        for frame in frames:
            try:
                process.stdin.write(np.ascontiguousarray(frame).data)
            except BrokenPipeError:
                break
            count += 1
            bar.update()
        try:
            process.stdin.close()
        except BrokenPipeError:
            pass
        process.wait()
        if process.returncode != 0:
            raise OutputError(f"{destination}: the encoder failed ({_last_error(errors.join())})")
    finally:
        bar.close()
        frames.close()  # stops the decoder now, also on error or Ctrl-C
        _kill(process)
    return count
