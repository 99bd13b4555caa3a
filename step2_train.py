"""Step 2: train the SRCNN network on the patches of step 1.

    python step2_train.py                       # h5/train.h5 -> checkpoint/x3/, logs/x3/
    python step2_train.py --optimizer sgd       # the paper's recipe (much slower to converge)
    tensorboard --logdir logs

A rerun continues from the latest checkpoint in --checkpoint-dir; --fresh starts over.
"""

import argparse
import sys

from srcnn import data
from srcnn.errors import exit_on_user_error
from srcnn.model import valid_margin
from srcnn.train import OPTIMIZERS, TrainSettings, train

DEFAULTS = TrainSettings()


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train-h5", default="h5/train.h5")
    parser.add_argument("--test-h5", default="h5/test.h5", help="validation images, evaluated each epoch")
    parser.add_argument("--scale", type=int, default=DEFAULTS.scale, choices=(2, 3, 4))
    parser.add_argument("--arch", default=DEFAULTS.arch, help="filter sizes f1-f2-f3: 9-1-5 (ECCV 2014) or 9-5-5 (TPAMI 2016)")
    parser.add_argument("--image-size", type=int, default=33, help="input patch side the h5 must have")
    parser.add_argument("--optimizer", default=DEFAULTS.optimizer, choices=OPTIMIZERS,
                        help="adam: He init, Adam, cosine decay (default); sgd: the paper's recipe")
    parser.add_argument("--learning-rate", type=float, default=None, help="default 1e-3 (adam) or 1e-4 (sgd)")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--checkpoint-dir", default=None, help="default checkpoint/x{scale}")
    parser.add_argument("--log-dir", default=None, help="default logs/x{scale}")
    parser.add_argument("--save-every", type=int, default=DEFAULTS.save_every, help="steps between checkpoints")
    parser.add_argument("--log-every", type=int, default=DEFAULTS.log_every, help="steps between log lines")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=DEFAULTS.augment,
                        help="random flip/rotation of each batch (default on; worth ~0.1 dB on Set5 x3)")
    parser.add_argument("--fresh", action="store_true", help="ignore and delete earlier checkpoints, start over")
    return parser.parse_args(argv)


@exit_on_user_error
def main(argv=None):
    args = parse_args(argv)
    try:
        valid_margin(args.arch)
    except ValueError as error:
        print(f"error: --arch: {error}", file=sys.stderr)
        return 1
    settings = TrainSettings(
        scale=args.scale, arch=args.arch, optimizer=args.optimizer, learning_rate=args.learning_rate,
        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
        checkpoint_dir=args.checkpoint_dir or f"checkpoint/x{args.scale}",
        log_dir=args.log_dir or f"logs/x{args.scale}", save_every=args.save_every, log_every=args.log_every,
        augment=args.augment, fresh=args.fresh)
    patches, labels, _ = data.read_train_h5(args.train_h5, {"scale": args.scale, "image_size": args.image_size})
    test_images, _ = data.read_test_h5(args.test_h5, {"scale": args.scale})
    history = train(settings, patches, labels, test_images)
    if history:
        last = history[-1]
        print(f"finished: epoch {last['epoch']}, step {last['step']}, validation PSNR {last['psnr']:.2f} dB "
              f"(bicubic {last['bicubic_psnr']:.2f}), checkpoints in {settings.checkpoint_dir}")
    else:
        print(f"nothing to do: already trained for {settings.epochs} epochs (raise --epochs or pass --fresh)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
