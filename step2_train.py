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
from srcnn.training import run_folders
from srcnn.training import batches
from srcnn.training import hdf5
from srcnn.core.choices import SCALES
from srcnn.core.errors import exit_on_interrupt, exit_on_user_error
from srcnn.core.flags import positive_float, positive_int, seed
from srcnn.core.model import INITIALIZATIONS, valid_margin
from srcnn.training.config import OPTIMIZERS, TRAINING_PRECISIONS, TrainSettings
from srcnn.training.distribution import STRATEGIES, make_strategy
from srcnn.training.loop import train_on
from srcnn.training.progress import epochs_for_minutes

DEFAULTS = TrainSettings()


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-h5", default="h5/train.h5")
    parser.add_argument("--test-h5", default="h5/test.h5", help="validation images, evaluated each epoch")
    parser.add_argument("--scale", type=int, default=DEFAULTS.scale, choices=SCALES)
    parser.add_argument("--arch", default=DEFAULTS.arch, type=architecture,
                        help="filter sizes f1-f2-f3: 9-1-5 (ECCV 2014) or 9-5-5 (TPAMI 2016)")
    parser.add_argument("--image-size", type=positive_int, default=33, help="input patch side the h5 must have")
    parser.add_argument("--optimizer", default=DEFAULTS.optimizer, choices=OPTIMIZERS,
                        help="adam: He init, Adam, cosine decay (default); sgd: the paper's recipe")
    parser.add_argument("--learning-rate", type=positive_float, default=None, help="default 1e-3 (adam) or 1e-4 (sgd)")
    parser.add_argument("--initialization", choices=INITIALIZATIONS, default=None,
                        help="identity (default with adam): He init with one path that passes the input, so "
                             "training starts from bicubic; he; gaussian (default with sgd, the paper's)")
    parser.add_argument("--epochs", type=positive_int, default=None, help=f"default {DEFAULTS.epochs}")
    parser.add_argument("--minutes", type=positive_float, default=None,
                        help="instead of --epochs: as many epochs as train in this many minutes here, measured "
                             "by a short trial before the run")
    parser.add_argument("--batch-size", type=positive_int, default=DEFAULTS.batch_size,
                        help="global batch; split evenly across replicas with --strategy mirrored")
    parser.add_argument("--seed", type=seed, default=DEFAULTS.seed, help="0 to 2**32 - 1")
    parser.add_argument("--checkpoint-dir", default=None, help="default checkpoint/x{scale}")
    parser.add_argument("--log-dir", default=None,
                        help="default logs/x{scale}, or CHECKPOINT_DIR/logs with --checkpoint-dir (one log folder "
                             "per checkpoint folder)")
    parser.add_argument("--save-every", type=positive_int, default=DEFAULTS.save_every,
                        help="steps between checkpoints")
    parser.add_argument("--log-every", type=positive_int, default=None,
                        help=f"print a loss line every this many steps (TensorBoard gets the loss every "
                             f"{DEFAULTS.log_every} steps without it); a progress bar shows it anyway")
    parser.add_argument("--precision", default=DEFAULTS.precision, choices=TRAINING_PRECISIONS,
                        help="auto (default): mixed_bfloat16 where the CPU (AVX512-BF16, AMX) or GPU runs "
                             "bfloat16 natively, else float32; mixed_bfloat16 computes in bfloat16 with "
                             "float32 weights")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=DEFAULTS.augment,
                        help="random flip/rotation of each batch (default on; its effect is measured in docs/results.md)")
    parser.add_argument("--fresh", action="store_true",
                        help="delete earlier checkpoints, history.csv and TensorBoard events, start over")
    parser.add_argument("--strategy", default="default", choices=STRATEGIES,
                        help="default: one device; mirrored: tf.distribute.MirroredStrategy over all local "
                             "GPUs (or logical CPU devices where there is none); multi-worker: "
                             "MultiWorkerMirroredStrategy over the machines in TF_CONFIG")
    parser.add_argument("--replicas", type=positive_int, default=None,
                        help="with --strategy mirrored: GPUs to use (default all), or logical CPU devices "
                             "to make without a GPU (default 2)")
    parser.add_argument("--stream", action=argparse.BooleanOptionalAction, default=None,
                        help="read --train-h5 in chunks instead of whole (default: only when it is larger "
                             "than half the free memory)")
    parser.add_argument("--shuffle-buffer", type=positive_int, default=batches.SHUFFLE_BUFFER,
                        help="when streaming: patches held in memory to shuffle among (~6 KB each)")
    args = parser.parse_args(argv)
    if args.replicas is not None and args.strategy != "mirrored":
        parser.error("--replicas needs --strategy mirrored")
    if args.replicas is not None and args.batch_size % args.replicas:
        parser.error(f"--batch-size {args.batch_size} does not split evenly over --replicas {args.replicas}; "
                     f"pass a multiple of {args.replicas}")
    if args.epochs is not None and args.minutes is not None:
        parser.error("pass --epochs or --minutes, not both")
    return args


