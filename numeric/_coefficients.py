"""The coefficient expressions of one generated kernel, emitted with common subexpressions.

A kernel generator (``_codegen``) asks :meth:`Coefficients.ref` for a placeholder for each
coefficient expression it needs (the u of a diag(u)·M term, a diagonal, a Kronecker factor's
vector) and then :meth:`Coefficients.emit` writes the lines: the nodes the expressions need,
``sympy.cse`` temporaries ``_t<k>``, one ``_c<i>`` per coefficient, and the kernel's body with
the placeholders filled in.  Subexpressions shared with the definitions of named nodes become
``_u<k>`` (``_Module.shared_with_nodes``).
"""

from __future__ import annotations

import re

import sympy

from ._printer import print_array


class Coefficients:
    """Collects the coefficient expressions of a kernel and emits them with CSE; ``module``
    is the generator's view of the cell (``_codegen._Module``)."""

    def __init__(self, module, products: bool = False):
        self.module = module
        self.products = products  # batch products through ``_B.products`` (``_Module.nodes``)
        self.exprs: list[sympy.Expr] = []

    def ref(self, expr) -> str:
        """A placeholder for ``expr``; resolved by :meth:`emit`."""
        self.exprs.append(self.module.expr(expr))
        return f"\u27e6{len(self.exprs) - 1}\u27e7"

    def emit(self, body: list[str], chunked: list[str] | None = None) -> list[str]:
        """Node lines, CSE temporaries, one variable per coefficient, then ``body``; the lines
        of ``chunked`` run inside a loop over batch chunks (``_s``), batched coefficients sliced."""
        shared = self.module.shared_with_nodes(self.exprs)
        exprs = [e.xreplace(shared) for e in self.exprs]
        replacements, reduced = sympy.cse(exprs, symbols=sympy.numbered_symbols("_t"), optimizations=None)
        batched = dict.fromkeys(shared.values(), True)

        def has_batch(symbol) -> bool:
            return batched[symbol] if symbol in batched else self.module.batched_symbol(symbol)

        lines = []
        for sym, value in replacements:
            batched[sym] = any(map(has_batch, value.free_symbols))
            lines.append(f"{sym.name} = {print_array(value, has_batch)}")
        names, sliced = [], []
        for i, expr in enumerate(reduced):
            is_batched = any(map(has_batch, expr.free_symbols))
            lines.append(f"_c{i} = {self._code(expr, has_batch)}")
            names.append(f"_c{i}")
            sliced.append(f"_c{i}[_s]" if is_batched else f"_c{i}")
        out = self.module.nodes(self.exprs, shared, self.products) + lines + [_fill(line, names) for line in body]
        if chunked:
            out.append("for _lo in range(0, _nb, _chunk):")
            out.append("    _s = slice(_lo, _lo + _chunk)")
            out.extend("    " + _fill(line, sliced) for line in chunked)
        return out

    def _code(self, expr, batched) -> str:
        if not sympy.sympify(expr).free_symbols:
            return f"_B.scalar({print_array(expr)}, {self.module.args[0]})"
        return print_array(expr, batched)


def _fill(line: str, codes: list[str]) -> str:
    """Replace the ⟦i⟧ placeholders of :meth:`Coefficients.ref` by their code."""
    return re.sub("\u27e6(\\d+)\u27e7", lambda m: codes[int(m.group(1))], line)


def indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]
