"""pyproject.toml: the dependencies match requirements.txt, and the wheel carries the weights.

The wheel is built without network (no build isolation, no dependencies) and unpacked;
`srcnn` is then imported from the unpacked copy in another process and another folder,
as an installed package is, and must find its shipped weights there.
"""

import re
import subprocess
import sys
import tomllib
import zipfile

import pytest

import srcnn

from conftest import ROOT


def requirement_name(line):
    return re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_dependencies_are_those_of_requirements_txt():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {requirement_name(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith(("#", "-e"))}
    runtime = {requirement_name(line) for line in project["dependencies"]}
    extras = {requirement_name(line) for group in project["optional-dependencies"].values() for line in group}
    assert runtime <= required  # CI installs everything the package needs
    assert required == runtime | extras  # and nothing the package does not declare
    assert not runtime & {"pytest", "onnxruntime", "ai-edge-litert", "tf2onnx", "onnx"}  # the runtime stays lean


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(folder), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-3000:]
    path, = folder.glob("srcnn-*.whl")
    return path


@pytest.mark.slow
def test_wheel_holds_the_package_the_weights_and_the_console_scripts(wheel):
    assert wheel.name.startswith(f"srcnn-{srcnn.__version__}-")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read(f"srcnn-{srcnn.__version__}.dist-info/entry_points.txt").decode()
    for scale in (2, 3, 4):
        assert f"srcnn/pretrained/x{scale}/srcnn.index" in names
        assert f"srcnn/pretrained/x{scale}/srcnn.data-00000-of-00001" in names
        # the recipe that step 3 prints on the weights line, and the curve of the sample page
        assert f"srcnn/pretrained/x{scale}/recipe.json" in names
        assert f"srcnn/pretrained/x{scale}/history.csv" in names
    for name in ("srcnn.index", "srcnn.data-00000-of-00001", "recipe.json", "history.csv"):
        assert f"srcnn/pretrained/9-5-5/x3/{name}" in names  # the other shipped networks, in <arch>/x<scale>/
    assert {"srcnn/__init__.py", "srcnn/upscaling/upscaler.py", "srcnn/upscaling/export.py", "srcnn/commands/cli.py"} <= names
    assert "srcnn-upscale = srcnn.commands.cli:upscale_main" in entry_points
    assert "srcnn-export = srcnn.commands.cli:export_main" in entry_points
    assert "srcnn-upscale-batch = srcnn.upscaling.batch:main" in entry_points


@pytest.mark.slow
def test_installed_package_finds_its_weights_from_any_folder(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); "
             "from srcnn.core import checkpoints; print(checkpoints.pretrained_path(3)); "
             "print(checkpoints.read_config(checkpoints.pretrained_path(3))); print(checkpoints.describe_shipped())")
    finished = subprocess.run([sys.executable, "-I", "-c", probe, str(site)], cwd=elsewhere, capture_output=True,
                              text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    path, config, shipped = finished.stdout.strip().splitlines()[-3:]
    assert path == str(site / "srcnn" / "pretrained" / "x3" / "srcnn")
    assert config == "{'scale': 3, 'arch': '9-1-5', 'channels': 'y'}"
    assert shipped == "9-1-5 x2, x3, x4; 9-5-5 x2, x3, x4"


def module_imports(path, package_root):
    """The srcnn modules a module imports when it loads (its top-level imports, not those inside functions)."""
    import ast

    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        for statement in ast.walk(node) if isinstance(node, (ast.Try, ast.If)) else [node]:
            if isinstance(statement, ast.Import):
                found.update(alias.name for alias in statement.names if alias.name.startswith("srcnn"))
            elif isinstance(statement, ast.ImportFrom) and (statement.module or "").startswith("srcnn"):
                for alias in statement.names:  # `from srcnn.training import hdf5` imports a module
                    module = f"{statement.module}.{alias.name}"
                    found.add(module if (package_root.parent / (module.replace(".", "/") + ".py")).exists()
                              else statement.module)
    return found


def test_no_import_cycle():
    package = ROOT / "srcnn"
    names = {".".join(path.relative_to(ROOT).with_suffix("").parts): path for path in package.rglob("*.py")}
    graph = {name: {imported for imported in module_imports(path, package) if imported in names and imported != name
                    and not name.startswith(imported + ".")}  # a module's own package loads first anyway
             for name, path in names.items()}
    done, cycles = set(), []

    def visit(name, chain):
        if name in chain:
            cycles.append(chain[chain.index(name):] + [name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, chain + [name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []
