"""Code generation for ``numeric.compile(..., jit=True)``: each dense Jacobian kernel as one numba function.

The NumPy kernels of ``_codegen`` spend a call on some thirty array operations; at n = 16,
B = 256 that is dispatch, not arithmetic.  Here the same derivation becomes, per kernel, one
function compiled whole by numba (``_jit_loading`` writes and loads it):

1. the matrix-vector product nodes as matrix products of the batch (``np.dot`` on the flat
   ``(B, k)`` arrays, so BLAS); the named nodes they read, and named nodes without the batch
   axis or of scalar size, computed into arrays before them;
2. one loop over the samples and the rows of each group of states of equal size, in which every
   other named node (gates, pre-activations) and every coefficient of the Jacobian is a scalar
   temporary, with common subexpressions shared (``sympy.cse`` over the expressions with those
   nodes written out, so a gate is evaluated once per entry and the GRU's ``b_hn + W_hn·h``
   once);
3. each row of the output written once, as Σ_k l_k(i)·M_k[i, j]·r_k(j) + [i = j]·d(i) per
   block, with the per-column factors r_k evaluated once per sample (the coefficient loop
   stores each entry's values side by side so that LLVM vectorizes it; the activations are
   ``_jit_math``'s, see ``docs/theory.md: “Numerics”``).  An output of ``_fused.STREAM_MIN_BYTES``
   (32 MiB) or more has each row computed in a row buffer and copied out with the streaming
   stores of ``_streaming`` (no read of the destination's cache lines): at B = 256, n = 256 this
   took the jit kernels from 1.02–1.36× the default kernel's time to 0.92–1.18× (one thread;
   ``benchmarks/per_call.py --jit``: below n = 256 they take 0.48–0.98× its time).

A term of a block must have one of the forms diag(l)·M·diag(r), diag(l)·M, M·diag(r), M,
diag(d) or l·rᵀ (with M a linear combination of matrix parameters, their transposes and I):
the state and input blocks of every catalogue cell but the Cho/Chung/gain GRUs (whose
diag·W·diag·W terms would need a matrix product per sample) and of most random cells.  A
kernel with any other term is not generated: :func:`generate_jit` names the term instead, and
calling the kernel raises that error.  Numbers are written ``_FT(…)``, the kernel's float type,
so that a float32 kernel computes in float32; each kernel is generated once per dtype
(``<kernel>__f64``, ``<kernel>__f32``).
"""

from __future__ import annotations

import re

import sympy

from gatejac.symbolic import SCALAR, Derivation, Dot, Leaf, Mat, MatVec

from ._codegen import _fold_scale, _Module
from ._coefficients import indent
from ._printer import ScalarPrinter

KERNELS = ("state_jacobian", "state_jacobian_frozen", "state_jacobian_gate", "input_jacobian")
"""The kernels ``jit=True`` compiles whole; the others stay the NumPy kernels."""

FLOAT_TYPES = {"f64": "np.float64", "f32": "np.float32"}


class Unsupported(Exception):
    """A term the jit writer has no form for (see the module docstring)."""


class _Plan:
    """One term of a block as l(i)·M[i, j]·r(j): ``left``/``right`` SymPy expressions (1 for
    none), ``matrix`` a list of MatrixTerm (None: the outer product l·rᵀ, [] : the identity)."""

    def __init__(self, left, matrix, right):
        self.left, self.matrix, self.right = left, matrix, right


def _plan(module: _Module, term) -> _Plan:
    scale, factors = _fold_scale(term)
    shape = [type(factor).__name__ for factor in factors]
    cell = module.cell
    if shape == []:
        return _Plan(scale, [], sympy.S.One)
    if shape == ["Diag"]:
        return _Plan(scale * factors[0].value, [], sympy.S.One)
    if shape == ["Column", "Row"]:
        return _Plan(scale * factors[0].value, None, factors[1].value)
    mats = [i for i, factor in enumerate(factors) if isinstance(factor, Mat)]
    if len(mats) == 1 and shape in (["Mat"], ["Diag", "Mat"], ["Mat", "Diag"], ["Diag", "Mat", "Diag"]):
        at = mats[0]
        left = factors[0].value if at == 1 else sympy.S.One
        right = factors[-1].value if at == len(factors) - 2 else sympy.S.One
        return _Plan(scale * left, list(cell.matrix_terms(factors[at].matrix)), right)
    raise Unsupported(f"a term {' · '.join(shape)}")


