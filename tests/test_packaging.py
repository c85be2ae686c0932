"""What ``pip install`` of gatejac puts on a machine: the wheel holds one top-level package,
``gatejac`` (nothing named ``symbolic``, ``numeric`` or ``verify``), with ``py.typed`` and the
licence; installed into a fresh virtual environment it imports as ``gatejac.*`` and its
command line answers ``--version``.

The wheel is built offline from a copy of the source (``pip wheel --no-build-isolation`` with
this environment's setuptools); the fresh environment borrows this one's dependencies (torch
among them) through a ``.pth`` file instead of downloading them.
"""

import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

import gatejac

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
SOURCES = ["pyproject.toml", "README.md", "LICENSE", "gatejac", "symbolic", "numeric", "verify"]
GENERIC = {"symbolic", "numeric", "verify"}


def _run(*command, cwd=None):
    """Run ``command`` (by default outside this checkout, whose ``gatejac/`` folder would shadow
    the installed package on ``sys.path``) and return its stdout."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300,
                            cwd=cwd or Path(sys.executable).anchor)
    assert result.returncode == 0, f"{command}: {result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, source / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                            if (ROOT / name).is_dir() else {}))
    out = tmp_path_factory.mktemp("wheel")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", out, source)
    (built,) = out.glob("gatejac-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh(wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel installed; returns its ``bin`` directory."""
    environment = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", "--without-pip", environment)
    python = environment / "bin" / "python"
    purelib = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    (purelib / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q", wheel)
    return environment / "bin"


def test_the_wheel_holds_only_the_gatejac_package_with_its_marker_and_licence(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"gatejac", f"gatejac-{PROJECT['version']}.dist-info"}
    assert {"gatejac/py.typed", "gatejac/verify/_plugin.py", "gatejac/symbolic/cells/__init__.py",
            "gatejac/numeric/__init__.py"} <= set(names)
    (licence,) = [name for name in names if name.endswith("/LICENSE")]
    assert "MIT License" in zipfile.ZipFile(wheel).read(licence).decode()


def test_a_fresh_install_imports_as_gatejac_and_adds_no_generic_top_level_package(fresh):
    found = json.loads(_run(fresh / "python", "-c", """if True:
        import json, sysconfig
        from importlib.metadata import entry_points
        from pathlib import Path
        import gatejac, gatejac.verify
        purelib = Path(sysconfig.get_paths()["purelib"])
        print(json.dumps({
            "file": gatejac.verify.__file__, "purelib": str(purelib),
            "top": sorted(p.name for p in purelib.iterdir()),
            "plugin": [ep.value for ep in entry_points(group="pytest11") if ep.name == "gatejac"],
            "script": [ep.value for ep in entry_points(group="console_scripts") if ep.name == "gatejac"],
            "layers": [gatejac.symbolic.__name__, gatejac.numeric.__name__],
        }))
    """))
    assert found["file"].startswith(found["purelib"])  # the installed copy, not this checkout
    assert not GENERIC & set(found["top"])
    assert found["plugin"][0] == "gatejac.verify._plugin"
    assert found["script"][0] == "gatejac.verify._cli:main"
    assert found["layers"] == ["gatejac.symbolic", "gatejac.numeric"]


@pytest.mark.parametrize("command", [["gatejac"], ["python", "-m", "gatejac"]])
def test_the_installed_command_line_prints_its_version(fresh, command):
    executable = fresh / command[0]
    assert _run(executable, *command[1:], "--version") == f"gatejac {PROJECT['version']}\n"


def test_this_checkouts_command_line_prints_the_same_version():
    scripts = Path(sys.executable).parent
    assert _run(scripts / "gatejac", "--version") == f"gatejac {PROJECT['version']}\n"
    assert _run(sys.executable, "-m", "gatejac", "--version") == f"gatejac {PROJECT['version']}\n"
    assert gatejac.__version__ == PROJECT["version"]
