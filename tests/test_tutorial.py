"""docs/tutorial.md runs as written: every code block, in order, in an empty directory, and
every output it shows is what the code prints.

Blocks of the page, by their fence:

* ```` ```python ```` whose first line is ``# file: NAME`` — written to ``NAME``;
* any other ```` ```python ```` — executed in one namespace shared by the page's Python blocks
  (as a reader types them into one interpreter), its standard output captured;
* ```` ```bash ```` — run by bash (exit code 0 expected: a command that is meant to fail
  shows its code with ``; echo "exit code: $?"``), its standard output captured;
* ```` ```text ```` — the output of the block before it: its lines must appear in that output
  in order, a ``...`` line standing for any number of lines (without one at the start or the
  end, the first or last line must match exactly); a decimal number (``2.000``, ``1.8e-01``)
  matches a value within 10 units of its last shown digit, so round-off in the last digits does
  not fail the page, and one shown below 1e-9 in magnitude (a round-off level such as a max
  error of ``3.5e-17``) matches any value below 1e-9; words, integers and counts must be as shown.

Any other fenced block fails the test (it would not be run).  :func:`shows` is shown to catch
a wrong output and a block that fails is shown to stop the run.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
KINDS = ("python", "bash", "text")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)
_FILE = re.compile(r"# file: (\S+)\n")
_NUMBER = re.compile(r"[-+]?\d+\.\d+(?:e[-+]\d+)?")


@dataclass(frozen=True)
class Block:
    kind: str  # "file", "python", "bash" or "text"
    body: str
    line: int  # where the fence opens in the page
    name: str = ""  # the file a "file" block writes


def blocks(markdown: str) -> list[Block]:
    """The fenced blocks of ``markdown`` in order; a fence of another language raises."""
    found = []
    for fence in _FENCE.finditer(markdown):
        language, body = fence.group(1), fence.group(2)
        line = markdown.count("\n", 0, fence.start()) + 1
        if language not in KINDS:
            raise ValueError(f"line {line}: a ```{language} block is not run; use one of {KINDS}")
        file = _FILE.match(body) if language == "python" else None
        found.append(Block("file", body, line, file.group(1)) if file else Block(language, body, line))
    return found


_ROUND_OFF = 1e-9


def _masked(line: str) -> str:
    return _NUMBER.sub("<number>", line.rstrip())


def _close(shown: str, actual: str) -> bool:
    """A shown decimal against the printed one: within 10 units of the shown last digit, or
    both below the round-off level."""
    value, printed = float(shown), float(actual)
    if abs(value) < _ROUND_OFF:
        return abs(printed) < _ROUND_OFF
    mantissa, _, exponent = shown.lower().partition("e")
    digits = len(mantissa.partition(".")[2])
    unit = 10.0 ** (int(exponent or 0) - digits)
    return abs(printed - value) <= 10 * unit


def _same(want: str, have: str) -> bool:
    return _masked(want) == _masked(have) and all(
        _close(a, b) for a, b in zip(_NUMBER.findall(want), _NUMBER.findall(have)))


def shows(shown: str, output: str) -> bool:
    """Whether ``output`` has the lines of ``shown`` in order (``...`` for any lines between;
    without one at an end, that end's line must be the output's first or last line)."""
    want = [line.rstrip() for line in shown.strip("\n").splitlines()]
    have = [line.rstrip() for line in output.strip("\n").splitlines()]
    if not want:
        return True
    if want[0] != "..." and (not have or not _same(want[0], have[0])):
        return False
    if want[-1] != "..." and (not have or not _same(want[-1], have[-1])):
        return False
    position = 0
    for line in want:
        if line == "...":
            continue
        found = next((i for i in range(position, len(have)) if _same(line, have[i])), None)
        if found is None:
            return False
        position = found + 1
    return True


def run(page: str, directory: Path) -> int:
    """Run the blocks of ``page`` in ``directory``; return how many ran.  A failing block, or
    an output that is not as shown, fails with the block's line in the page."""
    namespace: dict = {"__name__": "__tutorial__"}
    output, ran, written = None, 0, []
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    try:
        for block in blocks(page):
            where = f"docs/tutorial.md, block at line {block.line}"
            if block.kind == "file":
                (directory / block.name).write_text(block.body, encoding="utf-8")
                written.append(Path(block.name).stem)
            elif block.kind == "python":
                captured = io.StringIO()
                with contextlib.redirect_stdout(captured):
                    exec(compile(block.body, where, "exec"), namespace)
                output = captured.getvalue()
            elif block.kind == "bash":
                done = subprocess.run(["bash", "-c", block.body], cwd=directory, env=environment,
                                      capture_output=True, text=True, timeout=600)
                assert done.returncode == 0, f"{where}: exit code {done.returncode}\n{done.stderr[-3000:]}"
                output = done.stdout
            else:
                assert output is not None, f"{where}: an output block with no code block before it"
                assert shows(block.body, output), \
                    f"{where}: the page shows\n{block.body}\nbut the code printed\n{output}"
                output = None
            ran += block.kind != "text"
    finally:
        for module in written:  # the next run must import its own files
            sys.modules.pop(module, None)
    return ran


# --------------------------------------------------------------------------- the checker
def test_shown_output_must_match_in_order_with_gaps():
    output = "gatejac check: PASSED\nstate  ad  PASS  9.7e-17\nstate  fd  PASS  9.5e-12\nverdict: PASSED\n"
    assert shows("gatejac check: PASSED\n...\nstate  fd  PASS  1.0e-11\n...\n", output)
    assert shows("...\nverdict: PASSED", output)
    assert not shows("gatejac check: FAILED\n...", output)  # a wrong line
    assert not shows("...\nstate  fd  PASS  1.0e-11\nstate  ad  PASS  9.7e-17\n...", output)  # out of order
    assert not shows("gatejac check: PASSED\nstate  ad  PASS  9.7e-17", output)  # not the last line
    assert not shows("...\nstate  ad  PASS  97", output)  # a number that is not round-off
    assert not shows("...\n45/44 caught", "45/45 caught")  # counts are not masked
    assert shows("slope 2.000", "slope 2.004") and not shows("slope 2.000", "slope 1.500")  # 10 last digits
    assert shows("max error 1.1e-16", "max error 3.0e-17")  # both round-off
    assert not shows("max error 1.1e-16", "max error 4.9e-02")  # round-off shown, a real error printed


def test_a_failing_block_or_a_wrong_output_stops_the_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    good = "```python\n# file: made.py\nVALUE = 3\n```\n\n```python\nfrom made import VALUE\nprint(VALUE)\n```\n"
    assert run(good + "\n```text\n3\n```\n", tmp_path) == 2
    with pytest.raises(AssertionError, match="block at line 11"):
        run(good + "\n```text\n4\n```\n", tmp_path)
    with pytest.raises(AssertionError, match="exit code 1"):
        run("```bash\nfalse\n```\n", tmp_path)
    with pytest.raises(ValueError, match="```sh block is not run"):
        blocks("```sh\nls\n```\n")


# --------------------------------------------------------------------------- the page
def test_the_tutorial_runs_as_written(tmp_path, monkeypatch):
    page = TUTORIAL.read_text(encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    kinds = {block.kind for block in blocks(page)}
    assert kinds == {"file", "python", "bash", "text"}, kinds
    assert run(page, tmp_path) >= 8
