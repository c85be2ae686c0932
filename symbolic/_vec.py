"""Cell expressions: :class:`Vec` (a vector or scalar read elementwise) and :func:`apply`.

A ``Vec`` wraps a SymPy scalar expression whose free symbols stand for the cell's nodes.
NumPy and torch functions cannot act on it (they compute numbers; a cell is symbolic):
``np.tanh(v)``, ``torch.tanh(v)`` and ``array @ v`` raise a gatejac error that names what
to write instead (``gatejac.symbolic.tanh(v)``; a fixed parameter for an array of values).
Neither NumPy nor torch is imported here: NumPy reaches ``Vec.__array_ufunc__`` and torch
``Vec.__torch_function__`` on their own.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING

import sympy
from sympy.matrices.expressions import MatrixExpr

from ._errors import GatejacError, NotElementwiseError, SpecError, VecInSymPyError
from ._nodes import SCALAR

if TYPE_CHECKING:
    from ._cell import Cell

FUNCTIONS_HINT = (
    "use gatejac.symbolic.tanh, sigmoid, exp, log or softplus, or gatejac.symbolic.apply(f, v) with a SymPy "
    "scalar function f"
)
FIXED_PARAMETER_HINT = (
    "to use fixed values in a cell, declare them as a fixed parameter, e.g. R = cell.parameter('R', (rows, columns), "
    "trainable=False), write R @ h, and give the values when the cell is evaluated"
)
_NUMPY_OPERATORS = {"add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
                    "true_divide": operator.truediv, "divide": operator.truediv, "power": operator.pow}
_ARRAY_NAMES = {"numpy": "a NumPy array", "torch": "a torch tensor", "jax": "a JAX array"}


def size_text(size) -> str:
    return "a scalar" if size is SCALAR else f"size {size}"


def _library(value) -> str:
    return (getattr(type(value), "__module__", None) or "").split(".")[0]


def describe_value(value) -> str:
    """A short description of a value for an error message: an array by its kind and shape
    (never its entries), a long repr cut short."""
    library = _library(value)
    shape = getattr(value, "shape", None)
    if library in _ARRAY_NAMES and shape is not None:
        return f"{_ARRAY_NAMES[library]} of shape {tuple(shape)}"
    if isinstance(value, Vec):
        return f"the cell expression {value}"
    if isinstance(value, sympy.Basic):
        return f"the SymPy {'matrix' if getattr(value, 'is_Matrix', False) else 'expression'} {value}"
    text = repr(value)
    return f"{text if len(text) <= 60 else text[:57] + '...'} of type {type(value).__name__}"


def is_array(value) -> bool:
    """Whether ``value`` is an array of numbers from NumPy, torch or JAX."""
    return _library(value) in _ARRAY_NAMES and hasattr(value, "shape")


class Vec:
    """A vector (or scalar) expression of a cell, read elementwise.

    Supports ``+ - * / **`` with other expressions of the same cell, numbers and scalar
    parameters (scalars broadcast), ``M @ v`` for a matrix expression ``M`` and
    ``u @ v`` / ``u.dot(v)`` for the scalar ``uᵀ v``.  ``expr`` is the SymPy expression;
    its free symbols stand for the cell's nodes.  ``str(v)`` is its plain-text form in the
    cell's names (``tanh(W@h + b)``).
    """

    _op_priority = 20.0  # above SymPy's, so SymPy objects defer to Vec's operators
    __slots__ = ("cell", "expr", "size")

    def __init__(self, cell: Cell, expr: sympy.Expr):
        self.cell = cell
        self.expr = expr
        self.size = cell.size_of(expr)

    def _combine(self, other, op) -> Vec:
        return Vec(self.cell, op(self.expr, self.cell.as_expr(other, f"elementwise operation with {self}")))

    def _sympy_(self):
        raise VecInSymPyError(
            f"the cell expression {self} was passed to a SymPy function directly; SymPy functions act on scalars — "
            "apply one elementwise with gatejac.symbolic.apply(f, v), or use gatejac.symbolic.sigmoid/tanh/exp/log/"
            "softplus"
        )

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """NumPy scalars combine with a cell expression like Python numbers; arrays and NumPy
        functions raise a :class:`NotElementwiseError` that says what to write instead."""
        name = ufunc.__name__
        others = [a for a in inputs if not isinstance(a, Vec)]
        arrays = [a for a in others if getattr(a, "ndim", 0) != 0]
        if name == "matmul" or arrays:
            raise _array_error(self, (arrays or others)[0], "@" if name == "matmul" else f"numpy.{name}")
        if method == "__call__" and not kwargs and name in _NUMPY_OPERATORS:
            return _NUMPY_OPERATORS[name](*(a if isinstance(a, Vec) else a.item() for a in inputs))
        raise NotElementwiseError(
            f"numpy.{name} was called on the cell expression {self}; NumPy functions compute numbers, a cell is "
            f"symbolic — {_function_hint(name)}"
        )

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        """torch functions and tensors raise a :class:`NotElementwiseError` (see ``__array_ufunc__``)."""
        name = getattr(func, "__name__", str(func)).strip("_")
        values = [*args, *(kwargs or {}).values()]
        vec = next((a for a in values if isinstance(a, Vec)), None)
        if vec is None:  # the cell expression sits inside a list or tuple, e.g. torch.cat([h, h])
            vec = next(a for v in values if isinstance(v, (list, tuple)) for a in v if isinstance(a, Vec))
        tensors = [a for a in values if is_array(a)]
        if tensors:
            raise _array_error(vec, tensors[0], "@" if "matmul" in name else f"torch.{name}")
        raise NotElementwiseError(
            f"torch.{name} was called on the cell expression {vec}; torch functions compute numbers, a cell is "
            f"symbolic — {_function_hint(name)}"
        )

    def __add__(self, o):
        return self._combine(o, lambda a, b: a + b)

    def __radd__(self, o):
        return self._combine(o, lambda a, b: b + a)

    def __sub__(self, o):
        return self._combine(o, lambda a, b: a - b)

    def __rsub__(self, o):
        return self._combine(o, lambda a, b: b - a)

    def __mul__(self, o):
        return self._combine(o, lambda a, b: a * b)

    def __rmul__(self, o):
        return self._combine(o, lambda a, b: b * a)

    def __truediv__(self, o):
        return self._combine(o, lambda a, b: a / b)

    def __rtruediv__(self, o):
        return self._combine(o, lambda a, b: b / a)

    def __pow__(self, o):
        return self._combine(o, lambda a, b: a**b)

    def __rpow__(self, o):
        return self._combine(o, lambda a, b: b**a)

    def __neg__(self):
        return Vec(self.cell, -self.expr)

    def __pos__(self):
        return self

    def __matmul__(self, other) -> Vec:
        if isinstance(other, (MatrixExpr, sympy.MatrixBase)) or is_array(other):
            raise NotElementwiseError(
                f"{self} @ {self.cell.text(other) if isinstance(other, MatrixExpr) else describe_value(other)}: a "
                "vector cannot multiply a matrix from the left; write M @ v for a matrix-vector product, or u @ v "
                "for the scalar uᵀv"
            )
        return self.dot(other)

    def __rmatmul__(self, matrix) -> Vec:
        return self.cell.matvec(matrix, self)

    def dot(self, other) -> Vec:
        """The scalar ``selfᵀ other`` (a reduction over units)."""
        return self.cell.dot(self, other)

    def __bool__(self):
        raise SpecError(
            f"the truth value of the cell expression {self} is not defined: a cell expression is symbolic; "
            "write conditions with SymPy functions (e.g. sympy.Piecewise) inside gatejac.symbolic.apply"
        )

    def __str__(self) -> str:
        return self.cell.text(self.expr)

    def __repr__(self) -> str:
        return f"Vec({self}, {size_text(self.size)})"


def _function_hint(name: str) -> str:
    own = {"tanh": "tanh", "exp": "exp", "log": "log", "expit": "sigmoid", "sigmoid": "sigmoid", "softplus": "softplus"}
    if name in own:
        return f"write gatejac.symbolic.{own[name]}(v) instead"
    return FUNCTIONS_HINT


def _array_error(vec: Vec, array, operation: str) -> NotElementwiseError:
    where = f"{describe_value(array)} @ {vec}" if operation == "@" else f"{operation} of {describe_value(array)} and {vec}"
    return NotElementwiseError(
        f"{where}: arrays of numbers cannot enter a cell expression (the cell is symbolic); {FIXED_PARAMETER_HINT}"
    )


def apply(function: Callable[..., sympy.Expr], *args) -> Vec | sympy.Expr:
    """Apply a SymPy scalar function elementwise: ``apply(lambda u, v: u / (1 + v**2), a, b)``.

    The function receives SymPy expressions and must return a scalar SymPy expression.
    """
    name = getattr(function, "__name__", repr(function))
    for i, arg in enumerate(args):
        if isinstance(arg, (MatrixExpr, sympy.MatrixBase)) or is_array(arg):
            shown = describe_value(arg) if is_array(arg) else f"the matrix {arg}"
            raise NotElementwiseError(
                f"{name}(): argument {i} is {shown}; elementwise functions act on the cell's vectors — apply a "
                f"matrix to a vector first, e.g. {name}(W @ h)" + (f"; {FIXED_PARAMETER_HINT}" if is_array(arg) else "")
            )
    cells = {id(a.cell): a.cell for a in args if isinstance(a, Vec)}
    if len(cells) > 1:
        names = " and ".join(repr(c.name) for c in cells.values())
        raise SpecError(
            f"{name}(): the arguments come from different cells ({names}); build each cell from its own declarations"
        )
    cell = next(iter(cells.values()), None)
    try:
        exprs = [cell.as_expr(a, f"argument {i} of {name}") if cell else sympy.sympify(a) for i, a in enumerate(args)]
        result = function(*exprs)
    except GatejacError:
        raise
    except (TypeError, ValueError, AttributeError) as exc:
        shown = ", ".join(describe_value(a) if not isinstance(a, Vec) else str(a) for a in args)
        raise NotElementwiseError(
            f"{name!r} could not be applied to {shown} ({type(exc).__name__}: {exc}); elementwise functions must map "
            "SymPy scalars to a SymPy scalar expression"
        ) from exc
    return Vec(cell, cell.as_expr(result, f"result of {name}")) if cell else result
