"""The symbolic first-order gate expansion (docs/theory.md: “The first-order gate expansion”).

Groups, each checked exactly (SymPy rationals and symbols, no floating point):

1. polynomial structure: for 1 to 4 factors of explicit 2×2 symbol matrices, the ε⁰, ε¹, ε²
   coefficients of ``expand(prod(A_j + εB_j))`` (later steps on the left) are
   ``F(0)``, ``L_F(0)[B]`` and ``c_2``, the degree is the number of factors, and ``F(ε)``
   and ``T_1(ε)`` are what they say;
2. the structured ``A_j + B_j`` of every catalogue cell equals the dense SymPy Jacobian
   (exact convention) and does not (author convention, for a cell with a gate);
3. the retention and the diagonal of the rest recompose the diagonal of ``A`` for every
   catalogue cell; the transport's closed form is the one the cell's structure allows;
4. the effective-LR form is the first-order expansion of ``Π (λ_j + ρ_j)`` and, for the
   leaky cell, the fixed schedule ``(1 − α)^ℓ (1 + ℓ ρ/(1 − α))``;
5. the remainder bound: its closed form, its looser form, and the bound on explicit matrices;
6. printing in the paper's notation without internal names; errors.
"""

from __future__ import annotations

import itertools
import random
import re

import pytest
import sympy

from gatejac.symbolic import (
    Cell, Expansion, Instance, RemainderBound, SpecError, WindowCoefficient, WindowProduct, cells, dense_block,
    compile_latex, dense_jacobian, dense_term, derivation_latex, derive, exactly_equal, expand, random_point, sigmoid,
    tanh,
)

EPS = sympy.Symbol("varepsilon")
INTERNAL_NAME = re.compile(r"(?<![\\A-Za-z])_[A-Za-z]+\d|__updated|NodeSymbol")


def _matrices(letter: str, steps: int) -> list[sympy.Matrix]:
    return [sympy.Matrix(2, 2, lambda r, c, j=j: sympy.Symbol(f"{letter}{j}_{r}{c}")) for j in range(1, steps + 1)]


def _later_on_the_left(factors):
    product = factors[0]
    for factor in factors[1:]:
        product = factor * product
    return product


# --------------------------------------------------------------------------- 1. polynomial structure
@pytest.mark.parametrize("steps", [1, 2, 3, 4])
def test_coefficients_of_the_expanded_product_are_F0_the_frechet_term_and_c2(steps):
    A, B = _matrices("a", steps), _matrices("b", steps)
    F = _later_on_the_left([a + EPS * b for a, b in zip(A, B)]).applyfunc(sympy.expand)
    polynomials = [sympy.Poly(entry, EPS) for entry in F]
    assert max(p.degree() for p in polynomials) == steps
    for order in range(steps + 2):
        coefficient = sympy.Matrix(2, 2, [p.coeff_monomial(EPS ** order) for p in polynomials])
        expected = WindowCoefficient(order).value(A, B)
        assert (coefficient - expected).applyfunc(sympy.expand) == sympy.zeros(2, 2), f"order {order}"
    assert WindowCoefficient(steps).value(A, B) == _later_on_the_left(B)
    assert (WindowProduct().value(A, B, EPS) - F).applyfunc(sympy.expand) == sympy.zeros(2, 2)


def test_the_named_coefficients_are_orders_zero_one_two_and_truncation_is_first_order():
    expansion = expand(cells.get("multi_gate"))
    assert [c.order for c in (expansion.zeroth, expansion.first, expansion.second)] == [0, 1, 2]
    assert expansion.coefficient(3) == WindowCoefficient(3)
    A, B = _matrices("a", 3), _matrices("b", 3)
    truncation = expansion.truncation.value(A, B, EPS)
    expected = WindowCoefficient(0).value(A, B) + EPS * WindowCoefficient(1).value(A, B)
    assert (truncation - expected).applyfunc(sympy.expand) == sympy.zeros(2, 2)