def architecture(text):
    """argparse type: filter sizes f1-f2-f3 the network can have."""
    try:
        valid_margin(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def default_log_dir(args):
    """logs/x{scale} beside the default checkpoint folder; inside any other, so that runs never share one."""
    return f"logs/x{args.scale}" if args.checkpoint_dir is None else os.path.join(args.checkpoint_dir, "logs")


def open_patches(args, expected):
    """Patches streamed from disk or loaded whole, and a line saying which when streaming."""
    stream = args.stream if args.stream is not None else batches.too_big_to_load(args.train_h5)
    if not stream:
        patches, labels, _ = hdf5.read_train_h5(args.train_h5, expected)
        return batches.PatchArrays(patches, labels), None
    patches = batches.PatchStream(args.train_h5, expected, args.shuffle_buffer)
    why = "" if args.stream else " (larger than half the free memory; --no-stream loads it whole)"
    return patches, (f"Streaming {args.train_h5}{why}: {patches.count} patches in chunks of "
                     f"{batches.STREAM_CHUNK}, shuffled within {args.shuffle_buffer}")


@exit_on_interrupt("nothing new was saved; rerun to continue from the last checkpoint")
@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    strategy = make_strategy(args.strategy, args.replicas)  # before anything else touches the devices
    settings = TrainSettings(
        scale=args.scale, arch=args.arch, optimizer=args.optimizer, learning_rate=args.learning_rate,
        initialization=args.initialization, epochs=args.epochs or DEFAULTS.epochs, batch_size=args.batch_size,
        seed=args.seed, checkpoint_dir=args.checkpoint_dir or f"checkpoint/x{args.scale}",
        log_dir=args.log_dir or default_log_dir(args), save_every=args.save_every,
        log_every=args.log_every or DEFAULTS.log_every, print_steps=args.log_every is not None,
        augment=args.augment, precision=args.precision, fresh=args.fresh)
    patches, streaming = open_patches(args, {"scale": args.scale, "image_size": args.image_size})
    with contextlib.closing(patches) if streaming else contextlib.nullcontext():
        test_images, _ = hdf5.read_test_h5(args.test_h5, {"scale": args.scale})
        if streaming:
            print(streaming)
        replicas = strategy.num_replicas_in_sync
        if replicas > 1:
            devices = ", ".join(device.split("device:")[-1] for device in strategy.extended.worker_devices)
            resolver = strategy.cluster_resolver
            if resolver and resolver.task_type:
                devices = f"{devices} on {resolver.task_type} {resolver.task_id} of this cluster"
            print(f"Training on {replicas} replicas ({devices}): each step's batch of {settings.batch_size} "
                  f"patches is split {settings.batch_size // replicas} per replica")
        with run_folders.claim(settings, strategy.extended.should_checkpoint):
            if args.minutes is not None:
                settings = dataclasses.replace(settings, epochs=epochs_for_minutes(
                    settings, patches, test_images, args.minutes, strategy=strategy))
            history = train_on(settings, patches, test_images, strategy=strategy)
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
    sys.exit(main())
