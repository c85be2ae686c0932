"""What the reproduce tests share: running the command line in-process, one ``--quick`` run
of a reproduction with the figure objects it rendered kept for inspection, and the checks of
the options every reproduction takes."""

from __future__ import annotations

import contextlib
import io

import pytest

from gatejac.verify import ReproduceError
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


def assert_bad_options_are_errors(directory, name: str, reproduce, *, convention: bool = True) -> None:
    """``reproduce(DIRECTORY, seeds=0)`` (and, if it takes one, ``convention="paper"``) raise a
    :class:`ReproduceError` naming the option; ``gatejac reproduce NAME`` with an ``--out`` below
    a file or ``--seeds 0`` exits 2 saying why (and, for the directory, that nothing was run)."""
    with pytest.raises(ReproduceError, match="seeds=0"):
        reproduce(directory, seeds=0)
    if convention:
        with pytest.raises(ReproduceError, match="convention='paper'.*'exact', 'author', 'both'"):
            reproduce(directory, convention="paper")
    blocker = directory / "file"
    blocker.write_text("")
    code, _, err = run_cli("reproduce", name, "--quick", "--out", str(blocker / "sub"))
    assert code == 2 and "cannot use" in err and "nothing was run" in err
    code, _, err = run_cli("reproduce", name, "--seeds", "0")
    assert code == 2 and "'0' is not an integer ≥ 1" in err