def test_the_frechet_term_is_linear_in_B_and_depends_on_the_order_of_the_steps():
    A, B, C = _matrices("a", 3), _matrices("b", 3), _matrices("c", 3)
    first = WindowCoefficient(1)
    summed = first.value(A, [b + 2 * c for b, c in zip(B, C)]) - first.value(A, B) - 2 * first.value(A, C)
    assert summed.applyfunc(sympy.expand) == sympy.zeros(2, 2)
    reversed_order = first.value(A[::-1], B[::-1])
    assert (reversed_order - first.value(A, B)).applyfunc(sympy.expand) != sympy.zeros(2, 2)


# --------------------------------------------------------------------------- 2. A_j + B_j is the Jacobian
@pytest.mark.parametrize("name", cells.names())
def test_the_step_terms_at_a_step_are_the_dense_jacobian(name):
    cell = cells.get(name)
    instance = Instance(cell, {"n": 2, "m": 1})
    point = random_point(instance.all_variables(), seed=11)
    for convention in ("exact", "author"):
        step = expand(cell, convention=convention).step
        for out in cell.states:
            for wrt in cell.states:
                key = (out.name, wrt.name)
                structured = dense_block(instance, step.A[key]) + dense_block(instance, step.B[key])
                equal = exactly_equal(structured, dense_jacobian(instance, out.name, wrt.name), point)
                if convention == "exact" or not step.B[key].terms:
                    assert equal, f"{name} {convention}: A + B ≠ J for ∂{out.name}'/∂{wrt.name}"
    if cell.gates and name != "lstm_torch" and name != "lstm_gain":
        h = cell.states[0].name
        assert not exactly_equal(dense_block(instance, step.A[h, h]) + dense_block(instance, step.B[h, h]),
                                 dense_jacobian(instance, h, h), point), f"{name}: the author's A + B is the Jacobian"


# --------------------------------------------------------------------------- 3. retention and transport
@pytest.mark.parametrize("name", cells.names())
def test_retention_and_rest_diagonal_recompose_the_diagonal_of_A(name):
    expansion = expand(cells.get(name))
    instance = Instance(expansion.cell, {"n": 3, "m": 2})
    point = random_point(instance.all_variables(), seed=3)
    for state in expansion.cell.states:
        A = dense_block(instance, expansion.step.A[state.name, state.name])
        recomposed = _column(instance, expansion.retention[state.name])
        for part in expansion.retention_rest_diagonal[state.name]:
            core = dense_term(instance, part.core, 3) if part.core is not None else sympy.ones(3, 3)
            recomposed += sympy.matrix_multiply_elementwise(_column(instance, part.coefficient), core.diagonal().T)
        assert exactly_equal(recomposed, A.diagonal().T, point), f"{name}: λ + ρ ≠ diag(A) for {state.name}"


def _column(instance, expr) -> sympy.Matrix:
    value = instance.value(sympy.sympify(expr)) if sympy.sympify(expr).free_symbols else sympy.sympify(expr)
    return sympy.Matrix(value) if isinstance(value, sympy.MatrixBase) else value * sympy.ones(3, 1)


@pytest.mark.parametrize(("name", "kind", "retention"), [
    ("leaky", "schedule", "1 - alpha"), ("leaky_dt", "schedule", None), ("scalar_gate", "modes", "1 - g"),
    ("multi_gate", "mixing", "1 - g"), ("gru_torch", "mixing", "z"), ("gru_chung", "mixing", "1 - z"),
    ("elman", "product", "0"), ("lstm_torch", "product", None),
])
def test_the_transport_closed_form_follows_the_cells_structure(name, kind, retention):
    expansion = expand(cells.get(name))
    assert expansion.transport.kind == kind
    if retention is not None:
        cell = expansion.cell
        names = {p.name: p.symbol for p in (*cell.parameters, *cell.named) if hasattr(p, "symbol")}
        assert sympy.simplify(expansion.retention["h"] - sympy.sympify(retention, locals=names)) == 0
    assert expansion.transport.complementary == (name in ("leaky", "leaky_dt", "scalar_gate"))


