"""The argument signatures a compiled cell has checked (``CompiledCell``'s per-call checks, once
per signature): the signature of a call's values and of ``out=``, and the bounded memory of
what the checks established."""

from __future__ import annotations

import threading

import numpy as np


class Signatures:
    """The argument signatures a compiled cell has checked, and what the checks established.

    A signature is the names of every mapping passed and, for every value, its type, dtype,
    shape and device (``out=``: also whether it is contiguous and writable) — everything the
    checks read.  Values of a remembered signature pass the same checks, so a call with one
    is not checked again: only its values are gathered in kernel order.  (Measured at n = 16:
    see ``benchmarks/per_call.py``.)  A new signature is checked in full and gets the same
    clear errors as before.  At most ``size`` are kept, the oldest dropped first."""

    def __init__(self, size: int, names: list[list[str]]):
        self.size = size
        self.names = names
        self._entries: dict = {}
        self._lock = threading.Lock()  # remembering is rare (a new signature); reading needs none

    def __getstate__(self) -> dict:
        """Copies and pickles (``copy.deepcopy`` of a module holding a compiled cell,
        ``torch.save``) carry the remembered signatures, not the lock."""
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def remember(self, key, call, extra=()) -> None:
        """Remember signature ``key`` with what ``call`` established and ``extra`` (not None:
        what its caller decided once for the signature, e.g. a dense kernel's route)."""
        if key is None:
            return
        position = next((i for i, v in enumerate(call.values) if v is call.reference), None)
        with self._lock:
            if key not in self._entries and len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (call.sizes, call.batch, position, extra)

    def remembered(self, key):
        """The entry of signature ``key`` (what :meth:`call` and :meth:`extra` read), or None for
        a signature not (or no longer) remembered — one lookup of the key (hashing it took
        0.7 µs at n = 16).  Callers keep the entry rather than look the key up again: another
        thread may forget it in between (a KeyError with 4 threads on 5 shapes and 2 places)."""
        return self._entries.get(key)

    @staticmethod
    def extra(entry):
        """The ``extra`` remembered with an entry of :meth:`remembered`."""
        return entry[3]

    def values(self, states, inputs, params) -> list:
        """The values of the three mappings in kernel order."""
        return [group[name] for group, names in zip((states, inputs, params), self.names) for name in names]

    def call(self, entry, states, inputs, params, make):
        """The call of a remembered signature (``entry``, from :meth:`remembered`) for these
        values, a new ``make()`` (the compiled cell's ``_Call``) filled in."""
        sizes, batch, position, _ = entry
        call = make()
        call.values = self.values(states, inputs, params)
        call.sizes, call.batch = sizes, batch
        call.reference = None if position is None else call.values[position]
        return call


def signature(groups: tuple):
    """The signature of a call's arguments (see :class:`Signatures`), or None when a group is
    not a mapping (the full checks then name the mistake)."""
    key = []
    for group in groups:
        if group is None or isinstance(group, str):
            key.append(group)
        elif isinstance(group, dict):  # a NumPy array's entry inline, without a call (2.6 -> 2.1 µs for 8 arrays)
            key.append(tuple([(name, value.dtype, value.shape) if type(value) is np.ndarray
                              else (name, _value_signature(value)) for name, value in group.items()]))
        else:
            return None
    return tuple(key)


def _value_signature(value):
    if type(value) is np.ndarray:  # the common case first: its device is always the CPU
        return np.ndarray, value.dtype, value.shape
    try:  # an array (NumPy ≥ 2 and torch have all four); a shape is a tuple, torch.Size one too
        return type(value), value.dtype, value.shape, value.device
    except AttributeError:
        return type(value)


def out_signature(out):
    """``out``'s signature, with the flags :meth:`CompiledCell._check_out` reads, as a tuple
    (a string of the same took 15–27 µs a call, 10–20% of a dense Jacobian at n = 16)."""
    if out is None:
        return None
    if isinstance(out, np.ndarray):
        flags = out.flags  # a new flags object on every access
        return _value_signature(out), flags.c_contiguous, flags.writeable
    return _value_signature(out), out.is_contiguous() if callable(getattr(out, "is_contiguous", None)) else None
