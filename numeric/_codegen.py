"""Code generation: a :class:`~symbolic.Derivation` becomes one Python module of kernels.

The module defines, over the back-end namespace ``_B`` (``numeric.arrays(backend)``, see ``_arrays``):

* ``step(<args>, _override=None)`` → tuple of new states (``_override``: values for
  named intermediates, see :func:`_step_function`);
* ``intermediates(<args>)`` → ``{name: value}`` of the named intermediates and gates;
* ``state_jacobian_frozen`` / ``state_jacobian_gate`` (cells with gates): the parts A
  and B of the gate split J = A + B;
* ``state_jacobian(<args>, out=None)``, ``input_jacobian(<args>, out=None)`` and
  ``parameter_jacobian_<name>(<args>, out=None)`` → dense Jacobians (numerator layout,
  blocks in declaration order, matrix parameters flattened row-major);
* ``jvp(<args>, <d_leaf>=None ...)`` → tangents of the new states, J·t;
* ``vjp(<args>, <c_state> ...)`` → dict of cotangents Jᵀ·c for states and inputs (per
  sample) and parameters (summed over the batch).

``<args>`` are the states, inputs and parameters in declaration order.  Structure is
kept: a dense block made of ``diag(u)·M`` and ``diag(d)`` terms (every state and input
block of the catalogue) goes to ``_B.write_block_row``, which writes each output row once
(see ``_fused``); in any other block ``diag(u)·M`` is the broadcast ``u[..., :, None] * M``
written into the output in place, ``diag(u)`` is added to the diagonal view and rank-one
terms are outer products.  Jacobian actions never form a matrix.  Node values (gates,
pre-activations) are computed once per kernel and coefficient expressions share common
subexpressions (``sympy.cse``), also with the definitions of named nodes (the GRU's
``b_hn + W_hn·h`` is inside h̃ and in a coefficient of ∂h'/∂h: one ``_u0``); sums add their
terms without the batch axis first (``_printer``).
"""

from __future__ import annotations

import sympy

from gatejac.symbolic import (
    SCALAR, Cell, Column, Derivation, Diag, Dot, Kron, Leaf, Mat, MatrixParameter, MatVec, Named, Row, Term,
)

from ._errors import CompileError
from ._coefficients import Coefficients as _Coefficients
from ._coefficients import indent as _indent
from ._lowering import lower, values_of
from ._printer import kernel_form, print_array


