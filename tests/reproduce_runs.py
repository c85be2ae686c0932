"""What the reproduce tests share: running the command line in-process, and one ``--quick`` run
of a reproduction with the figure objects it rendered kept for inspection."""

from __future__ import annotations

import contextlib
import io

import pytest

from gatejac.verify._cli import main


def run_cli(*argv) -> tuple[int, str, str]:
    """``gatejac ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def quick_run(directory, module, name: str, figures) -> tuple:
    """``gatejac reproduce NAME --quick --out DIRECTORY``: (exit code, stdout, stderr, directory,
    ``{figure file: the figure object}``), the figures caught at ``module.png`` in file order."""
    drawn = []
    render = module.png
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "png", lambda figure: drawn.append(figure) or render(figure))
        code, out, err = run_cli("reproduce", name, "--quick", "--out", str(directory))
    return code, out, err, directory, dict(zip(figures, drawn))


def assert_wrote_every_file(run, figures) -> None:
    """A ``quick_run`` exited 0 and wrote ``summary.json`` and every figure, saying so."""
    code, out, err, directory, _ = run
    assert code == 0, err
    for name in ("summary.json", *figures):
        assert (directory / name).stat().st_size > 0
        assert f"wrote {directory / name}" in out