class _Kernel:
    """The generator of one kernel's numba function."""

    def __init__(self, module: _Module, block_jacobian, leaves, extra=()):
        """``extra``: more expressions the function computes (the rollout's new states,
        ``_jit_factors``), whose nodes join those of the Jacobian's terms."""
        self.module, self.cell = module, module.cell
        self.vectors = [p.name for p in (*self.cell.states, *self.cell.inputs)]
        self.plans = {(s.name, leaf.name): [_plan(module, t) for t in block_jacobian[(s.name, leaf.name)].terms]
                      for s in self.cell.states for leaf in leaves}
        self.leaves = leaves
        exprs = [e for plans in self.plans.values() for p in plans for e in (p.left, p.right)]
        exprs += [t.coeff for plans in self.plans.values() for p in plans for t in (p.matrix or [])]
        self.exprs = [module.expr(e) for e in (*exprs, *extra)]
        self.order = module.node_order(self.exprs)
        self.materialized = self._materialized()
        self.definitions = {sym: module.expr(self.cell.node(sym).expr, False) for sym in self.order
                            if sym not in self.materialized}

    def _materialized(self) -> set:
        """Nodes computed into arrays before the row loops: products, dot products, what they
        read, and named nodes without the batch axis or of scalar size."""
        chosen = set()

        def take(sym):
            if sym in chosen or not self.cell.has_node(sym) or isinstance(self.cell.node(sym), Leaf):
                return
            chosen.add(sym)
            for child in self.cell.children(self.cell.node(sym)):
                for s in sympy.sympify(child).free_symbols:
                    take(s)

        for sym in self.order:
            node = self.cell.node(sym)
            if isinstance(node, (MatVec, Dot)) or node.size is SCALAR or not self.module.batched(sym):
                take(sym)
        return chosen

    # ------------------------------------------------------------------ reading entries
    def entry(self, sym, index: str) -> str:
        """Code reading ``sym``'s entry ``index`` of sample ``_b``."""
        if not self.cell.has_node(sym):  # a size
            return f"_FT({sym.name})"
        node = self.cell.node(sym)
        scalar = node.size is SCALAR
        if isinstance(node, Leaf):
            if node.role == "parameter":
                return f"{sym.name}[0]" if scalar else f"{sym.name}[{index}]"
            return f"{sym.name}[_b, 0]" if scalar else f"{sym.name}[_b, {index}]"
        if sym in self.materialized:
            return f"{node.symbol.name}[{'_b' if self.module.batched(sym) else '0'}, {'0' if scalar else index}]"
        raise Unsupported(f"node {sym} read outside the row loop")

    def printer(self, index: str) -> ScalarPrinter:
        return ScalarPrinter(lambda sym: self.entry(sym, index))

    def written_out(self, expr):
        """``expr`` with every node of the row loop replaced by its definition."""
        for _ in range(len(self.definitions) + 1):
            if not any(s in self.definitions for s in expr.free_symbols):
                return expr
            expr = expr.xreplace(self.definitions)
        return expr

    # ------------------------------------------------------------------ the function
    def lines(self, name: str) -> list[str]:
        module = self.module
        args = ", ".join(module.args)
        body = self._overlap_lines(module.args)
        body += [f"{dim.name} = {source}" for dim, source in module._dim_sources().items()]
        body.append(f"_nb = {self.vectors[0]}.shape[0]")
        body += self._node_lines()
        groups: dict = {}
        offset = "0"
        for state in self.cell.states:
            groups.setdefault(sympy.sympify(state.size), []).append((state, offset))
            offset = f"({offset} + {module.size(state.size)})"
        body += ["_of = _o.reshape(-1)", "_row = np.empty(_o.shape[2], _FT)", "_R, _C = _o.shape[1], _o.shape[2]"]
        for size, rows in groups.items():
            body += self._group_lines(size, rows)
        return [f"def {name}({args}, _o, _stream):"] + indent(body + ["if _stream:", "    _st.store_fence()",
                                                                      "return False"])

    @staticmethod
    def _overlap_lines(args: list) -> list[str]:
        """Lines returning True, before anything is written, when the output ``_o`` shares
        memory with an argument (the kernel reads its values while it writes ``_o``; the caller
        raises).  Every array the function gets is C-contiguous (``JitKernel`` passes them so),
        so the bytes it uses are exactly ``[data, data + nbytes)`` and two such ranges intersect
        only when the arrays share memory: the test is exact, at two comparisons an argument
        (a Python ``np.may_share_memory`` a value cost ~0.3 µs, ~4 µs a call for the LSTM)."""
        lines = ["if _o.size > 0:", "    _o0 = np.int64(_o.ctypes.data)", "    _o1 = _o0 + np.int64(_o.nbytes)"]
        for arg in args:
            lines += [f"    if {arg}.size > 0 and np.int64({arg}.ctypes.data) < _o1 and "
                      f"_o0 < np.int64({arg}.ctypes.data) + np.int64({arg}.nbytes):", "        return True"]
        return lines

    def _node_lines(self, chosen=None) -> list[str]:
        """Lines computing the materialized nodes (those of ``chosen`` only, when given)."""
        lines = []
        for sym in self.order:
            if sym not in self.materialized or (chosen is not None and sym not in chosen):
                continue
            node = self.cell.node(sym)
            rows = "_nb" if self.module.batched(sym) else "1"
            if isinstance(node, MatVec):
                operand = self._operand(node, lines)
                lines.append(f"{sym.name} = {self._product(node, operand)}")
            elif isinstance(node, Dot):
                left, right = (self.printer("_j").doprint(self.module.expr(e, False)) for e in (node.left, node.right))
                size = self.module.size(self.cell.size_of(self.module.expr(node.left, False)))
                lines += [f"{sym.name} = np.empty(({rows}, 1), _FT)", f"for _b in range({rows}):",
                          "    _s = _FT(0)", f"    for _j in range({size}):", f"        _s += ({left}) * ({right})",
                          f"    {sym.name}[_b, 0] = _s"]
            else:
                size = "1" if node.size is SCALAR else self.module.size(node.size)
                value = self.printer("_j").doprint(self.module.expr(node.expr, False))
                lines += [f"{sym.name} = np.empty(({rows}, {size}), _FT)", f"for _b in range({rows}):",
                          f"    for _j in range({size}):", f"        {sym.name}[_b, _j] = {value}"]
        return lines

    def _operand(self, node: MatVec, lines: list) -> str:
        """The name of an array holding the product's operand, computed into ``_v<node>`` if
        it is not a state, input or computed node itself."""
        operand = self.module.expr(node.operand, False)
        if operand.is_Symbol and (operand in self.materialized or operand.name in self.vectors):
            return operand.name
        name = f"_v{node.symbol.name}"
        batched = any(map(self.module.batched_symbol, operand.free_symbols))
        rows = "_nb" if batched else "1"
        size = self.module.size(self.cell.size_of(operand))
        lines += [f"{name} = np.empty(({rows}, {size}), _FT)", f"for _b in range({rows}):",
                  f"    for _j in range({size}):", f"        {name}[_b, _j] = {self.printer('_j').doprint(operand)}"]
        return name

    def _product(self, node: MatVec, operand: str) -> str:
        parts = []
        for term in node.terms:
            product = operand if term.parameter is None else (
                f"np.dot({operand}, {term.parameter})" if term.transposed else f"np.dot({operand}, {term.parameter}.T)")
            coeff = self._scalar_coefficient(term.coeff)
            parts.append(product if coeff is None else f"{coeff} * {product}")
        return " + ".join(parts)

    def _scalar_coefficient(self, coeff) -> str | None:
        """Code for a matrix term's coefficient (numbers and scalar parameters), None for 1."""
        coeff = self.module.expr(coeff)
        if coeff == 1:
            return None
        if self.cell.size_of(coeff) is not SCALAR or any(map(self.module.batched_symbol, coeff.free_symbols)):
            raise Unsupported(f"a matrix coefficient {coeff} that varies by sample")
        return f"({self.printer('0').doprint(coeff)})"

    def _group_lines(self, size, rows) -> list[str]:
        """The states ``rows`` (all of ``size``): first every coefficient l_k(i) of their blocks
        into ``_l[b, i, k]`` and every per-column factor r_k(j) into ``_q<k>_[b, j, 0]`` (loops of
        arithmetic only, which LLVM vectorizes), then each output row written once."""
        cols, col = [], "0"
        for leaf in self.leaves:
            cols.append((leaf, col))
            col = f"({col} + {self.module.size(leaf.size)})"
        writes = [(row, leaf, offset, self.plans[(state.name, leaf.name)]) for state, row in rows for leaf, offset in cols]
        plans = [(leaf, plan) for _, leaf, _, block in writes for plan in block]
        lefts, lines = self._fill([self.module.expr(plan.left) for _, plan in plans], size, "_i", "_l")
        rights = []
        for k, (leaf, plan) in enumerate(plans):
            right = self.module.expr(plan.right)
            if right == 1:
                rights.append(None)
                continue
            codes, more = self._fill([right], leaf.size, "_j", f"_q{k}_")
            rights.append(codes[0])
            lines += more
        inner = [f"_a{k} = {code}" for k, code in enumerate(lefts) if code.startswith("_l")]  # held in registers
        lefts = [f"_a{k}" if code.startswith("_l") else code for k, code in enumerate(lefts)]
        k = 0
        for w, (row, leaf, offset, block) in enumerate(writes):
            if w == 0 or writes[w - 1][0] != row:  # a new output row: in place, or in _row to stream
                inner.append(f"_r = ⟦{row}⟧")
            entries, diagonal = [], []
            for plan in block:
                left, right = lefts[k], rights[k]
                k += 1
                at_j = f" * {right}" if right else ""
                at_i = f" * {right.replace(', _j,', ', _i,')}" if right else ""
                if plan.matrix is None:
                    entries.append(f"{left}{at_j}")
                elif not plan.matrix:
                    diagonal.append(f"{left}{at_i}")
                for term in plan.matrix or []:
                    coeff = self._scalar_coefficient(term.coeff)
                    factor = left if coeff is None else f"{left} * {coeff}"
                    if term.parameter is None:
                        diagonal.append(f"{factor}{at_i}")
                    else:
                        m = f"{term.parameter}[_j, _i]" if term.transposed else f"{term.parameter}[_i, _j]"
                        entries.append(f"{factor} * {m}{at_j}")
            inner += [f"for _j in range({self.module.size(leaf.size)}):",
                      f"    _r[{offset} + _j] = {' + '.join(entries) or '_FT(0)'}"]
            if diagonal:
                inner.append(f"_r[{offset} + _i] += {' + '.join(diagonal)}")
            if w == len(writes) - 1 or writes[w + 1][0] != row:
                inner.append(f"⟦copy {row}⟧")
        # two copies of the loop: rows written in place, or in _row and streamed out (one loop
        # choosing per row kept LLVM from vectorizing the LSTM's: 0.21 -> 0.25 ms at n = 16)
        loop = ["for _b in range(_nb):", f"    for _i in range({self.module.size(size)}):"]
        in_place = [re.sub("⟦(.*)⟧", lambda m: f"_o[_b, {m[1]} + _i]", line) for line in inner if "⟦copy" not in line]
        streamed = [re.sub("⟦copy (.*)⟧", lambda m: f"_st.stream_copy(_of, (_b * _R + {m[1]} + _i) * _C, _row)",
                           re.sub("= ⟦.*⟧", "= _row", line)) for line in inner]
        return (lines + ["if _stream:"] + indent(loop + indent(indent(streamed)))
                + ["else:"] + indent(loop + indent(indent(in_place))))

    def shared_lines(self, exprs, index: str, prefix: str) -> tuple[list[str], list, list[str]]:
        """The values of ``exprs`` at entry ``index`` of sample ``_b``, written out with common
        subexpressions shared (``sympy.cse``): the lines of the temporaries ``<prefix>t<k>``,
        the reduced expressions and the code of each."""
        written = [self.written_out(e) for e in exprs]
        replacements, reduced = sympy.cse(written, symbols=sympy.numbered_symbols(f"{prefix}t"), optimizations=None)
        temporaries = {sym for sym, _ in replacements}
        scalar = ScalarPrinter(lambda sym: sym.name if sym in temporaries else self.entry(sym, index))
        body = [f"{sym.name} = {scalar.doprint(value)}" for sym, value in replacements]
        return body, reduced, [scalar.doprint(expr) for expr in reduced]

    def _fill(self, exprs, size, index: str, prefix: str):
        """Lines filling an array ``<prefix>[k, b, index]`` with the values of ``exprs`` (written
        out, common subexpressions shared) for every sample, and the code reading each value
        in the write loop (a number is written as itself).

        The values of one entry are stored side by side, ``<prefix>[b, index, k]``: LLVM then
        vectorizes the loop (the tanh and σ of ``_jit_math`` with it); with an array per value,
        or ``<prefix>[k, b, index]``, it gave up beyond four values (the LSTM's nine: 0.38 ms
        at n = 16, B = 256, against 0.09 ms)."""
        body, reduced, values = self.shared_lines(exprs, index, prefix)
        codes, stored = [], 0
        for expr, value in zip(reduced, values):
            if expr.free_symbols:
                body.append(f"{prefix}[_b, {index}, {stored}] = {value}")
                codes.append(f"{prefix}[_b, {index}, {stored}]")
                stored += 1
            else:
                codes.append(value)
        if not stored:
            return codes, []
        width = self.module.size(size)
        lines = [f"{prefix} = np.empty((_nb, {width}, {stored}), _FT)"]
        return codes, lines + ["for _b in range(_nb):", f"    for {index} in range({width}):"] + indent(indent(body))


