"""The package reads in one pass: no module over 400 lines, no function over 60 (docstring included)."""

import ast
import glob
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCES = sorted(glob.glob(os.path.join(ROOT, "srcnn", "**", "*.py"), recursive=True)
                 + glob.glob(os.path.join(ROOT, "step*.py")))


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: os.path.relpath(path, ROOT))
def test_modules_and_functions_stay_short(path):
    text = open(path, encoding="utf-8").read()
    assert text.count("\n") <= 400, f"{path}: {text.count(chr(10))} lines; split it by job"
    long = [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(ast.parse(text))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert not long, f"{path}: functions over 60 lines: {long}"


def test_the_package_is_four_folders():
    folders = sorted(name for name in os.listdir(os.path.join(ROOT, "srcnn"))
                     if os.path.isfile(os.path.join(ROOT, "srcnn", name, "__init__.py")))
    assert folders == ["commands", "core", "training", "upscaling"]
    assert sorted(glob.glob(os.path.join(ROOT, "srcnn", "*.py"))) == [os.path.join(ROOT, "srcnn", "__init__.py")]
