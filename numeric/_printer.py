"""Printing elementwise SymPy expressions as array code for the ``_B`` back-end namespace.

SymPy's own NumPy/torch printers emit invalid code for gatejac's matrix expressions, and
we only need the scalar part: ``tanh(a)`` becomes ``_B.tanh(a)``, ``σ'(x)`` is rewritten
to ``σ(x)·(1 − σ(x))`` (one sigmoid, then reused: the rounding autograd uses), rationals
become exact float literals, and any function without a back-end counterpart is refused.

Given which symbols carry the batch axis, a sum is printed with its terms without one first:
Python adds left to right, so ``b_hz + b_iz + _mv1 + _mv4`` adds the two bias vectors once and
then makes two passes over the (B, n) batch, where ``_mv1 + _mv4 + b_hz + b_iz`` made three
(the GRU's gates; about 30 µs a pass at B = n = 256, float64).
"""

from __future__ import annotations

import sympy
from sympy.printing.str import StrPrinter

from gatejac.symbolic import sigmoid, sigmoid_prime

from ._errors import CompileError

_FUNCTIONS = {"tanh": "tanh", "exp": "exp", "log": "log", "sigmoid": "sigmoid", "softplus": "softplus",
              "sin": "sin", "cos": "cos", "Abs": "abs", "sign": "sign"}


class ArrayPrinter(StrPrinter):
    """Prints a scalar SymPy expression as elementwise array code over ``_B``; with
    ``batched`` (symbol → whether its value has the batch axis), the terms of a sum that do
    not have it come first."""

    def __init__(self, batched=None):
        super().__init__()
        self._batched = batched

    def _as_ordered_terms(self, expr, order=None):
        terms = super()._as_ordered_terms(expr, order=order)
        if self._batched is None:
            return terms
        return sorted(terms, key=lambda term: any(map(self._batched, term.free_symbols)))  # stable

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name not in _FUNCTIONS:
            raise CompileError(
                f"the function {name} in {expr} has no NumPy/torch kernel; use tanh, exp, log, sigmoid, softplus, "
                "sin, cos, Abs, sign, powers and arithmetic"
            )
        return f"_B.{_FUNCTIONS[name]}({', '.join(self._print(a) for a in expr.args)})"

    _print_Abs = _print_Function

    _SQRT, _RECIPROCAL = "_B.sqrt({0})", "(1/{0})"

    def _print_Pow(self, expr, rational=False):
        if expr.exp == sympy.S.Half:
            return self._SQRT.format(self._print(expr.base))
        if expr.exp == -1:
            return self._RECIPROCAL.format(self.parenthesize(expr.base, 100))
        return f"{self.parenthesize(expr.base, 100)}**{self.parenthesize(expr.exp, 100)}"

    def _number(self, value: float) -> str:
        return repr(value)

    def _print_Rational(self, expr):
        return self._number(float(expr))

    def _print_Integer(self, expr):
        return str(int(expr))

    _print_Float = _print_Rational

    def _print_Exp1(self, expr):
        return self._number(float(sympy.E))

    def _print_Pi(self, expr):
        return self._number(float(sympy.pi))

    def _print_Symbol(self, expr):
        return expr.name


def kernel_form(expr: sympy.Expr) -> sympy.Expr:
    """The expression as kernels evaluate it: σ'(x) → σ(x)(1 − σ(x))."""
    return expr.replace(sigmoid_prime, lambda x: sigmoid(x) * (1 - sigmoid(x))) if expr.has(sigmoid_prime) else expr


_PRINTER = ArrayPrinter()


def print_array(expr, batched=None) -> str:
    """Array code for a scalar SymPy expression (numbers print as Python literals); with
    ``batched`` (symbol → bool), sums list their terms without the batch axis first."""
    printer = _PRINTER if batched is None else ArrayPrinter(batched)
    return printer.doprint(sympy.sympify(expr))


_SCALAR_FUNCTIONS = {"tanh": "_m.tanh_SX({0})", "exp": "_m.exp_SX({0})", "sigmoid": "_m.sigmoid_SX({0})",
                     "softplus": "_m.softplus_SX({0})", "log": "np.log({0})", "sin": "np.sin({0})",
                     "cos": "np.cos({0})", "Abs": "abs({0})", "sign": "np.sign({0})"}


class ScalarPrinter(ArrayPrinter):
    """Prints a scalar SymPy expression as numba code for one entry (the whole-kernel jit
    kernels, ``_jit_codegen``): ``index(symbol)`` gives the code reading a symbol's entry
    (``h[_b, _i]``), every number is wrapped as ``_FT(…)`` (the kernel's float type, so that
    float32 kernels compute in float32), tanh, exp, σ and softplus are ``_jit_math``'s
    (``_m.tanh_SX``, ``SX`` replaced by the float type's suffix), squares and cubes are products.
    """

    def __init__(self, index):
        super().__init__()
        self._index = index

    def _print_Function(self, expr):
        name = type(expr).__name__
        if name not in _SCALAR_FUNCTIONS:
            super()._print_Function(expr)  # the same error as the array kernels
        return _SCALAR_FUNCTIONS[name].format(self._print(expr.args[0]))

    _print_Abs = _print_Function

    _SQRT, _RECIPROCAL = "np.sqrt({0})", "(_FT(1) / {0})"

    def _print_Pow(self, expr, rational=False):
        if expr.exp in (2, 3):
            return "(" + " * ".join([self.parenthesize(expr.base, 100)] * int(expr.exp)) + ")"
        return super()._print_Pow(expr, rational)

    def _number(self, value: float) -> str:
        return f"_FT({value!r})"

    _print_Integer = ArrayPrinter._print_Rational

    def _print_Symbol(self, expr):
        return self._index(expr)