class _Module:
    """Accumulates the generated source for one cell."""

    def __init__(self, derivation: Derivation):
        self.derivation = derivation
        self.cell: Cell = derivation.cell
        self.args = [p.name for p in (*self.cell.states, *self.cell.inputs, *self.cell.parameters)]
        self.named_subs: dict[sympy.Expr, sympy.Symbol] = {}
        for named in self.cell.named:  # the first of several names for one expression wins
            if not named.expr.is_Symbol:
                self.named_subs.setdefault(named.expr, named.symbol)
        self.named_names = {n.name for n in self.cell.named}
        self._batched: dict[tuple, bool] = {}

    # ------------------------------------------------------------------ expressions
    def expr(self, expr, substitute: bool = True) -> sympy.Expr:
        """Kernel form of ``expr``, with named intermediates' definitions replaced by their names
        (``substitute``; node definitions are printed as written, so that no substitution can
        make a node read one that is computed after it)."""
        expr = sympy.sympify(expr)
        foreign = sorted(str(s) for s in expr.free_symbols if not self.cell.has_node(s))
        if foreign:
            raise CompileError(
                f"cannot generate code for {expr}: {', '.join(foreign)} is not a declared state, input, parameter or "
                f"intermediate of cell {self.cell.name!r}; every symbol in a kernel must be one of its arguments"
            )
        expr = kernel_form(expr)
        return expr.xreplace(self.named_subs) if substitute else expr

    def prologue(self, flatten: bool = False) -> list[str]:
        """Scalars as arrays, sizes from shapes, the batch shape; with ``flatten`` the states
        and inputs are broadcast to one flat batch axis, ``(B, size)`` (dense kernels)."""
        lines = []
        vectors = [p for p in (*self.cell.states, *self.cell.inputs)]
        like = vectors[0].name
        for piece in self.cell.parameters:
            if isinstance(piece, Leaf) and piece.size is SCALAR:
                lines.append(f"{piece.name} = _B.scalar({piece.name}, {like})")
        lines.extend(f"{dim.name} = {source}" for dim, source in self._dim_sources().items())
        lines.append(f"_batch = tuple(_B.batch_shape({', '.join(v.name for v in vectors)}))")
        if flatten:
            lines.extend(f"{v.name} = _B.flatten_batch({v.name}, _batch)" for v in vectors)
        return lines

    def batched(self, symbol: sympy.Symbol, roles: tuple = ("state", "input")) -> bool:
        """Whether a node's value depends on a leaf of one of ``roles``; by default, whether it
        has the batch axis (it depends on a state or input)."""
        key = (symbol, roles)
        if key not in self._batched:
            node = self.cell.node(symbol)
            if isinstance(node, Leaf):
                self._batched[key] = node.role in roles
            else:
                self._batched[key] = any(self.batched(s, roles) for child in self.cell.children(node)
                                         for s in child.free_symbols)
        return self._batched[key]

    def _dim_sources(self) -> dict[sympy.Symbol, str]:
        sources: dict[sympy.Symbol, str] = {}
        for piece in (*self.cell.states, *self.cell.inputs, *self.cell.parameters):
            shape = piece.shape if isinstance(piece, MatrixParameter) else (piece.size,)
            for axis, dim in enumerate(shape):
                if isinstance(dim, sympy.Symbol) and dim not in sources:
                    sources[dim] = f"{piece.name}.shape[{axis - len(shape)}]"
        return sources

    def size(self, size) -> str:
        return print_array(size)

    def nodes(self, exprs, shared: dict | None = None, products: bool = False) -> list[str]:
        """Lines computing every node the expressions need, in dependency order; ``shared``
        (subexpression → symbol, see :meth:`shared_with_nodes`) are computed once, each just
        before the first named node that has it, and read by name there and after.

        With ``products`` (the dense Jacobian kernels), every batch product node ``v @ Wᵀ`` goes
        through ``_B.products`` (two threads for large ones, see ``_parallel_products``): those
        whose operand is a state or input in one call before every other line, the others (the
        GRU of Cho et al.'s ``(h⊙r) @ W_hᵀ``) one call each where they are needed."""
        shared, defined, lines = shared or {}, set(), []
        names = set(shared.values())  # every shared subexpression has the batch axis

        def batched(symbol):
            return symbol in names or self.batched_symbol(symbol)

        order = self.node_order(exprs)
        batch_products = [sym for sym in order if products and self._batch_product(sym)]
        first = [sym for sym in batch_products
                 if all(isinstance(self.cell.node(s), Leaf) for s in self.cell.node(sym).operand.free_symbols)]
        if first:
            lines.append(self._products_line(first))
        for sym in order:
            node = self.cell.node(sym)
            if sym in first:
                continue
            if sym in batch_products:
                lines.append(self._products_line([sym]))
            elif isinstance(node, Named):
                expr = self.expr(node.expr, False)
                for sub, name in shared.items():
                    if name not in defined and expr.has(sub):
                        defined.add(name)
                        lines.append(f"{name} = {print_array(sub, self.batched_symbol)}")
                lines.append(f"{node.name} = {print_array(expr.xreplace(shared), batched)}")
            else:
                lines.append(self._node_line(node))
        return lines

    def shared_with_nodes(self, exprs) -> dict:
        """Batched sums and products inside the definitions of the named nodes ``exprs`` need
        that ``exprs`` also contain (the GRU's ``b_hn + _mv5``, in h̃ = tanh(… + r⊙(b_hn +
        _mv5)) and in a coefficient of ∂h'/∂h), each given a symbol ``_u<k>`` so that it is
        computed once; the largest such subexpressions, in dependency order."""
        shared = {}
        for sym in self.node_order(exprs):
            node = self.cell.node(sym)
            if not isinstance(node, Named):
                continue
            definition = self.expr(node.expr, False)
            walk = sympy.preorder_traversal(definition)
            for sub in walk:
                if sub in shared or not (sub.is_Add or sub.is_Mul) or sub == definition:
                    continue
                symbol = sympy.Symbol(f"_u{len(shared)}")
                if any(map(self.batched_symbol, sub.free_symbols)) and any(e.xreplace({sub: symbol}) != e for e in exprs):
                    shared[sub] = symbol
                    walk.skip()
        return shared

    def node_order(self, exprs) -> list[sympy.Symbol]:
        """Every node (not leaf) the expressions need, in dependency order."""
        order: list[sympy.Symbol] = []
        seen: set[sympy.Symbol] = set()

        def visit(expr):
            for sym in sorted(sympy.sympify(expr).free_symbols, key=str):
                if sym in seen:
                    continue
                seen.add(sym)
                node = self.cell.node(sym)
                for child in self.cell.children(node):
                    visit(child)
                if isinstance(node, MatVec):
                    for term in node.terms:
                        visit(term.coeff)
                if not isinstance(node, Leaf):
                    order.append(sym)

        for e in exprs:
            visit(e)
        return order

    def batched_symbol(self, symbol: sympy.Symbol) -> bool:
        """:meth:`batched` for any symbol of a kernel's expressions (False for sizes)."""
        return self.cell.has_node(symbol) and self.batched(symbol)

    def _node_line(self, node) -> str:
        """The line computing a matrix-vector product or a dot product node."""
        if isinstance(node, Dot):
            left, right = (print_array(self.expr(e, False)) for e in (node.left, node.right))
            return f"{node.symbol.name} = _B.dot({left}, {right})"
        return f"{node.symbol.name} = {self.apply_matrix(node.terms, print_array(self.expr(node.operand, False)), False)}"

    def _batch_product(self, symbol: sympy.Symbol) -> bool:
        """Whether a node is one batch product ``v @ Wᵀ`` (or ``v @ W``) of a batched operand."""
        node = self.cell.node(symbol)
        return (isinstance(node, MatVec) and len(node.terms) == 1 and node.terms[0].parameter is not None
                and node.terms[0].coeff == 1 and any(map(self.batched_symbol, node.operand.free_symbols)))

    def _products_line(self, symbols) -> str:
        """``_mv0, _mv1, … = _B.products((v0, W0ᵀ), (v1, W1ᵀ), …)`` for batch product nodes."""
        pairs = []
        for symbol in symbols:
            node = self.cell.node(symbol)
            pairs.append(f"({print_array(self.expr(node.operand, False))}, {self._right_factor(node.terms[0], False)})")
        names = ", ".join(s.name for s in symbols)
        return f"{names}{',' if len(symbols) == 1 else ''} = _B.products({', '.join(pairs)})"

    def _right_factor(self, term, transpose: bool) -> str:
        """The matrix a row vector is multiplied by for ``term``'s base (``Wᵀ`` for ``W v``)."""
        return term.parameter if term.transposed != transpose else f"_B.transpose({term.parameter})"

    def apply_matrix(self, terms, vector: str, transpose: bool) -> str:
        """Code for ``M v`` (or ``Mᵀ v``) with ``M = Σ coeff·base``, never forming ``M``."""
        parts = []
        for term in terms:
            if term.parameter is None:
                product = f"({vector})"
            else:
                product = f"(({vector}) @ {self._right_factor(term, transpose)})"
            parts.append(product if term.coeff == 1 else f"({print_array(term.coeff)}) * {product}")
        return " + ".join(parts)

    def dense_matrix(self, matrix) -> str:
        terms = self.cell.matrix_terms(matrix)
        parts = []
        for term in terms:
            if term.parameter is None:
                size = self.size(matrix.shape[0])
                base = f"_B.eye({size}, {self.args[0]})"
            else:
                base = f"_B.transpose({term.parameter})" if term.transposed else term.parameter
            parts.append(base if term.coeff == 1 else f"({print_array(term.coeff)}) * {base}")
        return "(" + " + ".join(parts) + ")"