def test_the_lstm_retains_its_memory_through_the_forget_gate_only():
    expansion = expand(cells.get("lstm_torch"))
    f = expansion.cell.piece("f").symbol
    assert expansion.retention == {"h": 0, "c": f}
    assert expansion.effective_lr_form.states == ("c",) and expansion.effective_lr_form.without_retention == ("h",)


# --------------------------------------------------------------------------- 4. the effective-LR form
@pytest.mark.parametrize("lag", [1, 2, 3, 5])
def test_the_effective_lr_form_is_the_first_order_diagonal_product(lag):
    lam = sympy.symbols(f"lambda1:{lag + 1}", positive=True)
    rho = sympy.symbols(f"rho1:{lag + 1}")
    delta = sympy.Symbol("delta")
    form = expand(cells.get("multi_gate")).effective_lr_form.value(lam, [delta * r for r in rho])
    product = sympy.prod([lj + delta * rj for lj, rj in zip(lam, rho)])
    difference = sympy.expand(product - form)
    orders = sympy.Poly(difference, delta)
    assert orders.coeff_monomial(1) == 0 and orders.coeff_monomial(delta) == 0
    if lag > 1:
        assert difference != 0  # second order is left out


@pytest.mark.parametrize("lag", [1, 2, 4, 7])
def test_for_the_leaky_cell_the_form_is_a_fixed_schedule_over_lags(lag):
    expansion = expand(cells.get("leaky"))
    alpha = expansion.cell.piece("alpha").symbol
    rho = sympy.Symbol("rho")  # a fixed linearisation: the same ρ at every step
    retention = expansion.retention["h"]
    assert retention == 1 - alpha
    value = expansion.effective_lr_form.value([retention] * lag, [rho] * lag)
    schedule = (1 - alpha) ** lag + lag * (1 - alpha) ** (lag - 1) * rho
    assert sympy.simplify(value - schedule) == 0


# --------------------------------------------------------------------------- 5. the remainder bound
@pytest.mark.parametrize("length", [2, 3, 4, 6])
def test_the_remainder_bound_is_the_binomial_tail_and_below_its_loose_form(length):
    bound = RemainderBound()
    a, b, eps = bound.a, bound.b, bound.eps
    tail = sum(sympy.binomial(length, m) * a ** (length - m) * (eps * b) ** m for m in range(2, length + 1))
    assert sympy.expand(bound.expression.subs(bound.length, length) - tail) == 0
    rng = random.Random(length)
    for _ in range(20):
        values = [sympy.Rational(rng.randint(1, 30), 10) for _ in range(3)]
        assert bound.value(*values, length) <= bound.loose_value(*values, length)
        assert bound.loose_expression.subs({a: values[0], b: values[1], eps: values[2], bound.length: length}) \
            == bound.loose_value(*values, length)


def _infinity_norm(matrix) -> sympy.Rational:
    return max(sum(abs(x) for x in matrix.row(i)) for i in range(matrix.rows))


@pytest.mark.parametrize("seed", range(5))
def test_the_remainder_bound_holds_for_explicit_matrices(seed):
    """‖R_2(ε)‖_∞ ≤ bound(max‖A_j‖_∞, max‖B_j‖_∞) with exact rationals (∞-norm: submultiplicative)."""
    rng = random.Random(seed)
    steps = 4
    draw = lambda: sympy.Matrix(3, 3, lambda i, j: sympy.Rational(rng.randint(-9, 9), 10))  # noqa: E731
    A, B = [draw() for _ in range(steps)], [draw() for _ in range(steps)]
    bound = RemainderBound()
    a, b = max(map(_infinity_norm, A)), max(map(_infinity_norm, B))
    for eps in (sympy.Rational(1, 100), sympy.Rational(1, 3), sympy.S.One):
        remainder = WindowProduct().value(A, B, eps) - WindowCoefficient(0).value(A, B) \
            - eps * WindowCoefficient(1).value(A, B)
        assert 0 < _infinity_norm(remainder) <= bound.value(a, b, eps, steps) <= bound.loose_value(a, b, eps, steps)


