"""Video upscaling: frames, rate and sound kept, the still-image path per frame, bad input, Ctrl-C.

Clips are generated with the ffmpeg binary of imageio-ffmpeg (lavfi test pattern + sine).
Most tests upscale with a nearest-neighbour frame function (the plumbing is what they
check); the end-to-end test and the exactness test use the shipped x2 weights.
"""

import os
import signal
import subprocess
import sys
import time

import imageio_ffmpeg
import numpy as np
import pytest

import step3_test
from srcnn.core import checkpoints
from srcnn.core import metrics
from srcnn.upscaling import video
from srcnn.core import colour
from tiny_data import CTRL_C_RESTORED
from srcnn.core.errors import OutputExistsError, SRCNNError
from srcnn.upscaling.jobs import Naming, plan_jobs
from srcnn.upscaling.upscaler import Upscaler

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_clip(path, size="64x48", rate=25, seconds=1.0, audio=True, pattern="testsrc2", output_options=()):
    """Writes a test-pattern clip (H.264 yuv420p unless `output_options` say otherwise) with a sine track."""
    command = [FFMPEG, "-v", "error", "-y",
               "-f", "lavfi", "-i", f"{pattern}=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        command += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:a", "aac"]
    command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", *output_options, str(path)]
    subprocess.run(command, check=True)
    return str(path)


def read_frames(path):
    """All frames of `path`, once each, as uint8 RGB, through imageio-ffmpeg's reader (not srcnn.upscaling.video)."""
    reader = imageio_ffmpeg.read_frames(str(path), output_params=["-fps_mode", "passthrough"])
    meta = reader.__next__()
    width, height = meta["size"]
    return [np.frombuffer(frame, np.uint8).reshape(height, width, 3) for frame in reader]


def stream_md5(path, stream):
    """MD5 of the packets of `stream` ("a:0", "v:0") as stored, without decoding."""
    result = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-map", f"0:{stream}", "-c", "copy",
                             "-f", "md5", "-"], capture_output=True, check=True, text=True)
    return result.stdout.strip()