def _fold_scale(term: Term) -> tuple[sympy.Expr, list]:
    """Move the term's scalar into its first vector-valued factor when it has one."""
    scale, factors = term.coefficient, list(term.structure)
    if scale == 1:
        return sympy.S.One, factors
    for i, factor in enumerate(factors):
        if isinstance(factor, (Diag, Column, Row, Kron)):
            factors[i] = type(factor)(factor.value * scale, *_rest_fields(factor))
            return sympy.S.One, factors
    return scale, factors


def _rest_fields(factor):
    if isinstance(factor, Kron):
        return (factor.size, factor.dim, factor.transposed)
    return (factor.size,)


def _dense_plan(module: _Module, coeffs: _Coefficients, term: Term):
    """How to write one term into a dense block: ``("diag", u)``, ``("rows", u, M)`` for
    diag(u)·M with M shared by the batch, or ``("product", a, b, kron)`` for the broadcast a·b."""
    scale, factors = _fold_scale(term)
    shape = [type(factor) for factor in factors]
    if shape == [Diag, Mat]:  # the scale is folded into u
        return ("rows", coeffs.ref(factors[0].value), module.dense_matrix(factors[1].matrix))
    if shape == [Mat]:
        return ("rows", coeffs.ref(scale), module.dense_matrix(factors[0].matrix))
    kron = factors.pop() if factors and isinstance(factors[-1], Kron) else None
    kind, code = "eye", None
    for factor in factors:
        kind, code = _advance(module, coeffs, kind, code, factor)
    if kron is None:
        if kind in ("eye", "diag"):
            value = "1" if kind == "eye" else code
            return ("diag", value if scale == 1 else f"{coeffs.ref(scale)} * {value}")
        a, b = _as_product(kind, code)
        if scale != 1:
            a = f"{coeffs.ref(scale)}[..., None] * {a}"
        return ("product", a, b, None)
    left = _as_matrix(module, kind, code, kron)
    v = coeffs.ref(kron.value)
    if kron.transposed:
        return ("product", f"({left})[..., :, None, :]", f"{v}[..., None, :, None]", kron)
    return ("product", f"({left})[..., :, :, None]", f"{v}[..., None, None, :]", kron)