# --------------------------------------------------------------------------- 6. printing and errors
@pytest.mark.parametrize("name", cells.names())
def test_expansions_print_in_the_papers_notation_without_internal_names(name):
    for convention in ("exact", "author"):
        expansion = expand(cells.get(name), convention=convention)
        text, tex = str(expansion), expansion.to_latex()
        for printed in (text, tex):
            assert not INTERNAL_NAME.search(printed), INTERNAL_NAME.search(printed).group()
        assert expansion._repr_latex_() == f"$${tex}$$"
        step = str(expansion.step)
        assert step.startswith("M_j(eps) = A_j + eps*B_j") and "\nA_j" in step and "\nB_j" in step
        for node in (*expansion.cell.named, *expansion.cell.states, *expansion.cell.inputs):
            unindexed = re.search(rf"(?<![\w{{,[]){node.name}(?![\w{{])", step)  # every value carries its step
            assert not unindexed, f"{name}: {node.name} without a step index in {step}"
        if not expansion.cell.gates:
            assert "no gate: B = 0" in text and "B_j = 0" in text and r"\text{no gate: } B = 0" in tex


@pytest.mark.latex
def test_expansions_compile_with_pdflatex_as_displays(tmp_path):
    """Every catalogue cell's expansion, both conventions, as a notebook or a paper embeds it."""
    displays = [expand(cells.get(name), convention=c).to_latex() for name in cells.names() for c in ("exact", "author")]
    body = "\n".join(f"\\[\n{d}\n\\]" for d in displays)
    tex = tmp_path / "expansions.tex"
    tex.write_text("\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
                   f"{body}\n\\end{{document}}\n")
    assert compile_latex(tex).stat().st_size > 0


def test_gate_expansions_index_the_step_and_show_the_authors_updated_state():
    exact, author = expand(cells.get("multi_gate")), expand(cells.get("multi_gate"), convention="author")
    assert "B_j = diag((-h_{j-1} + tanh(a_j))*sigmoid_prime(a_{g,j})) @ (W_rg)" in str(exact)
    assert "A_j = diag(1 - g_j) + diag(g_j*(1 - tanh(a_j)**2)) @ (W_r)" in str(exact)
    assert "B_j = diag((-h_j + tanh(a_j))*sigmoid_prime(a_{g,j})) @ (W_rg)" in str(author)
    tex = exact.to_latex()
    for piece in (r"M_j(\varepsilon) &= A_j + \varepsilon B_j", r"\operatorname{diag}\left(1 - g_j\right)",
                  r"\tanh{\left(a_j \right)} - h_{j-1}", r"\sigma'\left(a_{g,j}\right)",
                  r"\Big(\prod_{j>i} A_{j}\Big) B_i \Big(\prod_{j<i} A_{j}\Big)", r"\lambda_j &= 1 - g_j"):
        assert piece in tex, piece
    assert r"h_{j}" not in tex and "h_j" in author.to_latex()


def suffixed_names_cell() -> Cell:
    """A gated cell whose intermediate and gate carry suffixed names (``c_new``, ``f_gate``), whose
    default LaTeX already has a braced subscript (``c_{\\mathrm{new}}``)."""
    cell = Cell("suffixed")
    c, x = cell.state("c", "n"), cell.input("x", "n")
    W, U = cell.parameter("W", ("n", "n")), cell.parameter("U", ("n", "n"))
    f = cell.gate("f_gate", sigmoid(W @ c + x))
    c_new = cell.let("c_new", f * c + (1 - f) * tanh(U @ c))
    cell.update(c, tanh(c_new))
    return cell.validate()


