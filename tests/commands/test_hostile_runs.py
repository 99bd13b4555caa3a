"""A harness of hostile runs: whatever the flags and names, a command changes nothing but its declared outputs.

Each example builds a user's folder (photos whose stems clash across extensions, a link, a subfolder,
odd names, a checkpoint, notes, models), runs `srcnn-upscale`, `srcnn-export` or the `Upscaler` API
in-process with generated flags and paths, and checks:
- the exit status is 0, 1 or 2, and nothing escapes as a traceback;
- every path the run did not declare as its output is as it was (bytes, link target, kind);
- nothing new appears but declared outputs and their folders, and no temporary is left;
- every declared output that is there is whole (an image that decodes, a model of its format).

The quick profile runs a few examples per test; the slow one (CI) runs 1,300 in all. The weights are
loaded once per session and the model converters replaced by stand-ins: what is tested is where
files go, not the pixels or the converters (tested elsewhere).
"""

import contextlib
import copy
import io
import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from srcnn.commands import cli
from srcnn.core import checkpoints, outputs
from srcnn.core.errors import SRCNNError
from srcnn.upscaling import export, jobs
from srcnn.upscaling.upscaler import Upscaler

from tiny_data import snapshot

# Examples per test: the quick subset, and CI (1,300 runs; an export costs five times an upscale).
QUICK, LONG, LONG_UPSCALE, LONG_EXPORT = 5, 500, 500, 300

NON_UTF8 = os.fsdecode(b"caf\xe9.png")  # a Latin-1 name, not UTF-8
PHOTOS = ("a.png", "a.jpg", "b.webp", "-dash.png", "new\nline.png", "quo'te\".png", NON_UTF8, "sub/c.png",
          "sub/a.png")
PATHS = ("photos", "photos/a.png", "photos/a.jpg", "photos/link.png", "photos/sub", "photos/sub/c.png",
         "photos/notes.txt", "photos/" + NON_UTF8, "photos/new\nline.png", "photos/-dash.png", "notes.txt",
         "ck", "ck/srcnn.index", "ck/recipe.json", "out", "out/a_srcnn_x2.png", "model.onnx", "model.tflite",
         "sm", "link_out", "missing", "missing/deeper", "new.png", "new.onnx", "new.tflite", "new_sm", "newdir/",
         "photos/a_srcnn_x2.png", "photos/out", ".", "")
SUFFIXES = ("", "_srcnn_x{scale}", "{scale}", "_x", "{scale[0]}", "{scale.nope}", "{scale!r}", "{scale:x}",
            "{", "}", "/", "_bicubic_x{scale}", "\n", "-", "..", "{scale:>300}")
EXTENSIONS = ("png", "jpg", "webp", "tif", "same", "gif", "", "PNG")