def _advance(module, coeffs, kind, code, factor):
    if isinstance(factor, Diag):
        u = coeffs.ref(factor.value)
        if kind == "eye":
            return "diag", u
        return "lazy", (_as_matrix_code(kind, code), f"{u}[..., None, :]")
    if isinstance(factor, Mat):
        m = module.dense_matrix(factor.matrix)
        if kind == "eye":
            return "mat", m
        if kind == "diag":
            return "lazy", (f"{code}[..., :, None]", m)
        if kind == "row":
            return "row", f"(({code}) @ {m})"
        return "mat", f"({_as_matrix_code(kind, code)} @ {m})"
    u = coeffs.ref(factor.value)
    if isinstance(factor, Column):
        if kind == "eye":
            return "col", u
        if kind == "row":
            return "mat", f"_B.dot({code}, {u})[..., None]"
        if module.cell.size_of(factor.value) is SCALAR:  # u·𝟙: a matrix product needs the full column
            u = f"({u} * _B.ones({module.size(factor.size)}, {module.args[0]}))"
        return "mat", f"({_as_matrix_code(kind, code)} @ {u}[..., :, None])"
    assert isinstance(factor, Row)
    if kind == "eye":
        return "row", u
    if kind == "col":
        return "lazy", (f"{code}[..., :, None]", f"{u}[..., None, :]")
    return "mat", f"({_as_matrix_code(kind, code)} @ {u}[..., None, :])"


def _as_matrix_code(kind, code) -> str:
    if kind == "lazy":
        return f"({code[0]} * {code[1]})"
    if kind == "col":
        return f"{code}[..., :, None]"
    if kind == "row":
        return f"{code}[..., None, :]"
    return code


def _as_product(kind, code) -> tuple[str, str]:
    if kind == "lazy":
        return code
    return _as_matrix_code(kind, code), "1"


def _as_matrix(module, kind, code, kron: Kron) -> str:
    eye = f"_B.eye({module.size(kron.dim)}, {module.args[0]})"
    if kind == "eye":
        return eye
    if kind == "diag":
        return f"{code}[..., :, None] * {eye}"
    return _as_matrix_code(kind, code)


