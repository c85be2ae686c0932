"""What the reproduce tests share: running the command line in-process, one ``--quick`` run
of a reproduction with the figure objects it rendered kept for inspection (and, for the
reproductions that sweep, the local clusters it started), its summary, the check that
``--jobs`` changes no number, and the checks of the options every reproduction takes."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from gatejac.verify import ReproduceError, _sweep_cluster
from gatejac.verify._cli import main


def run_cli(*argv) -> tuple[int, str, str]:
    """``gatejac ARGV`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def quick_run(directory, module, name: str, figures, *options: str) -> tuple:
    """``gatejac reproduce NAME --quick --out DIRECTORY OPTIONS``: (exit code, stdout, stderr,
    directory, ``{figure file: the figure object}``), the figures caught at ``module.png`` in
    file order."""
    drawn = []
    render = module.png
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "png", lambda figure: drawn.append(figure) or render(figure))
        code, out, err = run_cli("reproduce", name, "--quick", "--out", str(directory), *options)
    return code, out, err, directory, dict(zip(figures, drawn))


def quick_run_counting_clusters(directory, module, name: str, figures, clusters: list) -> tuple:
    """``quick_run``, with the arguments of every local Dask cluster the run starts appended to
    ``clusters`` (the reproductions that sweep must start one, or none when all is stored)."""
    start = _sweep_cluster._local_cluster
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_sweep_cluster, "_local_cluster", lambda *a: clusters.append(a) or start(*a))
        return quick_run(directory, module, name, figures)


def summary_of(run) -> dict:
    """The ``summary.json`` a ``quick_run`` wrote."""
    return json.loads((run[3] / "summary.json").read_text())


def assert_wrote_every_file(run, figures) -> None:
    """A ``quick_run`` exited 0 and wrote ``summary.json`` and every figure, saying so."""
    code, out, err, directory, _ = run
    assert code == 0, err
    for name in ("summary.json", *figures):
        assert (directory / name).stat().st_size > 0
        assert f"wrote {directory / name}" in out


def assert_jobs_change_no_number(run, name: str) -> str:
    """A ``quick_run`` with ``--jobs 2`` wrote the same ``summary.json`` and per-seed files, bit
    for bit, as ``gatejac reproduce NAME --quick --jobs 1`` (every seed computed in this
    process) does, and both printed the same table; the stderr of the ``--jobs 1`` run."""
    code, out, err, directory, _ = run
    assert code == 0, err
    serial = directory.parent / f"{directory.name}-jobs1"
    code, serial_out, err = run_cli("reproduce", name, "--quick", "--jobs", "1", "--out", str(serial))
    assert code == 0, err
    assert _table(serial_out) == _table(out) and _table(out)
    for path in [directory / "summary.json", *sorted((directory / "seeds").iterdir())]:
        assert path.read_text() == (serial / path.relative_to(directory)).read_text(), path
    assert len(list((serial / "seeds").iterdir())) == len(list((directory / "seeds").iterdir()))
    return err


def _table(out: str) -> str:
    """The printed table(s): stdout without the ``wrote PATH`` lines and the last line (where
    the files are and how long it took)."""
    return "\n".join([line for line in out.splitlines() if not line.startswith("wrote ")][:-1]).strip()


def assert_bad_options_are_errors(directory, name: str, reproduce, *, convention: bool = True,
                                  jobs: bool = False) -> None:
    """``reproduce(DIRECTORY, seeds=0)`` (and, if it takes them, ``convention="paper"`` and
    ``jobs=0``) raise a :class:`ReproduceError` naming the option; ``gatejac reproduce NAME``
    with an ``--out`` below a file, ``--seeds 0`` (or ``--jobs 0``) exits 2 saying why (and, for
    the directory, that nothing was run)."""
    with pytest.raises(ReproduceError, match="seeds=0"):
        reproduce(directory, seeds=0)
    if jobs:
        with pytest.raises(ReproduceError, match="jobs=0 must be a positive integer"):
            reproduce(directory / "jobs", jobs=0)
        assert not (directory / "jobs").exists()  # checked before any work
        code, _, err = run_cli("reproduce", name, "--jobs", "0")
        assert code == 2 and "--jobs" in err and "'0' is not an integer ≥ 1" in err
    if convention:
        with pytest.raises(ReproduceError, match="convention='paper'.*'exact', 'author', 'both'"):
            reproduce(directory, convention="paper")
    blocker = directory / "file"
    blocker.write_text("")
    code, _, err = run_cli("reproduce", name, "--quick", "--out", str(blocker / "sub"))
    assert code == 2 and "cannot use" in err and "nothing was run" in err
    code, _, err = run_cli("reproduce", name, "--seeds", "0")
    assert code == 2 and "'0' is not an integer ≥ 1" in err
