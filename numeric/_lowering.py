"""The forward of a dense NumPy kernel rewritten onto buffers it owns: one ufunc call with ``out=``
a pass, no fresh array and no page fault a call.

A dense Jacobian kernel (``_codegen``) computes its batch products, gates and coefficients with
array expressions such as ``_t1 = _t0*r*(1 - h_tilde**2)``: every operator allocates a (B, n)
array, and glibc's ``malloc`` returns freed arrays of a few hundred KiB to the system and maps
them afresh, so each pass over a new temporary first takes a page fault a 4 KiB page.  At
B = n = 256 that was 865–1889 faults a GRU forward (float32–float64), and the forward took
2.68–3.35 / 5.05–6.80 ms of CPU on one thread (float32 / float64) against 1.65 / 3.22–3.27 ms
rewritten, without a fault (minima, side by side in one process; without faults the expression
passes alone took 0.37 / 0.81 ms and the same passes into owned buffers 0.30 / 0.67 ms).

:func:`lower` turns the forward's lines into a second version of them in which every batched
result is written by one ufunc call (``_f.add(a, b, out=_w3)``) into a workspace buffer of
shape (B, size) that ``_B.workspace`` gives the calling thread (``_workspace``).  The batch
products that come first write into the workspace's first buffers (``_B.products(...,
out=_w)``), which take results too once their values are no longer needed.  The kernel runs
this version where ``_B.workspace`` gives buffers (NumPy, real dtypes, arrays of at least
``_workspace.MIN_BYTES``) and the lines as written elsewhere (torch, small arrays, complex-step
differentiation).  The operations and their order are those of the expressions (Python
evaluates ``a + b + c`` as ``(a + b) + c``; ``x**2`` is ``square``, as NumPy's own fast path
computes it; σ is ``_B.ufuncs.sigmoid``, NumPy's σ of ``_arrays`` in place), so the two
versions give the same bits.

A line whose right-hand side holds anything else (a call that is not elementwise, a subscript)
keeps its expression: its value is a fresh array the buffers never hold.  Buffers are reused
once no later line names the value they hold (``later``: the kernel's remaining lines), so the
coefficients handed to ``_B.write_block_row`` (and the chunked writes' slices of them) are read
before the kernel returns; the next call of a kernel of the same sizes on the thread writes over
them.
"""

from __future__ import annotations

import ast
import re

from gatejac.symbolic import SCALAR, Leaf

_BINARY = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide"}
_CALLS = {"sigmoid": "sigmoid", "tanh": "tanh", "exp": "exp", "log": "log", "sqrt": "sqrt", "abs": "absolute",
          "sign": "sign", "sin": "sin", "cos": "cos", "softplus": "softplus"}
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


class _Unlowerable(Exception):
    """A right-hand side the rewrite keeps as written."""


class _Value:
    """An operand: its code, whether it has the batch axis, its size code (None: a scalar), and
    the buffer holding it if it is a temporary of the line (freed once consumed)."""

    def __init__(self, code: str, batched: bool, size: str | None, temporary: str | None = None):
        self.code, self.batched, self.size, self.temporary = code, batched, size, temporary


class _Lowering:
    """The rewrite of one kernel's forward (see :func:`lower`)."""

    def __init__(self, values: dict):
        self.known = values  # name → (batched, size code) of the kernel's leaves and nodes
        self.values = dict(values)  # and of the lines' values so far
        self.workspace: list[str] = []  # size code of each workspace buffer _w<i>
        self.size_of: dict[str, str] = {}  # buffer code (_w<i> or a product's name) → size code
        self.free: list[str] = []  # buffers holding nothing needed
        self.holder: dict[str, str] = {}  # name → the buffer holding its value
        self.lines: list[str] = []

    def own_product(self, name: str) -> None:
        """``name`` is a fresh (B, size) product of this call: its buffer may take results once
        no later line needs its value."""
        if name in self.values and self.values[name][1] is not None:
            self.size_of[name] = self.values[name][1]
            self.holder[name] = name

    def _take(self, size: str, reusable: list[str]) -> str:
        for pool in (reusable, self.free):
            for buffer in pool:
                if self.size_of[buffer] == size:
                    pool.remove(buffer)
                    return buffer
        buffer = f"_w{len(self.workspace)}"
        self.workspace.append(size)
        self.size_of[buffer] = size
        return buffer

    # ---------------------------------------------------------------- expressions
    def value(self, node: ast.expr) -> _Value:
        if isinstance(node, ast.Name):
            if node.id not in self.values:
                raise _Unlowerable(node.id)
            batched, size = self.values[node.id]
            return _Value(node.id, batched, size)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return _Value(repr(node.value), False, None)
        if isinstance(node, ast.BinOp) and type(node.op) in (*_BINARY, ast.Pow):
            operands = [self.value(node.left), self.value(node.right)]
            if isinstance(node.op, ast.Pow):
                if operands[1].batched:
                    raise _Unlowerable("a batched exponent")
                if operands[1].code == "2":
                    return self._apply("square", operands[:1], node)
                return self._apply("power", operands, node)
            return self._apply(_BINARY[type(node.op)], operands, node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self._apply("negative", [self.value(node.operand)], node)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "_B" and node.func.attr in _CALLS and len(node.args) == 1 and not node.keywords):
            return self._apply(_CALLS[node.func.attr], [self.value(node.args[0])], node)
        raise _Unlowerable(ast.unparse(node))

    def _apply(self, ufunc: str, operands: list[_Value], node: ast.expr) -> _Value:
        sizes = {o.size for o in operands if o.size is not None}
        if len(sizes) > 1:
            sizes.discard("1")  # a (B, 1) value broadcasts
        if len(sizes) > 1:
            raise _Unlowerable("operands of different sizes")
        size = sizes.pop() if sizes else None
        if not any(o.batched for o in operands):  # no batch axis: a small array, as written
            return _Value(f"({ast.unparse(node)})", False, size)
        if size is None:
            raise _Unlowerable("a batched scalar of unknown shape")
        temporaries = [o.temporary for o in operands if o.temporary is not None]
        out = self._take(size, temporaries)
        self.free.extend(temporaries)  # the other temporaries are consumed by this operation
        self.lines.append(f"_f.{ufunc}({', '.join(o.code for o in operands)}, out={out})")
        return _Value(out, True, size, out)

    # ---------------------------------------------------------------- lines
    def line(self, text: str, later: set[str]) -> None:
        """Rewrite one line of the forward; ``later``: the names the lines after it read."""
        tree = ast.parse(text).body[0]
        start, free, buffers = len(self.lines), list(self.free), len(self.workspace)
        target = tree.targets[0].id if (isinstance(tree, ast.Assign) and len(tree.targets) == 1
                                        and isinstance(tree.targets[0], ast.Name)) else None
        try:
            if target is None:
                raise _Unlowerable(text)
            result = self.value(tree.value)
        except _Unlowerable:
            del self.lines[start:], self.workspace[buffers:]  # the buffers it took are free again
            self.free = free
            self.lines.append(text)
            for name in _IDENTIFIER.findall(text.split("=", 1)[0]) if "=" in text else []:
                self.holder.pop(name, None)  # a fresh value, of its node's kind or unknown (read as written)
                if name in self.known:
                    self.values[name] = self.known[name]
                else:
                    self.values.pop(name, None)
        else:
            self.lines.append(f"{target} = {result.code}")
            self.values[target] = (result.batched, result.size)
            self.holder.pop(target, None)
            if result.temporary is not None:
                self.holder[target] = result.temporary
            elif result.code in self.holder:  # an alias of a value a buffer holds
                self.holder[target] = self.holder[result.code]
        live = {self.holder[name] for name in self.holder if name in later}
        for name in [name for name in self.holder if name not in later]:
            buffer = self.holder.pop(name)
            if buffer not in live and buffer not in self.free:
                self.free.append(buffer)