def _jacobian_function(module: _Module, fname: str, block_jacobian, leaves) -> list[str]:
    """A dense Jacobian kernel for one BlockJacobian (columns: ``leaves``).

    The batch is flattened to one axis.  The blocks of a block row whose terms are all
    diag(u)·M or diag(d) are written in one pass by ``_B.write_block_row`` (see ``_fused``);
    any other block is written in chunks of ``_B.chunk_bytes`` of the batch, so that its
    terms are summed while the chunk is in cache.
    """
    cell = module.cell
    coeffs = _Coefficients(module, products=True)
    rows = [(s.name, s.size) for s in cell.states]
    row_total = " + ".join(module.size(size) for _, size in rows)
    col_total = " + ".join(_numel_code(module, leaf) for leaf in leaves)
    matrix_leaf = len(leaves) == 1 and isinstance(leaves[0], MatrixParameter)
    body = [f"if out is None: out = _B.empty(_batch + ({row_total}, {col_total}), {module.args[0]})"]
    if matrix_leaf:  # write through a (B, S, rows, cols) view of the row-major flattened output
        q, k = (module.size(d) for d in leaves[0].shape)
        body.append(f"_o = _B.reshape(out, (-1, {row_total}, {q}, {k}))")
    else:
        body.append(f"_o = _B.reshape(out, (-1, {row_total}, {col_total}))")
    chunked: list[str] = []
    row_offset = "0"
    for state_name, state_size in rows:
        col_offset = "0"
        row_slice = f"slice({row_offset}, {row_offset} + {module.size(state_size)})"
        segments = []
        for leaf in leaves:
            width = _numel_code(module, leaf)
            col_slice = ":, :" if matrix_leaf else f"slice({col_offset}, {col_offset} + {width})"
            plans = [_dense_plan(module, coeffs, t) for t in block_jacobian[(state_name, leaf.name)].terms]
            if not matrix_leaf and all(plan[0] in ("rows", "diag") for plan in plans):
                segments.append(_segment_code(plans, col_slice))
            else:
                chunked.append(f"_blk = _o[_s, {row_slice}, {col_slice}]")
                chunked.extend(_chunk_lines(plans))
            col_offset = f"({col_offset} + {width})"
        if segments:
            body.append(f"_B.write_block_row(_o, {row_slice}, {', '.join(segments)})")
        row_offset = f"({row_offset} + {module.size(state_size)})"
    if chunked:
        body.append("_nb = _o.shape[0]")
        body.append(f"_chunk = max(1, _B.chunk_bytes // max(1, ({row_total}) * ({col_total}) * _o.itemsize))")
    signature = f"def {fname}({', '.join(module.args)}, out=None):"
    lines = coeffs.emit(body, chunked)
    start = lines.index(body[0])  # the forward (products, gates, coefficients) comes before the body
    forward = lower(lines[:start], lines[start:], values_of(module, coeffs.exprs), cell.states[0].name, module.args)
    return [signature] + _indent(module.prologue(flatten=True) + forward + lines[start:] + ["return out"])


def _numel_code(module, leaf) -> str:
    if isinstance(leaf, MatrixParameter):
        return f"({module.size(leaf.shape[0])} * {module.size(leaf.shape[1])})"
    return "1" if leaf.size is SCALAR else module.size(leaf.size)


def _segment_code(plans, col_slice: str) -> str:
    """A ``(cols, coefficients, matrices, diagonals)`` segment of ``_B.write_block_row`` for
    a block of diag(u)·M and diag(d) terms."""
    coefficients = ", ".join(plan[1] for plan in plans if plan[0] == "rows")
    matrices = ", ".join(plan[2] for plan in plans if plan[0] == "rows")
    diagonals = ", ".join(plan[1] for plan in plans if plan[0] == "diag")
    return f"({col_slice}, [{coefficients}], [{matrices}], [{diagonals}])"


def _chunk_lines(plans) -> list[str]:
    """Lines writing one block of a chunk ``_blk`` term by term."""
    products = [("product", f"{p[1]}[..., :, None]", p[2]) if p[0] == "rows" else p for p in plans if p[0] != "diag"]
    diagonals = [p for p in plans if p[0] == "diag"]
    lines = []
    if products:
        lines.append(f"_B.assign_product(_blk, {products[0][1]}, {products[0][2]})")
        lines.extend(f"_B.add_product(_blk, {p[1]}, {p[2]})" for p in products[1:])
    else:
        lines.append("_B.fill_zero(_blk)")
    if diagonals:
        lines.append("_d = _B.diagonal(_blk)")
        lines.extend(f"_d += {p[1]}" for p in diagonals)
    return lines


