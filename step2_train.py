"""Step 2: train the SRCNN network on the patches of step 1.

    python step2_train.py                       # h5/train.h5 -> checkpoint/x3/, logs/x3/
    python step2_train.py --minutes 10          # as many epochs as train in 10 minutes here
    python step2_train.py --optimizer sgd       # the paper's recipe (much slower to converge)
    python step2_train.py --strategy mirrored   # the batch split over all local GPUs
    TF_CONFIG=... python step2_train.py --strategy multi-worker   # on each machine (see docs/training.md)
    python step2_train.py --stream              # read h5/train.h5 in chunks, not whole
    tensorboard --logdir logs

A rerun continues from the newest complete checkpoint in --checkpoint-dir; --fresh starts
over. Ctrl-C or SIGTERM saves a checkpoint first; a killed run loses at most --save-every
steps. A train.h5 larger than half the free memory is streamed without --stream.
"""

import argparse
import contextlib
import dataclasses
import os
import sys

from srcnn.core import checkpoints
from srcnn.core.checkpoints import WrongScale
from srcnn.core.errors import (CheckpointError, ResumeError, SettingError, exit_on_interrupt, exit_on_user_error,
                               printable)
from srcnn.core.flags import flag_name, setting_hint
from srcnn.training import batches
from srcnn.training import execution as executions
from srcnn.training import hdf5
from srcnn.training.config import add_flags, check_inputs, settings_from_flags
from srcnn.training.distribution import make_strategy
from srcnn.training.loop import train_on
from srcnn.training.progress import epochs_for_minutes
from srcnn.training.run_folder import RunFolder


def parse_args(argv):
    parser = add_flags(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    args = parser.parse_args(argv)
    if args.replicas is not None and args.strategy != "mirrored":
        parser.error("--replicas needs --strategy mirrored")
    if args.replicas is not None and args.batch_size % args.replicas:
        parser.error(f"--batch-size {args.batch_size} does not split evenly over --replicas {args.replicas}; "
                     f"pass a multiple of {args.replicas}")
    if args.epochs is not None and args.minutes is not None:
        parser.error("pass --epochs or --minutes, not both")
    return args


def resume_hint(error):
    """What to pass to continue a run whose recipe fixes the setting, or to start another."""
    return (f"pass {flag_name(error.setting)} {printable(error.recorded)} to continue it, or --fresh or another "
            "--checkpoint-dir to start a new run")


def setting_hint_here(error):
    """The flag that fixes a setting, in this script's words."""
    if error.setting == "learning_rate":
        return "lower --learning-rate and rerun (it resumes from there)"
    return setting_hint(error)


# What to do, in this script's flags, per kind of library error (`srcnn.core.errors.with_hint`).
HINTS = {
    ResumeError: resume_hint,
    WrongScale: resume_hint,
    SettingError: setting_hint_here,
    CheckpointError: "pass --fresh to start over, or another --checkpoint-dir",
}


def open_patches(settings):
    """Patches streamed from disk or loaded whole, and a line saying which when streaming."""
    expected = {"scale": settings.scale, "image_size": settings.image_size, "channels": settings.channels}
    stream = settings.stream if settings.stream is not None else batches.too_big_to_load(settings.train_h5)
    if not stream:
        patches, labels, _ = hdf5.read_train_h5(settings.train_h5, expected)
        return batches.PatchArrays(patches, labels), None
    patches = batches.PatchStream(settings.train_h5, expected, settings.shuffle_buffer)
    why = "" if settings.stream else " (larger than half the free memory; --no-stream loads it whole)"
    return patches, (f"Streaming {settings.train_h5}{why}: {patches.count} patches in chunks of "
                     f"{batches.STREAM_CHUNK}, shuffled within {settings.shuffle_buffer}")


def describe_replicas(strategy, batch_size):
    """The line that says how a batch is split, or None on one device."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return None
    devices = ", ".join(device.split("device:")[-1] for device in strategy.extended.worker_devices)
    resolver = strategy.cluster_resolver
    if resolver and resolver.task_type:
        devices = f"{devices} on {resolver.task_type} {resolver.task_id} of this cluster"
    return (f"Training on {replicas} replicas ({devices}): each step's batch of {batch_size} "
            f"patches is split {batch_size // replicas} per replica")


def choose_execution(settings, strategy, patches):
    """How steps run on one device (`srcnn.training.execution.choose`), its threads set; None over replicas."""
    if not executions.on_one_device(strategy):
        return None
    batch_size = min(settings.batch_size, max(patches.count, 1))
    if settings.minutes is not None:
        to_train = settings.minutes * 60 * 1000  # at a slow 1,000 patches/s
    else:
        to_train = patches.count // batch_size * batch_size * settings.epochs
    execution = executions.choose(settings, batch_size, to_train)
    executions.apply_threads(execution)
    return execution


@exit_on_interrupt("nothing new was saved; rerun to continue from the last checkpoint")
@exit_on_user_error(hints=HINTS)
def main(argv=None):
    args = parse_args(argv)
    settings = settings_from_flags(args)
    strategy = make_strategy(settings.strategy, settings.replicas)  # before anything else touches the devices
    patches, streaming = open_patches(settings)
    with contextlib.closing(patches) if streaming else contextlib.nullcontext():
        check_inputs(settings, patches, strategy)  # patches that do not fit: said before any measuring or folder
        execution = choose_execution(settings, strategy, patches)  # before TensorFlow starts its threads
        if execution:
            settings = dataclasses.replace(settings, execution=execution.name)
        test_images, _ = hdf5.read_test_h5(settings.test_h5, {"scale": settings.scale})
        for line in (streaming, describe_replicas(strategy, settings.batch_size)):
            if line:
                print(line)
        with RunFolder.of(settings).claim(strategy.extended.should_checkpoint):  # before the --minutes trial
            if settings.minutes is not None:
                settings = dataclasses.replace(settings, epochs=epochs_for_minutes(
                    settings, patches, test_images, settings.minutes, strategy=strategy, execution=execution))
            history = train_on(settings, patches, test_images, strategy=strategy, execution=execution)
    if history:
        last = history[-1]
        print(f"finished: epoch {last['epoch']}, step {last['step']}, validation PSNR {last['psnr']:.2f} dB "
              f"(bicubic {last['bicubic_psnr']:.2f}), checkpoints in {settings.checkpoint_dir}")
    else:
        step = checkpoints.checkpoint_number(checkpoints.newest_complete(settings.checkpoint_dir)[0] or "")
        print(f"nothing to do: {settings.checkpoint_dir} is at step {step}, which completes --epochs "
              f"{settings.epochs} (raise --epochs, or pass --fresh to start over)")
    return 0


if __name__ == "__main__":
    exit_code = main()
    # Everything is saved, flushed and closed by now. Skipping the interpreter's teardown keeps
    # TensorFlow's worker threads from crashing it: a run stopped by SIGTERM once ended in a
    # segfault there, after its checkpoint was saved, instead of exit status 143.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
