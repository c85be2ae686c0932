"""Scalar functions with exact derivatives and paper notation, for elementwise use.

SymPy has ``tanh`` and ``exp`` but no logistic sigmoid; gatejac adds

* :class:`sigmoid`        σ(x) = 1 / (1 + e^{-x}),         LaTeX ``\\sigma(x)``;
* :class:`sigmoid_prime`  σ'(x) = σ(x) (1 − σ(x)),         LaTeX ``\\sigma'(x)``;
* :class:`softplus`       softplus(x) = log(1 + e^{x}),    derivative σ(x).

``sigmoid_prime`` is kept as its own function so that derivations print as a paper writes
them (``\\sigma'(a_g)``) and so that compiled kernels evaluate it as ``s (1 - s)`` with
``s = σ(x)`` computed once (the rounding autograd uses; docs/theory.md: “Numerics”).

Each is a SymPy function class (``expr.atoms(sigmoid)``, ``expr.replace(sigmoid_prime, …)``)
that also applies elementwise to a cell vector: ``sigmoid(W @ h)`` is a cell expression.
"""

from __future__ import annotations

import sympy
from sympy.matrices.expressions import MatrixExpr

from ._vec import Vec, apply, is_array


class _Elementwise(sympy.Function):
    """A SymPy function that, given a cell vector (or a matrix, or an array, to refuse them
    with a clear error), applies elementwise through :func:`~gatejac.symbolic.apply`."""

    def __new__(cls, *args, **options):
        if any(isinstance(a, (Vec, MatrixExpr, sympy.MatrixBase)) or is_array(a) for a in args):
            return apply(cls, *args)
        return super().__new__(cls, *args, **options)


class sigmoid(_Elementwise):
    """Logistic sigmoid σ(x) = 1 / (1 + exp(-x)); σ' = σ (1 − σ)."""

    is_real = True

    @classmethod
    def eval(cls, x):
        if x is sympy.S.Zero:
            return sympy.S.Half
        return None

    def fdiff(self, argindex=1):
        return sigmoid_prime(self.args[0])

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _eval_evalf(self, prec):
        return (1 / (1 + sympy.exp(-self.args[0]))).evalf(prec)

    def _latex(self, printer, exp=None):
        body = r"\sigma\left(%s\right)" % printer._print(self.args[0])
        return body if exp is None else r"\sigma^{%s}\left(%s\right)" % (exp, printer._print(self.args[0]))


class sigmoid_prime(_Elementwise):
    """Derivative of the sigmoid, σ'(x) = σ(x) (1 − σ(x)); σ'' = σ' (1 − 2σ)."""

    is_real = True

    @classmethod
    def eval(cls, x):
        if x is sympy.S.Zero:
            return sympy.Rational(1, 4)
        return None

    def fdiff(self, argindex=1):
        x = self.args[0]
        return sigmoid_prime(x) * (1 - 2 * sigmoid(x))

    def _eval_rewrite_as_sigmoid(self, x, **kwargs):
        return sigmoid(x) * (1 - sigmoid(x))

    def _eval_rewrite_as_exp(self, x, **kwargs):
        s = 1 / (1 + sympy.exp(-x))
        return s * (1 - s)

    def _eval_evalf(self, prec):
        return self._eval_rewrite_as_exp(self.args[0]).evalf(prec)

    def _latex(self, printer, exp=None):
        arg = printer._print(self.args[0])
        return r"\sigma'\left(%s\right)" % arg if exp is None else r"\sigma'\left(%s\right)^{%s}" % (arg, exp)


class softplus(_Elementwise):
    """softplus(x) = log(1 + exp(x)); its derivative is σ(x)."""

    is_real = True

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sympy.log(1 + sympy.exp(x))

    def _eval_evalf(self, prec):
        return self._eval_rewrite_as_log(self.args[0]).evalf(prec)

    def _latex(self, printer, exp=None):
        body = r"\operatorname{softplus}\left(%s\right)" % printer._print(self.args[0])
        return body if exp is None else r"\operatorname{softplus}^{%s}\left(%s\right)" % (exp, printer._print(self.args[0]))