def _step_function(module: _Module) -> list[str]:
    """``step(<args>, _override=None)``: ``_override`` maps named intermediates (gates,
    pre-activations) to values used instead of computing them — e.g. detached gate values,
    so that AD through the step gives the frozen-gate Jacobian A of the gate split."""
    # as written: an override of a named node must not reach an equal expression the update spells out
    updates = [module.expr(module.cell.updates[s.name], False) for s in module.cell.states]
    unbatched = [not any(module.batched(sym) for sym in u.free_symbols) for u in updates]
    body = []
    for line in module.nodes(updates):
        name = line.split(" = ", 1)[0]
        if name in module.named_names:
            line = f"{name} = _override[{name!r}] if {name!r} in _override else {line.split(' = ', 1)[1]}"
        body.append(line)
    news = [f"_B.expand({print_array(u)}, _batch)" if flat else print_array(u, module.batched_symbol)
            for u, flat in zip(updates, unbatched)]
    body.append(f"return ({', '.join(news)},)")
    prologue = ["_override = {} if _override is None else _override", *module.prologue()]
    return [f"def step({', '.join(module.args)}, _override=None):"] + _indent(prologue + body)


def _intermediates_function(module: _Module) -> list[str]:
    """``intermediates(<args>)`` → ``{name: value}`` of every named intermediate and gate."""
    named = [n.symbol for n in module.cell.named]
    body = module.nodes(named)
    body.append("return {" + ", ".join(f"{n.name!r}: {n.name}" for n in module.cell.named) + "}")
    return [f"def intermediates({', '.join(module.args)}):"] + _indent(module.prologue() + body)


def _jvp_function(module: _Module) -> list[str]:
    cell, derivation = module.cell, module.derivation
    coeffs = _Coefficients(module)
    leaves = [*cell.states, *cell.inputs, *cell.parameters]
    blocks = derivation.blocks()
    body = []
    for state in cell.states:
        body.append(f"_jvp_{state.name} = 0 * {state.name}")
        for leaf in leaves:
            terms = blocks[(state.name, leaf.name)].terms
            if not terms:
                continue
            body.append(f"if d_{leaf.name} is not None:")
            for term in terms:
                body.append(f"    _jvp_{state.name} = _jvp_{state.name} + {_apply_term(module, coeffs, term, f'd_{leaf.name}')}")
    body.append(f"return ({', '.join(f'_jvp_{s.name}' for s in cell.states)},)")
    tangents = ", ".join(f"d_{leaf.name}=None" for leaf in leaves)
    return [f"def jvp({', '.join(module.args)}, {tangents}):"] + _indent(module.prologue() + coeffs.emit(body))


def _apply_term(module, coeffs, term: Term, tangent: str) -> str:
    """Code for ``term · tangent`` applied right to left, never forming a matrix."""
    code = tangent
    for factor in reversed(term.factors):
        if isinstance(factor, Kron):
            v = coeffs.ref(factor.value)
            code = f"({v} @ {code})" if factor.transposed else f"({v} @ _B.transpose({code}))"
        elif isinstance(factor, Mat):
            code = module.apply_matrix(module.cell.matrix_terms(factor.matrix), code, False)
            code = f"({code})"
        elif isinstance(factor, Row):
            code = f"_B.dot({coeffs.ref(factor.value)}, {code})"
        elif isinstance(factor, Column) and module.cell.size_of(factor.value) is SCALAR:  # u·𝟙 times a scalar
            code = f"({coeffs.ref(factor.value)} * {code} * _B.ones({module.size(factor.size)}, {module.args[0]}))"
        else:
            code = f"({coeffs.ref(factor.value)} * {code})"
    return code


