"""LaTeX export: paper notation for cells and derivations, and a real pdflatex compile.

The notation tests read the printed LaTeX of catalogue cells and of small cells built here
from the public language (for constructs the catalogue does not use: ``W - Wᵀ - γI``, a
``@`` of a sum, a derived ``(∂M/∂γ) v``).  The compile tests (marker ``latex``) run
``pdflatex`` on one document holding every catalogue cell's equations and derivation.
"""

import re
import tempfile
from pathlib import Path

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

import gatejac.symbolic.cells as catalogue
from gatejac.symbolic import Cell, Column, Diag, GatejacError, default_latex, derivation_text, derive, sigmoid, tanh
from gatejac.symbolic._latex import _pull_sign, cell_latex, compile_latex, derivation_latex, document_latex, latex_text
from gatejac.verify.strategies import random_cells

INTERNAL_NAME = re.compile(r"(?<![\\A-Za-z])_[A-Za-z]+\d")  # _mv3, _dot0 — never a LaTeX subscript _{…}


def skew_cell() -> Cell:
    """A scalar gate ``s = σ(wᵀh)`` and the antisymmetric map ``(W − Wᵀ − γI)(h + x)``."""
    cell = Cell("skew")
    h, x = cell.state("h", "n"), cell.input("x", "n")
    W, gamma = cell.parameter("W", ("n", "n")), cell.parameter("gamma")
    w, b = cell.parameter("w", "n"), cell.parameter("b", "n")
    s = cell.gate("s", sigmoid(w @ h))
    cell.update(h, (1 - s) * h + s * tanh((W - W.T - gamma * sympy.Identity(W.shape[0])) @ (h + x) + b))
    return cell


def two_state_cell() -> Cell:
    """Two states where the second reads only itself, so one block of ∂(h', u')/∂(h, u) is zero."""
    cell = Cell("two_state")
    h, u = cell.state("h", "n"), cell.state("u", "n")
    W = cell.parameter("W", ("n", "n"))
    cell.update(h, tanh(W @ h) * u)
    cell.update(u, u * u)
    return cell


CATALOGUE = catalogue.names()


def catalogue_cell(name):
    return catalogue.get(name)


def all_cells():
    return [catalogue_cell(name) for name in CATALOGUE] + [skew_cell(), two_state_cell()]


# ---------------------------------------------------------------------- notation
@pytest.mark.parametrize("cell", all_cells(), ids=lambda c: c.name)
def test_no_internal_name_reaches_the_latex(cell):
    for tex in (cell_latex(cell), derivation_latex(derive(cell))):
        assert not INTERNAL_NAME.search(tex), INTERNAL_NAME.search(tex).group()
        assert r"\mathbb{I}" not in tex and "^{T}" not in tex  # SymPy's own identity and transpose


@settings(max_examples=30)
@given(random_cells())
def test_random_cells_print_without_internal_names_and_keep_term_values(cell):
    """No internal name on gate designs nobody has written; and where the printer writes
    diag(−u) as −diag(u), the sign it pulls out keeps the term's value."""
    test_no_internal_name_reaches_the_latex(cell)
    for _, _, term in derive(cell).state.terms():
        for factor in term.structure:
            if isinstance(factor, (Column, Diag)):
                sign, value = _pull_sign(factor.value)
                assert sign in (1, -1) and sympy.expand(sign * value - factor.value) == 0


def test_hadamard_products_of_vectors_print_with_odot_and_scalars_are_juxtaposed():
    multi, leaky = cell_latex(catalogue.get("multi_gate")), cell_latex(catalogue.get("leaky"))
    assert r"\left(1 - g\right) \odot h" in multi  # h' = (1 - g) ⊙ h + g ⊙ tanh(a)
    assert r"g \odot \tanh" in multi
    assert r"\odot" not in leaky  # α is a scalar: (1 - α) h + α tanh(a)
    assert r"\left(1 - \alpha\right) h" in leaky and r"\alpha \tanh" in leaky


def test_scalar_gate_prints_as_a_dot_product_and_matrices_in_paper_notation():
    tex = cell_latex(skew_cell())
    assert r"\sigma\left(w^\top h\right)" in tex
    assert r"\left(W - W^\top - \gamma I\right) \left(h + x\right)" in tex  # operand of @ parenthesised


def test_gate_derivatives_print_as_sigma_prime():
    for name in ("multi_gate", "gru_torch", "lstm_torch"):
        assert r"\sigma'\left(" in derivation_latex(derive(catalogue.get(name))), name
    assert r"\sigma'" not in derivation_latex(derive(catalogue.get("elman")))


