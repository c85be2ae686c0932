"""The training loop: it learns the adding task, checkpoints probe before (S1) or after (S2) the
update, an interrupted run resumes to bit-identical parameters, checkpoint files are written
atomically, and bad options are named."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gatejac.numeric._module import module
from gatejac.symbolic import GatejacError
from gatejac.verify import _training
from gatejac.verify._tasks import Task
from gatejac.verify._training import OPTIMIZERS, train

SMALL = {"n": 8, "m": 3}


def _net(name="multi_gate", seed=0):
    return module(name, SMALL, outputs=1, dtype="float64", seed=seed)


def _task(**options):
    return Task("adding", length=8, channels=3, batch_size=16, dtype="float64", **options)


def test_loss_falls_below_the_best_constant_on_the_adding_task():
    torch.set_num_threads(1)
    task = Task("adding", length=20, channels=2, batch_size=32)
    net = module("multi_gate", {"n": 16, "m": 2}, outputs=1)
    result = train(net, task, steps=400, optimizer="adam", lr=1e-2, progress=False)
    # the best constant prediction (the mean, 1) leaves Var(u₁ + u₂) = 2/12 of the two U(0, 1)
    assert np.mean(result.losses[:20]) > 1 / 6
    assert np.mean(result.losses[-50:]) < 0.3 / 6
    assert len(result.losses) == 400 and result.resumed_from is None


def test_default_learning_rates_are_the_paper_s(tmp_path):
    assert OPTIMIZERS == {"sgd": 1e-2, "adam": 1e-3}
    for optimizer in OPTIMIZERS:
        train(_net(), _task(), steps=1, optimizer=optimizer, checkpoints=[1], directory=tmp_path / optimizer,
              progress=False)
        state = torch.load(tmp_path / optimizer / "checkpoint-000001.pt", weights_only=True)
        assert state["optimizer"]["param_groups"][0]["lr"] == OPTIMIZERS[optimizer]


def _manual_sgd_steps(net, task, count, lr=1e-2):
    for step in range(count):
        inputs, targets = task.batch(step)
        net.zero_grad()
        torch.nn.functional.mse_loss(net(inputs), targets).backward()
        with torch.no_grad():
            for parameter in net.parameters():
                parameter -= lr * parameter.grad
    return {k: v.clone() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("probe, updates", [("before", {0: 0, 2: 2, 3: 3}), ("after", {0: 1, 2: 3})])
def test_checkpoints_probe_before_or_after_the_update(tmp_path, probe, updates):
    seen = {}
    checkpoints = list(updates)
    train(_net(), _task(), steps=3, checkpoints=checkpoints, probe=probe, directory=tmp_path, progress=False,
          callback=lambda i, net: seen.setdefault(i, {k: v.clone() for k, v in net.state_dict().items()}))
    assert sorted(seen) == checkpoints
    for iteration, count in updates.items():
        expected = _manual_sgd_steps(_net(), _task(), count)
        for key, value in expected.items():
            assert torch.allclose(seen[iteration][key], value, rtol=1e-12, atol=1e-14), (iteration, key)
        saved = torch.load(tmp_path / f"checkpoint-{iteration:06d}.pt", weights_only=True)
        assert saved["iteration"] == iteration and saved["updates"] == count
        assert set(saved) == {"iteration", "updates", "model", "optimizer", "rng", "losses", "settings"}
        assert len(saved["losses"]) == count


class _Interrupt(Exception):
    pass


def _stop_at(iteration, calls):
    def callback(i, net):
        calls.append(i)
        if i == iteration:
            raise _Interrupt
    return callback


@pytest.mark.parametrize("optimizer, probe", [("sgd", "before"), ("adam", "before"), ("adam", "after")])
def test_an_interrupted_run_resumes_to_the_same_parameters(tmp_path, optimizer, probe):
    checkpoints = [0, 4, 8, 11] if probe == "before" else [0, 4, 8]
    whole_calls, calls = [], []
    whole = _net()
    full = train(whole, _task(), steps=12, optimizer=optimizer, checkpoints=checkpoints, probe=probe,
                 directory=tmp_path / "whole", callback=lambda i, n: whole_calls.append(i),
                 progress=False)
    with pytest.raises(_Interrupt):
        train(_net(), _task(), steps=12, optimizer=optimizer, checkpoints=checkpoints, probe=probe,
              directory=tmp_path / "cut", callback=_stop_at(4, calls), progress=False)
    resumed_net = _net(seed=7)  # other starting values: everything must come from the checkpoint
    resumed = train(resumed_net, _task(), steps=12, optimizer=optimizer, checkpoints=checkpoints, probe=probe,
                    directory=tmp_path / "cut", callback=lambda i, n: calls.append(i), progress=False)
    assert resumed.resumed_from == 4
    for key, value in whole.state_dict().items():
        assert torch.equal(resumed_net.state_dict()[key], value), key
    assert resumed.losses == full.losses
    # every checkpoint reached the callback once per call, in order (replayed on resume)
    assert whole_calls == checkpoints
    assert calls == [0, 4] + checkpoints
    assert [p.name for p in resumed.files] == [f"checkpoint-{i:06d}.pt" for i in checkpoints]


def test_resuming_without_the_saved_state_would_differ(tmp_path):
    """The resume test can fail: a run that restarts at step 4 from the step-4 parameters but a
    fresh Adam state ends elsewhere."""
    whole = _net()
    train(whole, _task(), steps=12, optimizer="adam", progress=False)
    half = _net()
    train(half, _task(), steps=4, optimizer="adam", progress=False)
    optimizer = torch.optim.Adam(half.parameters(), lr=1e-3)
    for step in range(4, 12):
        inputs, targets = _task().batch(step)
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(half(inputs), targets).backward()
        optimizer.step()
    assert not torch.equal(half.weights.W_r, whole.weights.W_r)


def test_checkpoints_of_other_settings_are_refused(tmp_path):
    train(_net(), _task(), steps=2, checkpoints=[1], directory=tmp_path, progress=False)
    with pytest.raises(GatejacError, match="other settings"):
        train(_net(), _task(), steps=3, checkpoints=[1], directory=tmp_path, progress=False)


def test_checkpoint_files_are_written_atomically(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint-000001.pt"
    _training.save_atomically({"iteration": 1, "values": torch.arange(4)}, path)
    real_save = torch.save

    def failing_save(state, stream):
        real_save(state, stream)
        stream.flush()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="No space"):
        _training.save_atomically({"iteration": 2, "values": torch.arange(9)}, path)
    # the old file is whole, and no temporary file is left behind
    assert torch.equal(torch.load(path, weights_only=True)["values"], torch.arange(4))
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    # the check can fail: writing in place would have left the new, partly written content
    monkeypatch.setattr(torch, "save", real_save)
    _training.save_atomically({"iteration": 2, "values": torch.arange(9)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["values"], torch.arange(9))


def test_progress_bar_reports_steps_and_loss(capsys):
    train(_net(), _task(), steps=4, progress=True)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("train adding") and "step 4/4" in lines[-1] and "loss" in lines[-1]
    train(_net(), _task(), steps=4, progress=False)
    assert capsys.readouterr().err == ""


def test_seed_sets_torch_random_state():
    class Noisy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = _net()
            self.drop = torch.nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(self.net(x))

    runs = []
    for seed in (1, 1, 2):
        noisy = Noisy()
        train(noisy, _task(), steps=3, seed=seed, progress=False)
        runs.append(noisy.net.weights.W_r.detach().clone())
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("kwargs, message", [
    ({"steps": 0}, "steps=0"),
    ({"optimizer": "rmsprop"}, "rmsprop"),
    ({"lr": -1.0}, "lr=-1.0"),
    ({"probe": "during"}, "during"),
    ({"checkpoints": [5]}, r"\[5\] are not iterations in 0..4"),
    ({"checkpoints": [4], "probe": "after"}, r"0..3"),
    ({"checkpoints": [1]}, "directory"),
    ({"seed": -1}, "seed=-1"),
])
def test_bad_options_are_named(kwargs, message, tmp_path):
    options = {"steps": 4, "progress": False, **kwargs}
    if "directory" not in message:
        options["directory"] = tmp_path
    with pytest.raises(GatejacError, match=message):
        train(_net(), _task(), **options)


def test_task_must_be_a_task():
    with pytest.raises(GatejacError, match="Task"):
        train(_net(), "adding", steps=2, progress=False)


def test_checkpoints_of_mixed_types_are_a_clear_error(tmp_path):
    """A checkpoint that is not an iteration is named before the list is sorted (sorting
    ``[1, "a"]`` would raise a bare TypeError)."""
    with pytest.raises(GatejacError, match=r"checkpoints \['a'\] are not iterations"):
        train(_net(), _task(), steps=3, checkpoints=[1, "a"], directory=tmp_path, progress=False)
