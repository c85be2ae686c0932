"""Where the fused writer's compiled code is cached (``numeric._numba_cache``).

The rule: numba's own ``NUMBA_CACHE_DIR`` when set, else ``$GATEJAC_CACHE_DIR/numba``, else
``$XDG_CACHE_HOME/gatejac/numba``, else ``~/.cache/gatejac/numba``, each with a subdirectory named
by the hash of the package's numba sources (``NUMBA_SOURCES``, checked against the modules that
use numba); the kernel declared under the rule caches there, and numba's process-wide setting is
left as it was.  Old key directories are pruned when a new one is created.
"""

from __future__ import annotations

import ast
import os
import shutil
import time
from pathlib import Path

import numba
import pytest

from gatejac.numeric import _fused, _numba_cache

VARIABLES = ("NUMBA_CACHE_DIR", "GATEJAC_CACHE_DIR", "XDG_CACHE_HOME")
PACKAGE = Path(_numba_cache.__file__).parent
KEY = _numba_cache.source_key(PACKAGE)


@pytest.fixture
def clean_environment(monkeypatch, tmp_path):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _numba_cache._claim.cache_clear()  # each test's directories are new to this process
    yield monkeypatch
    _numba_cache._claim.cache_clear()


def test_default_is_under_the_home_cache(clean_environment, tmp_path):
    assert _numba_cache.cache_directory() == tmp_path / "home" / ".cache" / "gatejac" / "numba" / KEY


def test_xdg_cache_home_is_followed(clean_environment, tmp_path):
    clean_environment.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _numba_cache.cache_directory() == tmp_path / "xdg" / "gatejac" / "numba" / KEY


def test_gatejac_cache_dir_overrides_xdg(clean_environment, tmp_path):
    clean_environment.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    clean_environment.setenv("GATEJAC_CACHE_DIR", str(tmp_path / "mine"))
    assert _numba_cache.cache_directory() == tmp_path / "mine" / "numba" / KEY


def test_numbas_own_setting_wins(clean_environment, tmp_path):
    clean_environment.setenv("GATEJAC_CACHE_DIR", str(tmp_path / "mine"))
    clean_environment.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba-wide"))
    assert _numba_cache.cache_directory() == tmp_path / "numba-wide" / KEY


def test_a_kernel_declared_under_the_rule_caches_there_and_numbas_setting_is_restored(clean_environment, tmp_path):
    clean_environment.setenv("GATEJAC_CACHE_DIR", str(tmp_path / "mine"))
    before = numba.config.CACHE_DIR

    def twice(x):
        return 2 * x

    kernel = _numba_cache.cached_njit()(twice)
    assert numba.config.CACHE_DIR == before
    assert Path(kernel.stats.cache_path).is_relative_to(tmp_path / "mine" / "numba")