def _expansion_displays(cell: Cell) -> list[str]:
    return [expand(cell, convention=c).to_latex() for c in ("exact", "author")] + [derivation_latex(derive(cell))]


def test_a_name_with_a_braced_subscript_gets_one_subscript_at_step_j():
    """``c_{\\mathrm{new}}`` at step ``j`` is ``c_{\\mathrm{new},j}``; ``c_{\\mathrm{new}}_j`` would be a
    double subscript, which LaTeX rejects."""
    for tex in _expansion_displays(suffixed_names_cell()):
        assert r"c_{\mathrm{new},j}" in tex and r"f_{\mathrm{gate},j}" in tex, tex
        assert not re.search(r"_\{[^{}]*(\{[^{}]*\}[^{}]*)*\}_", tex), tex


@pytest.mark.latex
def test_a_name_with_a_braced_subscript_compiles_with_pdflatex(tmp_path):
    body = "\n".join(f"\\[\n{d}\n\\]" for d in _expansion_displays(suffixed_names_cell()))
    tex = tmp_path / "suffixed.tex"
    tex.write_text(f"\\documentclass{{article}}\n\\usepackage{{amsmath,amssymb}}\n\\begin{{document}}\n{body}\n"
                   "\\end{document}\n")
    assert compile_latex(tex).stat().st_size > 0


def test_the_scalar_gates_modes_and_the_leaky_schedule_print_their_closed_forms():
    assert "1 - g_j*(1 - kappa_i)" in str(expand(cells.get("scalar_gate")).transport)
    leaky = expand(cells.get("leaky")).transport
    assert "(1 - alpha*(1 - kappa_i))^l" in str(leaky) and r"1 - \alpha \left(1 - \kappa_i\right)" in leaky.to_latex()


def test_the_derivation_latex_holds_the_expansion_or_says_there_is_no_gate():
    gated, ungated = derivation_latex(derive(cells.get("scalar_gate"))), derivation_latex(derive(cells.get("elman")))
    assert r"\text{Gate expansion: coefficients of the window product in \ensuremath{\varepsilon}" in gated
    assert r"c_2 &= \sum" in gated and r"\prod_{j=1}^T \left[1 - g_j \left(1 - \kappa_i\right)\right]" in gated
    assert r"\text{no gate: } B = 0,\quad F(\varepsilon) = F(0)" in ungated and "c_2" not in ungated


def test_errors_name_the_argument_and_what_to_do():
    with pytest.raises(SpecError, match=r"expand\(gatejac.symbolic.cells.get\('leaky'\)\)"):
        expand("leaky")
    with pytest.raises(SpecError, match="convention='paper'.*'exact'.*'author'"):
        expand(cells.get("leaky"), convention="paper")
    from gatejac.symbolic import author_convention
    with pytest.raises(SpecError, match="exact derivation.*convention='author'"):
        expand(author_convention(derive(cells.get("multi_gate"))))
    with pytest.raises(SpecError, match="non-negative integer"):
        Expansion.coefficient(-1)
    with pytest.raises(SpecError, match="one A_j and one B_j per step"):
        WindowCoefficient(1).value(_matrices("a", 2), _matrices("b", 3))
    assert isinstance(repr(expand(cells.get("multi_gate"))), str)


def test_each_coefficient_has_one_product_per_set_of_gate_steps():
    """c_k has binomial(T, k) products: with A_j = B_j = I each is I (and c_k = 0 for k > T)."""
    for steps, order in itertools.product(range(1, 5), range(0, 6)):
        value = WindowCoefficient(order).value([sympy.eye(2)] * steps, [sympy.eye(2)] * steps)
        assert value == sympy.binomial(steps, order) * sympy.eye(2)
