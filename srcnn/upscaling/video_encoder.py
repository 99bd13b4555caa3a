"""The ffmpeg command that writes an upscaled MP4: H.264 in BT.709, the source's audio copied or re-encoded."""


# Audio codecs an MP4 takes by stream copy; others are re-encoded to AAC.
MP4_AUDIO_CODECS = ("aac", "mp3", "mp2", "ac3", "eac3", "opus", "flac", "alac")
AAC_BITRATE = "192k"


def audio_options(info):
    """(ffmpeg output options for the audio, what happens to it) for an MP4 output."""
    if not info.audio_codecs:
        return [], "none"
    if all(codec in MP4_AUDIO_CODECS for codec in info.audio_codecs):
        return ["-map", "1:a", "-c:a", "copy"], "copied"
    return ["-map", "1:a", "-c:a", "aac", "-b:a", AAC_BITRATE], (
        f"re-encoded to AAC ({'/'.join(info.audio_codecs)} does not go into MP4)")


def encoder_command(ffmpeg, source, info, height, width, destination, crf, preset, note=None):
    """`ffmpeg` reading rgb24 frames on stdin, muxing them with `source`'s audio into MP4 `destination`
    (with `note` as its comment: what made it, `srcnn.upscaling.jobs.Provenance`)."""
    audio, _ = audio_options(info)
    # RGB -> BT.709 limited-range YUV, tagged so that players (and ffmpeg) convert back alike.
    filters = ("scale=out_color_matrix=bt709:out_range=tv,"
               "setparams=colorspace=bt709:color_primaries=bt709:color_trc=bt709:range=tv")
    if info.sample_aspect != "1:1":
        filters += f",setsar={info.sample_aspect.replace(':', '/')}"
    return ([ffmpeg, "-hide_banner", "-nostdin", "-nostats", "-v", "error", "-y",
             "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(info.frame_rate),
             "-i", "pipe:0"]
            + (["-i", source] if audio else [])
            + ["-map", "0:v", "-vf", filters, "-c:v", "libx264", "-preset", preset, "-crf", str(crf),
               "-pix_fmt", "yuv420p"]
            + audio
            + (["-metadata", f"comment={note}"] if note else [])
            + ["-movflags", "+faststart", "-f", "mp4", destination])
