"""The error type for mistakes a user can make (bad path, mismatched file, wrong flag).

Scripts catch it and print its message as one line, with no traceback.
"""


class UserError(Exception):
    """A problem the user can fix; the message names the file or value and what to do."""


def exit_on_user_error(main):
    """Decorates a script's `main` so a UserError prints one line and returns exit code 1."""
    import functools
    import sys

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1

    return wrapper