_HEADER = '''"""Whole-kernel numba functions of cell {name!r}, generated by gatejac (numeric._jit_codegen)."""
import numpy as np

from gatejac.numeric import _jit_math as _m
from gatejac.numeric import _streaming as _st
from gatejac.numeric._numba_cache import cached_njit
'''


def header(name: str) -> str:
    """The head of a generated numba module of cell ``name``: its imports.  numba's cache checks
    the generated file only, not the ``_jit_math`` and ``_streaming`` functions it inlines; the
    file lives in ``_numba_cache.cache_directory()``, whose name is a hash of those modules, so
    a change to them gives a new directory and a fresh compilation."""
    return _HEADER.format(name=name)


def float_variants(name: str, lines: list[str]) -> list[str]:
    """The function ``name`` of ``lines`` (written with ``_FT``/``_SX``) once per float type of
    :data:`FLOAT_TYPES`, as ``<name>__f64`` and ``<name>__f32``, each declared with
    ``cached_njit``."""
    chunks = []
    for suffix, float_type in FLOAT_TYPES.items():
        text = "\n".join(lines).replace("_FT", float_type).replace("_SX", f"_{suffix}")
        chunks.append(f'@cached_njit(error_model="numpy")\n{text.replace(f"def {name}(", f"def {name}__{suffix}(")}\n')
    return chunks


def generate_jit(derivation: Derivation) -> tuple[str, dict]:
    """The numba module source for ``derivation``'s dense Jacobian kernels and ``{kernel:
    reason}`` of the kernels it cannot write (see the module docstring)."""
    module = _Module(derivation)
    cell = derivation.cell
    wanted = {"state_jacobian": (derivation.state, list(cell.states))}
    if cell.gates:
        split = derivation.gate_split()
        wanted["state_jacobian_frozen"] = (split.A, list(cell.states))
        wanted["state_jacobian_gate"] = (split.B, list(cell.states))
    if cell.inputs:
        wanted["input_jacobian"] = (derivation.input, list(cell.inputs))
    chunks, refused = [header(cell.name)], {}
    for name, (block_jacobian, leaves) in wanted.items():
        try:
            lines = _Kernel(module, block_jacobian, leaves).lines(name)
        except Unsupported as reason:
            refused[name] = str(reason)
            continue
        chunks += float_variants(name, lines)
    return "\n\n".join(chunks), refused
