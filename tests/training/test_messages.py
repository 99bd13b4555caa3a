"""The training side's library speaks in settings, never in flags: only the scripts name flags.

A program that imports srcnn has no --log-dir; the scripts add the flag to the library's
typed errors (`srcnn.core.errors.with_hint`). This scans the library's string literals.
"""

import ast
import re

import pytest

from conftest import ROOT

LIBRARY = sorted((ROOT / "srcnn" / "training").glob("*.py")) + [
    ROOT / "srcnn" / "core" / name for name in ("checkpoints.py", "files.py", "flags.py")]
# A flag as a message writes it: two dashes and a lower-case word (CSS variables in the
# sample page, `--ink:` and `var(--ink)`, are not flags).
FLAG = re.compile(r"(?<![\w(-])--[a-z][a-z0-9-]*(?![\w:-])")


def string_literals(path):
    """(line, text) of every string constant in a module, f-strings' literal parts included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def flags_named(path):
    return [(line, match) for line, text in string_literals(path) for match in FLAG.findall(text)]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda path: path.name)
def test_no_library_string_names_a_flag(path):
    assert flags_named(path) == []


def test_the_scan_finds_a_flag_and_leaves_css_alone(tmp_path):
    module = tmp_path / "module.py"
    module.write_text('x = f"{path}: cannot write; pass another --log-dir"\n'
                      'css = ":root { --ink: #123; } a { color: var(--ink); }"\n')
    assert flags_named(module) == [(1, "--log-dir")]


def test_no_training_module_uses_the_untyped_alias():
    for path in LIBRARY:
        assert "UserError" not in path.read_text(), path
