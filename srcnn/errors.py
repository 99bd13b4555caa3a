"""The error type for mistakes a user can make (bad path, mismatched file, wrong flag).

Scripts catch it and print its message as one line, with no traceback, as the last line
of their output.
"""


class UserError(Exception):
    """A problem the user can fix; the message names the file or value and what to do."""


def exit_on_user_error(main):
    """Decorates a script's `main` so a UserError prints one line and returns exit code 1."""
    import functools
    import gc
    import sys

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except UserError as error:
            message = str(error)
        # The error's traceback holds the failed call's objects; TensorFlow logs warnings when
        # some are deleted (a checkpoint restore that did not finish). Let that happen now, so
        # the error is the last line, not buried under them at exit.
        gc.collect()
        sys.stdout.flush()
        print(f"error: {message}", file=sys.stderr)
        return 1

    return wrapper
