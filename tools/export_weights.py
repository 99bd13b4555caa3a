"""Copies the weights of a training checkpoint into a weights-only bundle (no optimizer state),
with the recipe.json beside it when the checkpoint has one.

    python tools/export_weights.py checkpoint/x3 checkpoint/pretrained/x3/srcnn

This is how the shipped weights under checkpoint/pretrained/ were made.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from srcnn.core import checkpoints  # noqa: E402
from srcnn.core.errors import exit_on_user_error  # noqa: E402


@exit_on_user_error
def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    source = checkpoints.resolve(argv[0])
    model, config = checkpoints.load_model(source)
    written = checkpoints.export_weights(model, config["scale"], argv[1], recipe=checkpoints.read_recipe(source))
    size = sum(os.path.getsize(os.path.join(os.path.dirname(written), name))
               for name in os.listdir(os.path.dirname(written)) if name.startswith(os.path.basename(written)))
    print(f"{source} -> {written} ({config['arch']}, x{config['scale']}, {size / 1024:.0f} KB); "
          f"recipe: {checkpoints.describe_recipe(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