def psnr(reference, test):
    """PSNR of all three RGB channels."""
    mse = np.mean((reference.astype(np.float64) - test.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def psnr_y(reference, test, scale=2):
    """The project's PSNR: on the 8-bit-rounded Y (BT.601), `scale` pixels shaved from each border."""
    return metrics.psnr(colour.rgb_to_ycbcr(test)[..., 0] / 255, colour.rgb_to_ycbcr(reference)[..., 0] / 255,
                        scale)


def nearest(scale):
    """A cheap frame function with the right output shape."""
    return lambda pixels: np.repeat(np.repeat(pixels, scale, axis=0), scale, axis=1)


def ffmpeg_children():
    """PIDs of ffmpeg processes whose parent is this process (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/comm") as comm:
                name = comm.read()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid() and name.startswith("ffmpeg"):
            found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def upscaler():
    """The shipped x2 weights, float32, as step3_test.py --precision float32 builds them."""
    return Upscaler.from_checkpoint(checkpoints.pretrained_path(2), precision="float32")


@pytest.fixture(scope="module")
def done_clip(tmp_path_factory):
    """The issue's clip (3 s, 25 fps, 320x240, sine) upscaled x2 through step3_test.py."""
    folder = tmp_path_factory.mktemp("done")
    source = make_clip(folder / "clip.mp4", size="320x240", seconds=3)
    output = folder / "out"
    assert step3_test.main(["--input", source, "--scale", "2", "--output", str(output),
                            "--precision", "float32"]) == 0
    return source, output / "clip_srcnn_x2.mp4"


@pytest.mark.slow
def test_upscaled_clip_has_twice_the_size_same_rate_frames_and_the_audio(done_clip):
    source, result = done_clip
    info = video.probe(str(result))
    assert (info.width, info.height, info.frame_rate) == (640, 480, 25)
    assert info.codec == "h264" and info.audio_codecs == ["aac"]
    assert len(read_frames(result)) == 75
    assert os.listdir(result.parent) == [result.name]  # no temporary left


@pytest.mark.slow
def test_audio_is_copied_unchanged(done_clip):
    source, result = done_clip
    assert stream_md5(result, "a:0") == stream_md5(source, "a:0")


@pytest.mark.slow
def test_frame_40_matches_the_still_image_path_after_encoding(done_clip, upscaler):
    source, result = done_clip
    still = upscaler.upscale(read_frames(source)[40])
    encoded = read_frames(result)[40]
    assert psnr_y(still, encoded) >= 35.0
    # 4:2:0 alone (x264 at crf 0) bounds RGB to 33.7 dB on this saturated test pattern.
    assert psnr(still, encoded) >= 32.0


@pytest.mark.slow
def test_frames_before_encoding_are_exactly_the_still_image_path(tmp_path, upscaler):
    source = make_clip(tmp_path / "clip.mp4", size="48x32", seconds=0.4, audio=False)
    frames = list(video.upscaled_frames(source, upscaler.upscale, 2))
    decoded = read_frames(source)
    assert len(frames) == len(decoded) == 10
    for frame, pixels in zip(frames, decoded):
        np.testing.assert_array_equal(frame, upscaler.upscale(pixels))


@pytest.mark.slow
def test_odd_output_sizes_lose_their_last_column_and_row(tmp_path):
    # 45x33 needs 4:4:4 in the source (and testsrc, which makes odd sizes); x3 gives
    # 135x99, which 4:2:0 H.264 cannot hold.
    source = make_clip(tmp_path / "odd.mp4", size="45x33", seconds=0.2, audio=False, pattern="testsrc",
                       output_options=["-pix_fmt", "yuv444p"])
    frames = list(video.upscaled_frames(source, nearest(3), 3))
    assert frames[0].shape == (98, 134, 3)
    np.testing.assert_array_equal(frames[0], nearest(3)(read_frames(source)[0])[:98, :134])
    result = video.upscale_video(nearest(3), 3, source, str(tmp_path / "odd_x3.mp4"))
    assert (result.width, result.height) == (134, 98) and "cropped" in result.notes[0]
    assert read_frames(tmp_path / "odd_x3.mp4")[0].shape == (98, 134, 3)


@pytest.mark.slow
def test_rotation_metadata_is_applied(tmp_path):
    upright = make_clip(tmp_path / "upright.mp4", size="64x48", seconds=0.2)
    phone = str(tmp_path / "phone.mp4")
    subprocess.run([FFMPEG, "-v", "error", "-display_rotation:v:0", "90", "-i", upright, "-c", "copy", phone],
                   check=True)
    info = video.probe(phone)
    assert (info.width, info.height, info.rotation) == (48, 64, 90.0)
    result = video.upscale_video(nearest(2), 2, phone, str(tmp_path / "phone_x2.mp4"))
    assert (result.width, result.height) == (96, 128)
    # 90 degrees counter-clockwise, as players show it.
    turned = np.rot90(read_frames(upright)[0])
    assert np.abs(read_frames(tmp_path / "phone_x2.mp4")[0][::2, ::2].astype(int) - turned).mean() < 3


@pytest.mark.slow
def test_variable_frame_rate_is_written_at_a_constant_rate_in_step(tmp_path):
    # 25 frames at 25 fps, then 25 frames at 12.5 fps: 3 s in all.
    source = str(tmp_path / "vfr.mp4")
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=25:duration=2",
                    "-vf", "setpts='if(lt(N,25),N*0.04,1+(N-25)*0.08)/TB'", "-fps_mode", "vfr",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", source], check=True)
    result = video.upscale_video(nearest(2), 2, source, str(tmp_path / "vfr_x2.mp4"))
    assert result.frame_rate == 25 and "variable frame rate" in result.notes[0]
    # Each slow frame shown twice: 25 + 2 * 24 + 1 frames, the source's duration at 25 fps.
    assert len(read_frames(tmp_path / "vfr_x2.mp4")) == result.frames == 74


@pytest.mark.slow
@pytest.mark.parametrize("name, codecs", [("clip.mkv", []), ("clip.mov", []),
                                          ("clip.avi", ["-c:v", "mpeg4", "-c:a", "libmp3lame"])])
def test_every_frame_is_kept_once_in_other_containers(tmp_path, name, codecs):
    source = make_clip(tmp_path / name, seconds=1, output_options=codecs)
    result = video.upscale_video(nearest(2), 2, source, str(tmp_path / "out.mp4"))
    assert result.frames == len(read_frames(tmp_path / "out.mp4")) == len(read_frames(source)) == 25
    assert result.audio == "copied"


@pytest.mark.slow
def test_audio_mp4_cannot_hold_is_reencoded_to_aac(tmp_path):
    source = make_clip(tmp_path / "pcm.mkv", seconds=0.4, audio=False)
    with_pcm = str(tmp_path / "with_pcm.mkv")
    subprocess.run([FFMPEG, "-v", "error", "-i", source, "-f", "lavfi", "-i", "sine=duration=0.4",
                    "-c:v", "copy", "-c:a", "pcm_s16le", with_pcm], check=True)
    result = video.upscale_video(nearest(2), 2, with_pcm, str(tmp_path / "out.mp4"))
    assert result.audio.startswith("re-encoded to AAC")
    assert video.probe(str(tmp_path / "out.mp4")).audio_codecs == ["aac"]


def first_half_of_a_clip(folder, suffix):
    """A 2 s clip cut in half: for .mp4 the index (moov) that comes last is lost."""
    whole = make_clip(folder / f"whole{suffix}", seconds=2)
    with open(whole, "rb") as file:
        data = file.read()
    os.remove(whole)
    with open(folder / f"cut{suffix}", "wb") as file:
        file.write(data[:len(data) // 2])
    return str(folder / f"cut{suffix}")


def truncated_mkv(folder):
    return first_half_of_a_clip(folder, ".mkv")


def mp4_without_index(folder):
    return first_half_of_a_clip(folder, ".mp4")


def not_a_video(folder):
    (folder / "notes.mp4").write_text("these are not frames\n")
    return str(folder / "notes.mp4")


def audio_only(folder):
    subprocess.run([FFMPEG, "-v", "error", "-f", "lavfi", "-i", "sine=duration=0.5", str(folder / "song.m4a")],
                   check=True)
    return str(folder / "song.m4a")


def unknown_codec(folder):
    whole = make_clip(folder / "whole.mp4", seconds=0.2)
    with open(whole, "rb") as file:
        data = file.read()
    os.remove(whole)
    entry = data.index(b"avc1\0\0\0\0\0\0")  # the H.264 sample entry: give it a codec no one knows
    with open(folder / "alien.mp4", "wb") as file:
        file.write(data[:entry] + b"zzzz" + data[entry + 4:])
    return str(folder / "alien.mp4")


@pytest.mark.parametrize("make, message", [
    (not_a_video, "not a video ffmpeg can read"),
    (mp4_without_index, "not a video ffmpeg can read, or truncated"),
    (truncated_mkv, "damaged or truncated video"),
    (audio_only, "has no video stream"),
    (unknown_codec, "video codec (zzzz) is not supported"),
])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, make, message):
    source = make(tmp_path)
    output = tmp_path / "out"
    with pytest.raises(SRCNNError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        video.upscale_video(nearest(2), 2, source, str(output / "result.mp4"))
    assert source in str(error.value) and "\n" not in str(error.value)
    assert not output.exists() or os.listdir(output) == []
    assert ffmpeg_children() == []


@pytest.mark.slow
def test_an_ffmpeg_that_cannot_start_is_reported_as_such(tmp_path, monkeypatch):
    source = make_clip(tmp_path / "clip.mp4", seconds=0.2)
    broken = tmp_path / "ffmpeg"
    broken.write_text("not a program\n")  # not executable
    monkeypatch.setattr(video, "ffmpeg_path", lambda: str(broken))
    output = tmp_path / "out"
    with pytest.raises(SRCNNError, match="ffmpeg cannot start .*reinstall") as error:
        video.upscale_video(nearest(2), 2, source, str(output / "result.mp4"))
    assert str(broken) in str(error.value) and "cannot write" not in str(error.value)
    assert not output.exists() or os.listdir(output) == []


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_interrupted_or_crashed_run_leaves_no_file_and_no_process(tmp_path, failure):
    source = make_clip(tmp_path / "clip.mp4", seconds=1)
    count = []

    def upscale_frame(pixels):
        count.append(1)
        if len(count) == 10:
            raise failure("stop")
        return nearest(2)(pixels)

    with pytest.raises(failure):
        video.upscale_video(upscale_frame, 2, source, str(tmp_path / "out" / "clip_x2.mp4"))
    assert os.listdir(tmp_path / "out") == []
    assert ffmpeg_children() == []


@pytest.mark.slow
def test_ctrl_c_in_a_real_run_leaves_no_file(tmp_path):
    source = make_clip(tmp_path / "clip.mp4", seconds=4)
    destination = tmp_path / "out" / "clip_x2.mp4"
    script = (CTRL_C_RESTORED + "import sys, time, numpy as np\n"
              "from srcnn.upscaling import video\n"
              "def slow(pixels):\n"
              "    time.sleep(0.05)\n"
              "    return np.repeat(np.repeat(pixels, 2, axis=0), 2, axis=1)\n"
              f"video.upscale_video(slow, 2, {source!r}, {str(destination)!r})\n")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.time() + 60  # the child imports TensorFlow (srcnn.imaging) first
    while not (destination.parent.exists() and os.listdir(destination.parent)) and time.time() < deadline:
        time.sleep(0.05)
    temporary = os.listdir(destination.parent)
    assert temporary and temporary[0].startswith(".clip_x2.mp4.srcnn-tmp-")  # the run is under way
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=30) != 0
    assert b"KeyboardInterrupt" in process.stderr.read()
    assert os.listdir(destination.parent) == []


def test_existing_output_is_kept_unless_overwrite(tmp_path):
    source = make_clip(tmp_path / "clip.mp4", seconds=0.2)
    destination = tmp_path / "clip_x2.mp4"
    destination.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="clip_x2.mp4: already exists"):
        video.upscale_video(nearest(2), 2, source, str(destination))
    assert destination.read_bytes() == b"mine"
    result = video.upscale_video(nearest(2), 2, source, str(destination), overwrite=True)
    assert result.frames == 5 and video.probe(str(destination)).width == 128


@pytest.mark.slow
def test_crf_trades_size_for_quality(tmp_path):
    source = make_clip(tmp_path / "clip.mp4", seconds=0.4, audio=False)
    expected = [nearest(2)(frame) for frame in read_frames(source)]
    sizes, qualities = [], []
    for crf in (10, 30):
        result = tmp_path / f"crf{crf}.mp4"
        video.upscale_video(nearest(2), 2, source, str(result), crf=crf)
        sizes.append(os.path.getsize(result))
        qualities.append(np.mean([psnr(a, b) for a, b in zip(expected, read_frames(result))]))
    assert sizes[0] > sizes[1] and qualities[0] > qualities[1]


def test_a_folder_mixing_images_and_videos_plans_pngs_and_mp4s(tmp_path):
    (tmp_path / "in" / "sub").mkdir(parents=True)
    (tmp_path / "in" / "photo.png").write_bytes(b"")
    (tmp_path / "in" / "sub" / "clip.MOV").write_bytes(b"")
    jobs, clashes = plan_jobs(str(tmp_path / "in"), str(tmp_path / "out"), Naming(2, bicubic=True))
    outputs = sorted((os.path.relpath(job.sr_path, tmp_path / "out"), job.bicubic_path is None) for job in jobs)
    assert outputs == [("photo_srcnn_x2.png", False), (os.path.join("sub", "clip_srcnn_x2.mp4"), True)]
    assert clashes == []


@pytest.mark.slow
def test_cli_reports_a_bad_video_and_carries_on(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    make_clip(folder / "good.mp4", size="32x24", seconds=0.2)
    not_a_video(folder)
    code = step3_test.main(["--input", str(folder), "--scale", "2", "--output", str(tmp_path / "out"),
                            "--precision", "float32", "--crf", "20"])
    captured = capsys.readouterr()
    assert code == 1 and "upscaled 1 of 2 files" in captured.out and "notes.mp4: not a video" in captured.err
    assert "5 frames, 64x48, 25 fps, audio copied" in captured.out
    assert sorted(os.listdir(tmp_path / "out")) == ["good_srcnn_x2.mp4"]


def test_progress_bar_counts_frames_against_the_expected_total(tmp_path, monkeypatch):
    source = make_clip(tmp_path / "clip.mp4", seconds=0.4)
    bars = []

    class Recorder:
        def __init__(self, **options):
            self.options, self.count = options, 0
            bars.append(self)

        def update(self, frames=1):
            self.count += frames

        def close(self):
            pass

    monkeypatch.setattr(video, "tqdm", Recorder)
    video.upscale_video(nearest(2), 2, source, str(tmp_path / "out.mp4"), progress=True)
    (bar,) = bars
    assert bar.options["unit"] == "frame" and bar.options["total"] == 10 and bar.count == 10
    assert bar.options["disable"] is None  # shown on a terminal (tqdm then adds frame/s and ETA)


@pytest.mark.slow
def test_upscaler_upscale_video_is_the_still_image_path_per_frame(tmp_path):
    from srcnn import Upscaler

    upscaler = Upscaler.pretrained(scale=2, precision="float32")
    source = make_clip(tmp_path / "clip.mp4", size="32x24", seconds=0.2)
    result = upscaler.upscale_video(source, tmp_path / "clip_x2.mp4", crf=0)
    assert result.summary() == "5 frames, 64x48, 25 fps, audio copied"
    still = upscaler.upscale(read_frames(source)[2])
    assert psnr_y(still, read_frames(tmp_path / "clip_x2.mp4")[2]) >= 35.0


@pytest.mark.slow
def test_srcnn_upscale_takes_videos_too(tmp_path, capsys):
    from srcnn.commands import cli

    make_clip(tmp_path / "clip.mov", size="32x24", seconds=0.2)
    assert cli.upscale_main(["--input", str(tmp_path / "clip.mov"), "--scale", "2", "--output", str(tmp_path / "out"),
                             "--crf", "23"]) == 0
    assert "clip_srcnn_x2.mp4 (5 frames, 64x48, 25 fps, audio copied)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage_error:
        cli.upscale_main(["--input", str(tmp_path / "clip.mov"), "--scale", "2", "--crf", "52"])
    assert usage_error.value.code == 2 and "--crf: crf 52 is not an integer from 0 (lossless) to 51" in capsys.readouterr().err
