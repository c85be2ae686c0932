"""Where the fused writer's compiled code is cached (``numeric._numba_cache``).

The rule: numba's own ``NUMBA_CACHE_DIR`` when set, else ``$GATEJAC_CACHE_DIR/numba``, else
``$XDG_CACHE_HOME/gatejac/numba``, else ``~/.cache/gatejac/numba``, each with a subdirectory named
by the hash of the package's numba sources; the kernel declared under the rule caches there, and
numba's process-wide setting is left as it was.
"""

from __future__ import annotations

import shutil
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
    return monkeypatch


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


@pytest.mark.parametrize("module", ["_fused.py", "_streaming.py", "_jit_math.py", "_tangent_tiles.py", "_jit_codegen.py"])
def test_a_change_to_any_module_numba_compiles_from_changes_the_key(package_copy, module):
    assert _numba_cache.source_key(package_copy) == KEY  # the copy is keyed as the package itself
    path = package_copy / module
    path.write_bytes(path.read_bytes().replace(b'"""', b'""" ', 1))
    assert _numba_cache.source_key(package_copy) != KEY


def test_a_change_to_a_module_without_numba_code_keeps_the_key(package_copy):
    path = package_copy / "_spectra.py"
    path.write_bytes(path.read_bytes() + b"\n# an edit\n")
    assert _numba_cache.source_key(package_copy) == KEY