def build_home(root, weights):
    """The user's folder the runs meet; returns the paths that are the run's inputs when named."""
    rng = np.random.default_rng(0)
    for index, name in enumerate(PHOTOS):
        path = os.path.join(root, "photos", name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shape = (1, 1, 3) if name == "a.jpg" else (10 + index, 12, 3)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    os.symlink("a.png", os.path.join(root, "photos", "link.png"))
    for name, content in (("photos/notes.txt", b"my notes"), ("notes.txt", b"more notes"),
                          ("model.onnx", b"\x08\x07ai.onnx mine"), ("model.tflite", b"0000TFL3 mine"),
                          ("sm/saved_model.pb", b"mine"), ("out/a_srcnn_x2.png", b"an earlier output")):
        os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
        with open(os.path.join(root, name), "wb") as handle:
            handle.write(content)
    shutil.copytree(os.path.dirname(weights), os.path.join(root, "ck"))
    os.symlink("notes.txt", os.path.join(root, "link_out"))


def run_quietly(function, *args):
    """(exit status or None, stderr) of `function(*args)`; argparse's SystemExit is a status."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            return function(*args), err.getvalue()
        except SystemExit as exit:
            return exit.code, err.getvalue()


def declared_by_upscale(argv):
    """The outputs srcnn-upscale plans for `argv` (none if it cannot plan)."""
    try:
        args = cli.parse_upscale_args(argv)
        planned, _ = jobs.plan_jobs(args.inputs, args.output, cli.naming_for(args, 2))
    except (SystemExit, SRCNNError, ValueError, OSError):
        return set(), None
    return {os.path.normpath(path) for job in planned for path in job.outputs}, args.output


def check_run(root, before, declared, output_folder, status, errors, models=False):
    assert status in (0, 1, 2), (status, errors)
    assert "Traceback" not in errors, errors
    after = snapshot(root)
    declared = {os.path.relpath(os.path.abspath(path), root) for path in declared}
    folder = os.path.relpath(os.path.abspath(output_folder), root) if output_folder else None

    def is_declared(key):
        return key in declared or any(key.startswith(path + os.sep) for path in declared)

    for key, was in before.items():
        if not is_declared(key):
            assert after.get(key) == was, f"{key!r} changed: {was} -> {after.get(key)}; {errors}"
    for key in set(after) - set(before):
        assert outputs.TEMPORARY_MARK not in key and "beam-temp" not in key, f"left behind: {key!r}"
        inside_output = folder is not None and (key == folder or key.startswith(folder + os.sep) or folder == ".")
        above_output = any(path.startswith(key + os.sep) for path in declared)  # a folder made for an output
        assert is_declared(key) or (after[key] == ("folder",) and (inside_output or above_output)), \
            f"not declared: {key!r}"
    for key in declared:
        if key not in after or after[key] == before.get(key):
            continue
        if models:  # a model of one of the formats, whole
            assert any(kind.recognise(os.path.join(root, key)) for kind in outputs.KINDS.values()
                       if kind.recognise), f"not a model: {key!r}"
        elif after[key][0] == "file":
            with Image.open(os.path.join(root, key)) as image:
                image.load()  # whole


@pytest.fixture(scope="module")
def harness(random_x2_weights):
    """Patches for speed (one Upscaler per padding for the session; converters as stand-ins)."""
    loaded = {}
    original = Upscaler.from_checkpoint.__func__

    def from_checkpoint(cls, path, padding="replicate", scale=None, **options):
        prefix = checkpoints.resolve(os.fspath(path))  # refuses what the real one refuses
        key = (padding, tuple(sorted(options.items())))
        if key not in loaded:
            loaded[key] = original(cls, random_x2_weights, padding=padding, scale=scale, **options)
        upscaler = copy.copy(loaded[key])
        upscaler.checkpoint = prefix  # exports protect its files
        return upscaler

    patches = pytest.MonkeyPatch()
    patches.setattr(Upscaler, "from_checkpoint", classmethod(from_checkpoint))
    patches.setattr(export, "onnx_bytes", lambda module: b"\x08\x07ai.onnx stand-in")
    patches.setattr(export, "tflite_bytes", lambda module: b"0000TFL3 stand-in")

    def save_savedmodel(module, path):
        os.makedirs(os.path.join(path, "variables"))
        with open(os.path.join(path, "saved_model.pb"), "wb") as handle:
            handle.write(b"stand-in")

    patches.setattr(export, "save_savedmodel", save_savedmodel)
    yield random_x2_weights
    patches.undo()


@contextlib.contextmanager
def home(weights):
    root = tempfile.mkdtemp(prefix="hostile-")
    previous = os.getcwd()
    try:
        build_home(root, weights)
        os.chdir(root)  # default outputs and relative names land here
        yield root
    finally:
        os.chdir(previous)
        shutil.rmtree(root, ignore_errors=True)


upscale_flags = st.fixed_dictionaries({
    "inputs": st.lists(st.sampled_from(PATHS), min_size=1, max_size=3),
    "output": st.sampled_from(PATHS),
    "suffix": st.none() | st.sampled_from(SUFFIXES),
    "ext": st.none() | st.sampled_from(EXTENSIONS),
    "overwrite": st.booleans(),
    "bicubic": st.booleans(),
    "relative": st.booleans(),
    "extra": st.sampled_from([[], ["--padding", "zero"], ["-s", "3"], ["--max-pixels", "100"], ["--overwite"],
                              ["--arch", "9-5-5"], ["--arch", "9-3-5"]]),
})


def upscale_argv(root, flags):
    place = (lambda name: name) if flags["relative"] else (lambda name: os.path.join(root, name))
    argv = [place(name) for name in flags["inputs"]] + ["-o", place(flags["output"])]
    argv += ["--checkpoint", os.path.join(root, "ck", "srcnn")]
    if flags["suffix"] is not None:
        argv += ["--suffix", flags["suffix"]]
    if flags["ext"] is not None:
        argv += ["--ext", flags["ext"]]
    argv += ["--overwrite"] * flags["overwrite"] + ["--bicubic"] * flags["bicubic"] + flags["extra"]
    return argv


def examples(count):
    return settings(max_examples=count, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


def upscale_property(weights, flags):
    with home(weights) as root:
        argv = upscale_argv(root, flags)
        declared, folder = declared_by_upscale(argv)
        before = snapshot(root)
        status, errors = run_quietly(cli.upscale_main, argv)
        check_run(root, before, declared, folder, status, errors)


export_flags = st.fixed_dictionaries({
    "format": st.sampled_from(["onnx", "tflite", "savedmodel", "pdf"]),
    "output": st.none() | st.sampled_from(PATHS),
    "overwrite": st.booleans(),
    "checkpoint": st.sampled_from(["ck/srcnn", "ck", "photos/a.png", "missing"]),
})


def export_property(weights, flags):
    with home(weights) as root:
        argv = ["--checkpoint", os.path.join(root, flags["checkpoint"]), "--format", flags["format"]]
        if flags["output"] is not None:
            argv += ["-o", os.path.join(root, flags["output"]) if flags["output"] else ""]
        argv += ["--overwrite"] * flags["overwrite"]
        output = flags["output"] or (export.default_output(2, flags["format"]) if flags["format"] in export.FORMATS
                                     else None)  # no -o, or an empty one: the default name
        declared = {os.path.join(root, output).rstrip(os.sep)} if output else set()
        before = snapshot(root)
        status, errors = run_quietly(cli.export_main, argv)
        check_run(root, before, declared, None, status, errors, models=True)


api_calls = st.fixed_dictionaries({
    "source": st.sampled_from(PATHS),
    "destination": st.sampled_from(PATHS),
    "bicubic": st.none() | st.sampled_from(PATHS),
    "overwrite": st.booleans(),
    "export": st.none() | st.sampled_from(["onnx", "tflite", "savedmodel"]),
})


def api_property(weights, call):
    with home(weights) as root:
        upscaler = Upscaler.from_checkpoint(os.path.join(root, "ck", "srcnn"))
        source, destination = os.path.join(root, call["source"]), os.path.join(root, call["destination"])
        bicubic = os.path.join(root, call["bicubic"]) if call["bicubic"] is not None else None
        before = snapshot(root)
        declared = {destination.rstrip(os.sep)} if call["export"] else {path for path in (destination, bicubic) if path}
        try:
            if call["export"]:
                upscaler.export(destination, call["export"], overwrite=call["overwrite"])
            else:
                upscaler.upscale_file(source, destination, bicubic, overwrite=call["overwrite"])
            status = 0
        except (SRCNNError, ValueError):  # the API's documented refusals
            status = 1
        check_run(root, before, declared, None, status, "", models=bool(call["export"]))


@given(flags=upscale_flags)
@examples(QUICK)
def test_srcnn_upscale_changes_only_its_outputs(harness, flags):
    upscale_property(harness, flags)


@given(flags=export_flags)
@examples(QUICK)
def test_srcnn_export_changes_only_its_model(harness, flags):
    export_property(harness, flags)


@given(call=api_calls)
@examples(QUICK)
def test_the_api_changes_only_its_outputs(harness, call):
    api_property(harness, call)


@pytest.mark.slow
@given(flags=upscale_flags)
@examples(LONG_UPSCALE)
def test_srcnn_upscale_changes_only_its_outputs_long(harness, flags):
    upscale_property(harness, flags)


@pytest.mark.slow
@given(flags=export_flags)
@examples(LONG_EXPORT)
def test_srcnn_export_changes_only_its_model_long(harness, flags):
    export_property(harness, flags)


@pytest.mark.slow
@given(call=api_calls)
@examples(LONG)
def test_the_api_changes_only_its_outputs_long(harness, call):
    api_property(harness, call)