def test_derivation_goes_from_definition_through_chain_rule_to_closed_form():
    tex = derivation_latex(derive(catalogue.get("multi_gate")))
    definition = tex.index(r"\frac{\partial h'}{\partial h} &= \frac{\partial}{\partial h}\left[")
    chain = tex.index(r"\frac{\partial g}{\partial h}")  # the gate is a direct argument of the update
    closed = tex.index(r"\operatorname{diag}\left(1 - g\right)", chain)
    assert definition < chain < closed
    assert r"\frac{\partial x}" not in tex  # arguments that do not read h are left out of the chain rule


def test_every_jacobian_block_appears_with_the_cells_names():
    for cell in all_cells():
        tex = derivation_latex(derive(cell))
        for state in cell.states:
            for piece in (*cell.states, *cell.inputs, *cell.parameters):
                lhs = r"\frac{\partial %s'}{\partial %s}" % (state.latex, piece.latex)
                assert lhs in tex, (cell.name, lhs)


def test_closed_forms_use_diag_kron_and_rank_one_terms():
    tex = derivation_latex(derive(skew_cell()))
    assert r"\left(I_{n} \otimes \left(h + x\right)^\top\right)" in tex  # ∂(W v)/∂W, row-major
    assert r"\left(\left(h + x\right)^\top \otimes I_{n}\right)" in tex  # ∂(Wᵀ v)/∂W
    assert r"\right) w^\top" in tex  # the scalar gate's rank-one term (column)(row)
    assert r"\frac{\partial h'}{\partial \gamma} &= - s" in tex  # ∂((−γI) v)/∂γ = −v, sign pulled out


def test_gate_split_and_block_matrix_appear_only_where_they_apply():
    lstm = derivation_latex(derive(catalogue.get("lstm_torch")))
    elman = derivation_latex(derive(catalogue.get("elman")))
    assert "Gate split" in lstm and "Gate split" not in elman
    assert r"\text{via } f" in lstm  # a B term names the gate it passes through
    assert r"\begin{pmatrix}" in lstm and r"\begin{pmatrix}" not in elman
    two_state = derivation_latex(derive(two_state_cell()))
    assert r"\\[1ex] 0 & \dfrac{\partial u'}{\partial u} \end{pmatrix}" in two_state  # the zero block ∂u'/∂h
    assert r"\frac{\partial u'}{\partial h} &= 0" in two_state


def test_fixed_parameters_are_marked():
    cell = catalogue.get("wcrnn")
    tex = derivation_latex(derive(cell))
    fixed = [p for p in cell.parameters if not p.trainable]
    assert fixed, "wcrnn declares fixed parameters (R, gamma)"
    for p in fixed:
        assert re.search(r"\\partial %s\} &= .*\\text\{\(fixed\)\}" % re.escape(p.latex), tex), p.name


def test_repr_latex_is_a_jupyter_display():
    derivation = derive(catalogue.get("gru_torch"))
    shown = derivation._repr_latex_()
    assert shown.startswith("$$") and shown.endswith("$$")
    assert shown[2:-2] == derivation.to_latex() == derivation_latex(derivation)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a_b & 50% #1 {x}", r"a\_b \& 50\% \#1 \{x\}"),
        ("σ(α·a + β)", r"\ensuremath{\sigma}(\ensuremath{\alpha}\ensuremath{\cdot}a + \ensuremath{\beta})"),
        ("Wᵀ ⊙ h — Livi 2025, eq. §3", r"W\ensuremath{^\top} \ensuremath{\odot} h --- Livi 2025, eq. \S{}3"),
        ("Λ λ café", r"\ensuremath{\Lambda} \ensuremath{\lambda} cafe"),
    ],
)
def test_text_is_escaped_for_pdflatex(text, expected):
    assert latex_text(text) == expected


# ---------------------------------------------------------------------- a real LaTeX engine
def compile_or_fail(tex: str, path) -> str:
    path.write_text(tex)
    try:
        compile_latex(path)
    except GatejacError as exc:
        pytest.fail(str(exc))
    return path.with_suffix(".log").read_text(errors="replace")


@pytest.mark.latex
def test_the_catalogue_document_compiles_with_pdflatex(tmp_path):
    cells = [catalogue_cell(name) for name in CATALOGUE]
    log = compile_or_fail(document_latex(cells, title="gatejac catalogue"), tmp_path / "catalogue.tex")
    assert (tmp_path / "catalogue.pdf").stat().st_size > 0
    sections = (tmp_path / "catalogue.aux").read_text()
    assert sections.count(r"\@writefile{toc}{\contentsline {section}") == len(cells)
    assert "Overfull \\hbox" not in log, "a line runs off the page"


