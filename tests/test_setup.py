""".ci/setup: a re-run on an installed checkout does nothing (and takes milliseconds), a change
to pyproject.toml reinstalls, the package manager's lock is waited for, the main job never
installs LaTeX, and every long install announces itself in one line.

Most tests run the script in a scratch checkout whose ``.venv`` and package manager are stubs
that log their calls: they exercise the script's decisions without installing anything.  One
runs it on this checkout, which ``.ci/test`` has just set up.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ["bash", "cat", "sha256sum", "cut", "rm", "flock", "dirname", "touch", "chmod", "sleep"]
"""What the script needs from the system; the scratch PATH has these and the stubs only."""


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


def _pip(checkout: Path) -> None:
    """A pip that logs its call and "installs" the gatejac script."""
    script = checkout / ".venv" / "bin" / "gatejac"
    log = checkout / "calls.log"
    _stub(checkout / ".venv" / "bin" / "pip", f'echo "pip $*" >> {log}; touch {script}; chmod +x {script}')


@pytest.fixture
def checkout(tmp_path):
    """A scratch checkout: .ci/setup and pyproject.toml; a .venv whose python and pip log
    their calls; apt-get and id stubs; no pdflatex on PATH."""
    (tmp_path / ".ci").mkdir()
    for name in ("setup", "main"):
        shutil.copy2(ROOT / ".ci" / name, tmp_path / ".ci" / name)
    shutil.copy2(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    log = tmp_path / "calls.log"
    _stub(venv / "python", f'echo "python $*" >> {log}')  # "import torch" succeeds
    _pip(tmp_path)
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in TOOLS:
        (bin_ / tool).symlink_to(shutil.which(tool))
    _stub(bin_ / "apt-get", f'echo "apt-get $*" >> {log}')
    _stub(bin_ / "id", "echo 0")  # as root, so the LaTeX install is attempted
    return tmp_path


def _setup(checkout: Path, *arguments: str, script: str = "setup") -> tuple[subprocess.CompletedProcess, list[str]]:
    log = checkout / "calls.log"
    log.unlink(missing_ok=True)
    result = subprocess.run([shutil.which("bash"), f".ci/{script}", *arguments], cwd=checkout, capture_output=True,
                            text=True, timeout=60, env={"PATH": str(checkout / "bin"), "HOME": str(checkout)})
    return result, log.read_text().splitlines() if log.exists() else []


def test_a_re_run_installs_nothing_until_pyproject_changes(checkout):
    first, calls = _setup(checkout)
    assert first.returncode == 0, first.stderr
    assert "pip install --quiet -e .[sweeps,docs,browser]" in calls
    assert first.stderr == "setup: installing gatejac (editable) and its dependencies into .venv\n"

    again, calls = _setup(checkout)
    assert again.returncode == 0 and calls == [] and again.stderr == ""

    with (checkout / "pyproject.toml").open("a") as handle:
        handle.write("\n# a new dependency would go here\n")
    changed, calls = _setup(checkout)
    assert changed.returncode == 0 and "pip install --quiet -e .[sweeps,docs,browser]" in calls


def test_a_failed_install_is_retried_on_the_next_run(checkout):
    _stub(checkout / ".venv" / "bin" / "pip", "exit 1")
    failed, _ = _setup(checkout)
    assert failed.returncode != 0
    _pip(checkout)
    retried, calls = _setup(checkout)
    assert retried.returncode == 0 and "pip install --quiet -e .[sweeps,docs,browser]" in calls


@pytest.mark.parametrize("flag, packages, announced", [
    ("--latex", "texlive-latex-base", "setup: installing pdflatex"),
    ("--browser", "chromium chromium-driver", "setup: installing chromium"),  # tests/test_report_browser.py
])
def test_system_packages_are_installed_only_when_asked_and_wait_for_the_package_managers_lock(checkout, flag,
                                                                                             packages, announced):
    _setup(checkout)
    plain, calls = _setup(checkout)
    assert not any(call.startswith("apt-get") for call in calls)
    installed, calls = _setup(checkout, flag)
    assert installed.returncode == 0, installed.stderr
    apt = [call for call in calls if call.startswith("apt-get")]
    assert len(apt) == 2 and all("-o DPkg::Lock::Timeout=600" in call for call in apt)
    assert f"install -y -qq --no-install-recommends {packages}" in apt[1]
    assert installed.stderr.count("\n") == 1 and installed.stderr.startswith(announced)


def test_the_test_job_asks_for_latex_and_the_browser(checkout):
    """``.ci/test`` sets up both; asked together, each is installed once."""
    _setup(checkout)
    both, calls = _setup(checkout, "--latex", "--browser")
    installs = [call for call in calls if " install " in call]
    assert both.returncode == 0 and len(installs) == 2 and "texlive-latex-base" in installs[0]
    assert "chromium-driver" in installs[1]
    assert "bash .ci/setup --latex --browser" in (ROOT / ".ci" / "test").read_text()


def test_the_main_job_does_not_install_latex(checkout):
    _stub(checkout / ".venv" / "bin" / "gatejac", f'echo "gatejac $*" >> {checkout / "calls.log"}')
    (checkout / ".venv" / ".gatejac-setup").unlink(missing_ok=True)
    main, calls = _setup(checkout, script="main")
    assert main.returncode == 0, main.stderr
    assert calls[-1] == "gatejac verify"
    assert not any(call.startswith("apt-get") for call in calls)


def test_an_unknown_argument_is_refused(checkout):
    result, calls = _setup(checkout, "--latx")
    assert result.returncode == 2 and "usage: .ci/setup [--latex]" in result.stderr and calls == []


@pytest.mark.skipif(not (ROOT / ".venv" / ".gatejac-setup").exists() or Path(sys.prefix) != ROOT / ".venv",
                    reason="this checkout was not set up by .ci/setup (or the tests run in another environment)")
def test_a_re_run_on_this_installed_checkout_takes_well_under_a_second():
    start = time.perf_counter()
    result = subprocess.run(["bash", ".ci/setup"], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={**os.environ})
    seconds = time.perf_counter() - start
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert seconds < 1.0


def test_two_set_ups_started_together_install_once(checkout):
    """The whole set-up of a checkout is one at a time: a second set-up waits for the first and
    then finds the install current (without the lock both would install into one .venv)."""
    _stub(checkout / ".venv" / "bin" / "pip",  # a slow install, so that the two overlap
          f'echo "pip $*" >> {checkout / "calls.log"}; sleep 1; touch {checkout / ".venv/bin/gatejac"}; '
          f'chmod +x {checkout / ".venv/bin/gatejac"}')
    env = {"PATH": str(checkout / "bin"), "HOME": str(checkout)}
    runs = [subprocess.Popen([shutil.which("bash"), ".ci/setup"], cwd=checkout, env=env, stderr=subprocess.PIPE)
            for _ in range(2)]
    assert [run.wait(timeout=60) for run in runs] == [0, 0]
    calls = (checkout / "calls.log").read_text().splitlines()
    assert sum(call.startswith("pip install") for call in calls) == 1, calls