def _vjp_function(module: _Module) -> list[str]:
    cell, derivation = module.cell, module.derivation
    coeffs = _Coefficients(module)
    leaves = [*cell.states, *cell.inputs, *cell.parameters]
    blocks = derivation.blocks()
    body = [f"_g_{leaf.name} = None" for leaf in leaves]
    for state in cell.states:
        body.append(f"if c_{state.name} is not None:")
        for leaf in leaves:
            for term in blocks[(state.name, leaf.name)].terms:
                contribution = _transpose_term(module, coeffs, term, f"c_{state.name}", leaf)
                body.append(f"    _g_{leaf.name} = _acc(_g_{leaf.name}, {contribution})")
    results = []
    for leaf in leaves:
        if isinstance(leaf, Leaf) and leaf.role == "parameter":
            target = "()" if leaf.size is SCALAR else f"({module.size(leaf.size)},)"
            results.append(f"{leaf.name!r}: _finish(_g_{leaf.name}, {target}, {leaf.name}, True)")
        elif isinstance(leaf, MatrixParameter):
            results.append(f"{leaf.name!r}: _finish(_g_{leaf.name}, tuple({leaf.name}.shape), {leaf.name}, True)")
        else:
            results.append(f"{leaf.name!r}: _finish(_g_{leaf.name}, _batch + ({module.size(leaf.size)},), {leaf.name}, False)")
    body.append("return {" + ", ".join(results) + "}")
    cotangents = ", ".join(f"c_{s.name}=None" for s in cell.states)
    return [f"def vjp({', '.join(module.args)}, {cotangents}):"] + _indent(module.prologue() + coeffs.emit(body))


def _transpose_term(module, coeffs, term: Term, cotangent: str, leaf) -> str:
    """Code for ``termᵀ · cotangent`` applied left to right (parameter parts summed over the batch)."""
    code = cotangent
    for factor in term.factors:
        if isinstance(factor, Kron):
            v = coeffs.ref(factor.value)
            code = f"_B.outer_sum({v}, {code})" if factor.transposed else f"_B.outer_sum({code}, {v})"
        elif isinstance(factor, Mat):
            code = f"({module.apply_matrix(module.cell.matrix_terms(factor.matrix), code, True)})"
        elif isinstance(factor, Column):
            code = f"_B.dot({coeffs.ref(factor.value)}, {code})"
        else:
            code = f"({coeffs.ref(factor.value)} * {code})"
    return code


_HELPERS = '''
def _acc(total, value):
    return value if total is None else total + value


def _finish(total, shape, like, summed):
    """Zero if nothing contributed; otherwise the value broadcast (per-sample) or summed over the batch."""
    if total is None:
        return _B.sum_to(0 * like, shape) if summed else 0 * like
    if summed:
        return _B.sum_to(total, shape)
    return total + 0 * like
'''


def _module_docstring(cell: Cell) -> str:
    pieces = (*cell.states, *cell.inputs, *cell.parameters)
    lines = [f"Kernels of cell {cell.name!r}, generated by gatejac.", "",
             f"Every kernel takes these arguments, in this order: {', '.join(p.name for p in pieces)}", ""]
    for piece in pieces:
        if isinstance(piece, MatrixParameter):
            shape = f"({piece.shape[0]}, {piece.shape[1]})"
        else:
            shape = "()" if piece.size is SCALAR else (f"({piece.size},)" if piece.role == "parameter" else f"(..., {piece.size})")
        lines.append(f"    {piece.name}: {piece.role}, shape {shape}")
    return '"""' + "\n".join(lines) + '\n"""\n'


def generate(derivation: Derivation) -> str:
    """The kernel module source for ``derivation`` (see the module docstring)."""
    module = _Module(derivation)
    cell = derivation.cell
    chunks = [_step_function(module), _intermediates_function(module)]
    chunks.append(_jacobian_function(module, "state_jacobian", derivation.state, list(cell.states)))
    if cell.gates:
        split = derivation.gate_split()
        chunks.append(_jacobian_function(module, "state_jacobian_frozen", split.A, list(cell.states)))
        chunks.append(_jacobian_function(module, "state_jacobian_gate", split.B, list(cell.states)))
    if cell.inputs:
        chunks.append(_jacobian_function(module, "input_jacobian", derivation.input, list(cell.inputs)))
    for param in cell.parameters:
        chunks.append(_jacobian_function(module, f"parameter_jacobian_{param.name}", derivation.parameter(param.name), [param]))
    chunks.append(_jvp_function(module))
    chunks.append(_vjp_function(module))
    header = _module_docstring(cell)
    return header + _HELPERS + "\n\n" + "\n\n\n".join("\n".join(chunk) for chunk in chunks) + "\n"
