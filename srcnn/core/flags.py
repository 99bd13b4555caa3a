"""argparse types for the scripts' numeric flags: a bad value is a usage error (exit 2) at parse time."""

import argparse
import math

from srcnn.core.choices import CRF_RANGE


def positive_int(text):
    """An integer >= 1 (sizes, counts, steps)."""
    value = _number(text, int, "an integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def positive_float(text):
    """A finite number > 0 (a learning rate)."""
    value = _number(text, float, "a number")
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number above 0")
    return value


MAX_MINUTES = 7 * 24 * 60  # a time budget of a week at most: longer runs continue by rerunning


def minutes(text):
    """A time budget in minutes: a finite number > 0, at most `MAX_MINUTES`."""
    value = positive_float(text)
    if value > MAX_MINUTES:
        raise argparse.ArgumentTypeError(f"{text} minutes is over a week ({MAX_MINUTES}); a rerun continues a "
                                         "run, so train a week at a time")
    return value


SEED_LIMIT = 2**32  # numpy's and Keras's seeds are 32-bit unsigned


def seed(text):
    """A random seed: an integer from 0 to 2**32 - 1 (what numpy and Keras accept)."""
    value = _number(text, int, "an integer")
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and {SEED_LIMIT - 1}")
    return value


def crf(text):
    """An x264 constant rate factor: an integer from 0 (lossless) to 51."""
    try:
        return check_crf(_number(text, int, "an integer"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def check_crf(value):
    """`value` if it is an x264 constant rate factor (the flag and the API check it here), else ValueError."""
    low, high = CRF_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"crf {value!r} is not an integer from {low} (lossless) to {high}")
    return value


def _number(text, kind, what):
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def flag_name(setting):
    """The command-line flag of a setting: its name in kebab case after two dashes (the scripts' one convention)."""
    return "--" + setting.replace("_", "-")


def setting_hint(error):
    """A command's hint for a `SettingError` (see `errors.with_hint`): the flag that changes it."""
    return f"pass another {flag_name(error.setting)}" if getattr(error, "setting", None) else None