def lower(forward: list[str], later: list[str], values: dict, like: str, arguments: list[str]) -> list[str]:
    """The forward lines of a dense kernel with their rewrite onto owned buffers (module
    docstring): ``_w = _B.workspace(like, sizes, arguments)``, then the lines as written where that is None
    and rewritten elsewhere; the lines as written alone if no line is rewritten.

    ``values`` maps the names the lines read to (whether the value has the batch axis, the code
    of its size or None for a scalar); a line ``a, b = _B.products(...)`` gives fresh (B, size)
    arrays; ``later`` are the kernel's lines after the forward; ``like`` is the flattened
    (B, size) state whose dtype and batch the buffers take; ``arguments``: the kernel's
    arguments, whose dtypes must be ``like``'s for the buffers to be used."""
    lowering = _Lowering(values)
    uses = [set(_IDENTIFIER.findall(line)) for line in forward + later]
    lead, products = 0, []  # the products first in the forward, computed into the workspace
    for index, text in enumerate(forward):
        target, _, right = text.partition(" = ")
        if right.startswith("_B.products("):
            names = _IDENTIFIER.findall(target)
            if index == lead and all(values.get(name, (0, None))[1] for name in names):
                lead += 1
                products += names
            else:
                lowering.lines.append(text)
            for name in names:
                lowering.own_product(name)
        else:
            lowering.line(text, set().union(*uses[index + 1:]))
    if not lowering.workspace and not products:
        return forward
    sizes = "".join(f"{values[name][1]}, " for name in products) + "".join(f"{s}, " for s in lowering.workspace)
    lines = [f"_w = _B.workspace({like}, ({sizes}), ({''.join(f'{a}, ' for a in arguments)}))"]
    for text in forward[:lead]:  # the products' arrays are the workspace's first
        written = sum(len(_IDENTIFIER.findall(line.partition(" = ")[0])) for line in lines[1:])
        lines.append(f"{text[:-1]}, out=_w and _w[{written}:])" if written else f"{text[:-1]}, out=_w)")
    buffers = "".join(f"_w{i}, " for i in range(len(lowering.workspace)))
    unpack = [f"    {buffers}= _w[{len(products)}:]"] if buffers else []
    return (lines + ["if _w is None:"] + ["    " + line for line in forward[lead:]]
            + ["else:"] + unpack + ["    _f = _B.ufuncs"] + ["    " + line for line in lowering.lines])


def values_of(module, exprs) -> dict:
    """Name → (whether it has the batch axis, the code of its size: "1" for a batched scalar, of
    shape (B, 1), None for another scalar) of the states, inputs, vector parameters and nodes
    that a dense kernel's forward reads for ``exprs``; ``module`` is the generator's view of the
    cell (``_codegen._Module``)."""
    cell, values = module.cell, {}
    for piece in (*cell.states, *cell.inputs, *cell.parameters):
        if isinstance(piece, Leaf):
            values[piece.name] = (piece.role != "parameter", None if piece.size is SCALAR else module.size(piece.size))
    for symbol in module.node_order(exprs):
        size, batched = cell.node(symbol).size, module.batched_symbol(symbol)
        values[symbol.name] = (batched, ("1" if batched else None) if size is SCALAR else module.size(size))
    return values