def test_an_unwritable_directory_falls_back_to_numbas_locations(clean_environment, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    clean_environment.setenv("GATEJAC_CACHE_DIR", str(blocker))

    def thrice(x):
        return 3 * x

    kernel = _numba_cache.cached_njit()(thrice)  # numba cannot make a-file/numba: another location, no error
    assert not Path(kernel.stats.cache_path).is_relative_to(blocker)


def test_the_fused_writer_is_cached_under_the_rule_of_its_import():
    assert Path(_fused._write_rows.stats.cache_path).is_relative_to(_numba_cache.cache_directory())


@pytest.fixture
def package_copy(tmp_path):
    """A copy of the numeric package's modules, to change one at a time."""
    copy = tmp_path / "numeric"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_the_key_covers_the_streaming_stores():
    """``_streaming`` (inlined by the fused writer and the jit kernels) is among the key's modules."""
    assert "_streaming" in _numba_cache.NUMBA_SOURCES


@pytest.mark.parametrize("module", _numba_cache.NUMBA_SOURCES)
def test_a_change_to_any_module_numba_compiles_from_changes_the_key(package_copy, module):
    assert _numba_cache.source_key(package_copy) == KEY  # the copy is keyed as the package itself
    path = package_copy / f"{module}.py"
    path.write_bytes(path.read_bytes().replace(b'"""', b'""" ', 1))
    assert _numba_cache.source_key(package_copy) != KEY


@pytest.mark.parametrize("module", ["_spectra.py", "_jit_codegen.py", "_numba_cache.py"])
def test_a_change_to_a_module_without_numba_code_keeps_the_key(package_copy, module):
    """Neither another module nor the code generator (its generated source is a new file when it
    changes) nor the cache rule itself changes the key."""
    path = package_copy / module
    path.write_bytes(path.read_bytes() + b"\n# an edit\n")
    assert _numba_cache.source_key(package_copy) == KEY


_NUMBA_NAMES = {"cached_njit", "njit", "jit", "intrinsic", "overload", "overload_method", "register_jitable",
                "generated_jit", "vectorize", "guvectorize", "cfunc", "stencil"}
"""Names whose use (a decorator or a call) makes numba compile a module's code."""


def _numba_modules(package: Path) -> set:
    """The modules of ``package`` that declare numba code: a name of :data:`_NUMBA_NAMES` used
    as ``numba.<name>`` (``numba.extending.<name>`` ...) or imported from numba or
    ``_numba_cache`` and used, not merely written in a string (the code generators write
    ``cached_njit`` into their output).  ``_numba_cache`` is the machinery itself."""
    found = set()
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                    and (node.module or "").split(".")[0] in ("numba", "_numba_cache") for alias in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in _NUMBA_NAMES & imported:
                found.add(path.stem)
            elif isinstance(node, ast.Attribute) and node.attr in _NUMBA_NAMES:
                root = node.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id == "numba":
                    found.add(path.stem)
    return found - {"_numba_cache"}


def test_the_keyed_modules_are_the_modules_that_use_numba():
    assert _numba_modules(PACKAGE) == set(_numba_cache.NUMBA_SOURCES)


@pytest.mark.parametrize("kernel", ["from ._numba_cache import cached_njit\n\n@cached_njit()\ndef f(x):\n    return x\n",
                                    "import numba\n\n@numba.njit\ndef f(x):\n    return x\n",
                                    "from numba.extending import intrinsic\n\n@intrinsic\ndef f(typingctx, x):\n"
                                    "    return None\n"])
def test_a_new_module_using_numba_is_caught(package_copy, kernel):
    """The check above fails for a module that declares numba code and is not listed."""
    (package_copy / "_new_kernels.py").write_text(kernel)
    assert _numba_modules(package_copy) == {*_numba_cache.NUMBA_SOURCES, "_new_kernels"}


# ----------------------------------------------------------------- pruning old keys
def _key_directory(root: Path, name: str, days_unused: float | None, marker: bool = True) -> Path:
    """A key directory under ``root`` last used ``days_unused`` days ago (its marker's time
    stamp, or the directory's own without a marker)."""
    directory = root / name
    (directory / "jit").mkdir(parents=True)
    (directory / "jit" / "kernel.nbi").write_text("cached")
    stamped = directory / "last-used" if marker else directory
    if marker:
        stamped.touch()
    when = time.time() - days_unused * 86400
    os.utime(stamped, (when, when))
    return directory


def test_a_new_key_directory_prunes_siblings_unused_for_30_days(clean_environment, tmp_path):
    clean_environment.setenv("GATEJAC_CACHE_DIR", str(tmp_path / "mine"))
    root = tmp_path / "mine" / "numba"
    old = _key_directory(root, "0123456789abcdef", 31)
    unmarked = _key_directory(root, "fedcba9876543210", 45, marker=False)  # from before the marker
    recent = _key_directory(root, "00000000000000aa", 29)
    other = _key_directory(root, "notes-of-mine", 400)  # not a key: never touched
    left_over = _key_directory(root, "00000000000000bb.pruned-12", 1)  # an unfinished removal
    directory = _numba_cache.cache_directory()
    assert directory == root / KEY and (directory / "last-used").is_file()
    assert not old.exists() and not unmarked.exists() and not left_over.exists()
    assert recent.exists() and other.exists()
    assert sorted(p.name for p in root.iterdir()) == sorted([KEY, recent.name, other.name])


def test_an_existing_key_directory_is_marked_and_prunes_nothing(clean_environment, tmp_path):
    clean_environment.setenv("GATEJAC_CACHE_DIR", str(tmp_path / "mine"))
    root = tmp_path / "mine" / "numba"
    current = _key_directory(root, KEY, 40)
    old = _key_directory(root, "0123456789abcdef", 40)
    assert _numba_cache.cache_directory() == current
    assert old.exists()
    assert time.time() - (current / "last-used").stat().st_mtime < 600  # marked as used now


def test_pruning_keeps_the_current_key_and_survives_a_directory_it_cannot_move(tmp_path, monkeypatch):
    """The current key is kept however old its mark; a directory that cannot be renamed (another
    process holds it, or removed it first) is skipped without an error."""
    root = tmp_path / "numba"
    current = _key_directory(root, "aaaaaaaaaaaaaaaa", 90)
    held = _key_directory(root, "bbbbbbbbbbbbbbbb", 90)
    old = _key_directory(root, "cccccccccccccccc", 90)
    real = Path.rename

    def rename(self, target):
        if self.name == held.name:
            raise PermissionError(f"{self} is in use")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    assert _numba_cache.prune(root, keep=current.name) == [old.name]
    assert current.exists() and held.exists() and not old.exists()


def test_an_unwritable_root_is_left_to_numba(clean_environment, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    clean_environment.setenv("GATEJAC_CACHE_DIR", str(blocker))
    assert _numba_cache.cache_directory() == blocker / "numba" / KEY  # no error


def test_numbas_own_cache_directory_is_never_pruned(clean_environment, tmp_path):
    """Under ``NUMBA_CACHE_DIR`` (the user's numba cache, shared with other programs) a new key
    directory prunes nothing, however old its 16-hex-digit siblings."""
    clean_environment.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba-own"))
    old = _key_directory(tmp_path / "numba-own", "0123456789abcdef", 400)
    assert _numba_cache.cache_directory() == tmp_path / "numba-own" / KEY
    assert old.exists()


def test_a_key_directory_claimed_while_it_is_renamed_away_is_given_back(tmp_path, monkeypatch):
    """A process that marks an old key directory between the pruner's look and its rename (an old
    checkout starting) finds it again under its key; a symbolic link is never followed."""
    root = tmp_path / "numba"
    current = _key_directory(root, "aaaaaaaaaaaaaaaa", 0)
    claimed = _key_directory(root, "bbbbbbbbbbbbbbbb", 90)
    (root / "cccccccccccccccc").symlink_to(_key_directory(tmp_path / "elsewhere", "dddddddddddddddd", 90))
    real = Path.rename

    def rename(self, target):
        moved = real(self, target)
        if self.name == claimed.name:
            (Path(target) / "last-used").touch()  # the other process's mark lands on the moved directory
        return moved

    monkeypatch.setattr(Path, "rename", rename)
    assert _numba_cache.prune(root, keep=current.name) == []
    assert claimed.exists() and (root / "cccccccccccccccc").is_symlink()
    assert (tmp_path / "elsewhere" / "dddddddddddddddd").exists()