@pytest.mark.latex
def test_jupyter_forms_compile_with_pdflatex(tmp_path):
    """``cell_latex`` and ``to_latex()`` as displays, the way a notebook or a paper embeds them."""
    displays = [
        "\\[\n%s\n\\]\n\\[\n%s\n\\]" % (cell_latex(cell), derive(cell).to_latex()) for cell in all_cells()
    ]
    tex = "\\documentclass{article}\n\\usepackage{amsmath,amssymb}\n\\begin{document}\n%s\n\\end{document}\n"
    compile_or_fail(tex % "\n\\clearpage\n".join(displays), tmp_path / "displays.tex")


@pytest.mark.latex
def test_a_latex_error_is_reported_with_the_log(tmp_path):
    path = tmp_path / "broken.tex"
    path.write_text("\\documentclass{article}\n\\begin{document}\n$\\undefinedmacro$\n\\end{document}\n")
    with pytest.raises(GatejacError, match=r"pdflatex failed on .*broken\.tex[\s\S]*Undefined control sequence"):
        compile_latex(path)


@pytest.mark.latex
@settings(max_examples=3)
@given(st.lists(random_cells(), min_size=4, max_size=4))
def test_random_cells_compile_with_pdflatex(cells):
    """Gate designs nobody has written yet (powers, ratios, scalar gates, W - Wᵀ - γI …)."""
    with tempfile.TemporaryDirectory() as directory:
        compile_or_fail(document_latex(cells), Path(directory) / "random.tex")


# ---------------------------------------------------------------------- names as a paper sets them
def named_cell() -> Cell:
    """Names a user would write: a suffix word, a short Greek form, an accent, a Greek subscript base."""
    cell = Cell("names")
    h, x = cell.state("h", "n"), cell.input("x", "n")
    eps, lam, alpha_z = cell.parameter("eps", trainable=False), cell.parameter("lam"), cell.parameter("alpha_z")
    W_rg = cell.parameter("W_rg", ("n", "n"))
    h_tilde = cell.let("h_tilde", tanh(W_rg @ h + x))
    c_new = cell.let("c_new", lam * h_tilde + eps * h)
    cell.update(h, alpha_z * c_new)
    return cell


@pytest.mark.parametrize(("name", "tex"), [
    ("c_new", r"c_{\mathrm{new}}"), ("eps", r"\varepsilon"), ("lam", r"\lambda"), ("alpha_z", r"\alpha_{z}"),
    ("h_tilde", r"\tilde{h}"), ("W_rg", r"W_{\mathrm{rg}}"), ("Gamma", r"\Gamma"), ("W_1", "W_{1}"),
])
def test_names_render_as_a_paper_would(name, tex):
    assert default_latex(name) == tex


def test_the_equations_use_the_papers_names_and_the_text_the_same_identifiers():
    cell = named_cell()
    tex = cell_latex(cell)
    for expected in (r"c_{\mathrm{new}} &= \varepsilon h + \lambda \tilde{h}", r"\tilde{h} &= \tanh",
                     r"W_{\mathrm{rg}} h", r"h' &= \alpha_{z} c_{\mathrm{new}}"):
        assert expected in tex, tex
    text = derivation_text(derive(cell))
    for name in ("c_new = eps*h + h_tilde*lam", "h_tilde = tanh(W_rg@h + x)", "h' = alpha_z*c_new"):
        assert name in text, text
    assert r"\tilde{h}" in cell_latex(catalogue.get("gru_torch")), "torch's candidate is h_tilde in text and LaTeX"


# ---------------------------------------------------------------------- a stable table of contents
@pytest.mark.latex
def test_compile_latex_runs_until_the_table_of_contents_is_stable(tmp_path):
    """One pdflatex run leaves the table of contents empty (it is read from the previous run's
    .toc); compile_latex reruns until the .aux stops changing."""
    path = tmp_path / "toc.tex"
    path.write_text(document_latex([named_cell(), catalogue.get("elman")], title="toc"))
    compile_latex(path)
    log = path.with_suffix(".log").read_text(errors="replace")
    assert "No file toc.toc" not in log and "Label(s) may have changed" not in log
    toc = path.with_suffix(".toc").read_text()
    assert toc.count(r"\contentsline {section}") == 2
    aux = path.with_suffix(".aux").read_bytes()
    compile_latex(path, max_runs=1)
    assert path.with_suffix(".aux").read_bytes() == aux


def test_compile_latex_refuses_a_bad_run_count(tmp_path):
    with pytest.raises(GatejacError, match=r"max_runs=0 must be a positive integer"):
        compile_latex(tmp_path / "x.tex", max_runs=0)
