"""Training a sequence model on a task, with checkpoints a run resumes from.

:func:`train` runs ``steps`` updates of ``model`` (any ``torch.nn.Module`` mapping inputs
(B, T, M) to predictions (B, n_o), e.g. ``numeric.module(cell, sizes, outputs=1)``) on a fresh
batch per step (``task.batch(i)``, :mod:`verify._tasks`)::

    L_i = mean over batch and outputs of (ŷ − y)²            (MSE, Livi 2025, Section VII)
    θ ← θ − μ ∇L_i                                           (``"sgd"``: no momentum, μ = 1e-2)
    θ ← Adam(θ, ∇L_i; μ, β₁ = 0.9, β₂ = 0.999, ε = 1e-8)    (``"adam"``: torch's, μ = 1e-3)

The default learning rates are the paper's (arXiv:2508.12121, Section VII: S1 trains with SGD
at 1e-2; S2 compares SGD at 1e-2 with Adam at 1e-3).

Checkpoints ``checkpoints`` (iterations) and ``probe``:

* ``probe="before"`` (S1's): at checkpoint i the state is the one *before* update i, i.e. after
  i updates; i ranges over 0 … steps (checkpoint ``steps`` is the trained model);
* ``probe="after"`` (S2's): at checkpoint i the state is the one *after* update i, i.e. after
  i + 1 updates ("checkpoint 0" is after one step); i ranges over 0 … steps − 1.

At each checkpoint the state is first written to ``directory/checkpoint-IIIIII.pt`` (atomically:
a temporary file in the same directory renamed over the path) with ``torch.save`` of
``{"iteration", "updates", "model", "optimizer", "rng", "losses", "settings"}`` — the model's and
the optimizer's ``state_dict``, torch's CPU random state and the losses so far — and then
``callback(iteration, model)`` is called (``model.eval()`` is not touched; the callback must not
change the parameters).

Resuming: if ``directory`` holds checkpoints written at the same settings, :func:`train` replays
them in order — loads each into the model and calls the callback, so a callback sees every
checkpoint once per call, resumed or not — then continues from the last one.  Batches depend on
(seed, step) only, so the resumed run computes the same updates as an uninterrupted one and ends
with bit-identical parameters (tests/test_training.py).  Checkpoints written at other settings
are an error (:class:`ReproduceError`) naming the directory: pass an empty one.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ._progress import Progress
from ._reproduce import ReproduceError
from ._tasks import Task

OPTIMIZERS = {"sgd": 1e-2, "adam": 1e-3}
"""The optimizers :func:`train` offers and their default learning rates (the paper's)."""
PROBES = ("before", "after")
_FILE = re.compile(r"checkpoint-(\d{6,})\.pt")
_PROGRESS_LINES = 50


@dataclass(frozen=True)
class Training:
    """What :func:`train` did: the loss of every step (``losses[i]`` = L_i, before update i),
    the checkpoint iterations and their files, and the iteration it resumed from (None: it
    started afresh)."""

    losses: tuple[float, ...]
    checkpoints: tuple[int, ...]
    files: tuple[Path, ...]
    resumed_from: int | None


def train(model, task: Task, *, steps: int, optimizer: str = "sgd", lr: float | None = None,
          checkpoints: Sequence[int] = (), callback: Callable | None = None, probe: str = "before",
          directory: str | Path | None = None, seed: int = 0, progress: bool = True) -> Training:
    """Train ``model`` on ``task`` for ``steps`` updates; see the module docstring.  ``lr``
    defaults to :data:`OPTIMIZERS` [optimizer]; ``seed`` seeds torch's random state at the start
    (the task's batches have their own seeds); ``directory`` (needed when ``checkpoints`` is not
    empty) receives the checkpoint files; ``progress`` shows a bar on stderr."""
    import torch

    checkpoints = _checked(steps, optimizer, lr, checkpoints, probe, directory, seed, task)
    lr = OPTIMIZERS[optimizer] if lr is None else float(lr)
    settings = {"task": repr(task), "steps": steps, "optimizer": optimizer, "lr": lr, "probe": probe,
                "seed": seed, "checkpoints": list(checkpoints)}
    torch.manual_seed(seed)
    step_optimizer = (torch.optim.SGD(model.parameters(), lr=lr) if optimizer == "sgd"
                      else torch.optim.Adam(model.parameters(), lr=lr))
    directory = None if directory is None else Path(directory)
    saved = _saved(directory, settings)
    losses: list[float] = []
    files: list[Path] = []
    for state, path in saved:  # replay: the callback sees the checkpoints already written
        _restore(state, model, step_optimizer)
        losses, files = list(state["losses"]), [*files, path]
        if callback is not None:
            callback(state["iteration"], model)
    start = saved[-1][0]["updates"] if saved else 0
    block = max(1, -(-steps // _PROGRESS_LINES))
    with Progress(-(-steps // block), f"train {task.name}", enabled=progress) as bar:
        if start:
            bar.skip(start // block)
        if probe == "before" and not saved:
            files += _checkpoint(0, 0, checkpoints, directory, model, step_optimizer, losses, settings, callback)
        for update in range(start, steps):
            inputs, targets = task.batch(update)
            loss = torch.nn.functional.mse_loss(model(inputs), targets)
            step_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            step_optimizer.step()
            losses.append(float(loss.detach()))
            label = update + 1 if probe == "before" else update
            files += _checkpoint(label, update + 1, checkpoints, directory, model, step_optimizer, losses, settings,
                                 callback)
            if (update + 1) % block == 0 or update + 1 == steps:
                bar.advance(f"step {update + 1}/{steps}  loss {losses[-1]:.4g}")
    return Training(tuple(losses), tuple(checkpoints), tuple(files), saved[-1][0]["iteration"] if saved else None)


def _checked(steps, optimizer, lr, checkpoints, probe, directory, seed, task) -> tuple[int, ...]:
    """The sorted checkpoint iterations, after checking every option."""
    if not isinstance(task, Task):
        raise ReproduceError(f"task must be a verify Task (e.g. Task('adding')), got {type(task).__name__}")
    for name, value, low in (("steps", steps, 1), ("seed", seed, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ReproduceError(f"{name}={value!r} must be an integer >= {low}")
    if optimizer not in OPTIMIZERS:
        raise ReproduceError(f"optimizer={optimizer!r}; use one of {list(OPTIMIZERS)}")
    if lr is not None and not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0):
        raise ReproduceError(f"lr={lr!r} must be a number > 0 (default {OPTIMIZERS[optimizer]} for {optimizer})")
    if probe not in PROBES:
        raise ReproduceError(f"probe={probe!r}; use 'before' (the state before the update at a checkpoint, "
                             "as S1) or 'after' (after it, as S2)")
    last = steps if probe == "before" else steps - 1
    wrong = [c for c in dict.fromkeys(checkpoints) if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c <= last]
    if wrong:
        raise ReproduceError(f"checkpoints {wrong} are not iterations in 0..{last} (steps={steps}, probe={probe!r})")
    checkpoints = sorted(set(checkpoints))
    if checkpoints and directory is None:
        raise ReproduceError("checkpoints are saved to disk: pass directory=... (a new or the run's own directory)")
    return tuple(checkpoints)


def _checkpoint(iteration, updates, checkpoints, directory, model, optimizer, losses, settings, callback) -> list:
    """Save and report the state at ``iteration`` if it is a checkpoint; the file written."""
    if iteration not in checkpoints:
        return []
    import torch

    state = {"iteration": iteration, "updates": updates, "model": model.state_dict(),
             "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(), "losses": list(losses),
             "settings": settings}
    path = directory / f"checkpoint-{iteration:06d}.pt"
    save_atomically(state, path)
    if callback is not None:
        callback(iteration, model)
    return [path]


def save_atomically(state: dict, path: Path) -> None:
    """``torch.save(state)`` to a temporary file next to ``path``, renamed over it: a reader
    (or a resumed run) sees the previous file or the complete new one, never a part."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(state, stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _saved(directory: Path | None, settings: dict) -> list:
    """``[(state, path)]`` of the checkpoints in ``directory`` written at ``settings``, in order."""
    import torch

    if directory is None or not directory.is_dir():
        return []
    found = []
    paths = sorted((int(match[1]), path) for path in directory.iterdir() if (match := _FILE.fullmatch(path.name)))
    for _, path in paths:
        state = torch.load(path, weights_only=True)
        if state.get("settings") != settings:
            raise ReproduceError(f"{str(directory)!r} holds {path.name} of a run at other settings "
                                 f"({state.get('settings')}); pass an empty directory or the run's own settings")
        found.append((state, path))
    return found


def _restore(state: dict, model, optimizer) -> None:
    import torch

    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
