"""``Cell.fingerprint``: one name for a cell's structure, and cells that stay frozen.

The compile cache and the reproduction lines key on the fingerprint, so it must be equal for
equal cells built twice, unchanged by ``derive``, and different after any structural change.
"""

from __future__ import annotations

import sympy

from gatejac.symbolic import Cell, cells, derive, tanh


def _leaky(*, n="n", trainable=False, default=0.8, name="leaky", gate=False, update="leaky", shape=()):
    """A small leaky cell whose pieces the tests change one at a time."""
    cell = Cell(name)
    h, x = cell.state("h", n), cell.input("x", "m")
    alpha = cell.parameter("alpha", shape, trainable=trainable, default=default)
    W, U = cell.parameter("W", (n, n)), cell.parameter("U", (n, "m"))
    b = cell.parameter("b", n)
    mark = cell.gate if gate else cell.let
    a = mark("a", tanh(W @ h + U @ x + b))
    cell.update(h, (1 - alpha) * h + alpha * a if update == "leaky" else h + alpha * a)
    return cell.validate()


def test_equal_cells_built_twice_have_equal_fingerprints():
    assert _leaky().fingerprint == _leaky().fingerprint
    for name, options in cells.variants():
        assert cells.get(name, **options).fingerprint == cells.get(name, **options).fingerprint, (name, options)


def test_the_fingerprint_is_a_sha256_hex_digest():
    fingerprint = _leaky().fingerprint
    assert isinstance(fingerprint, str) and len(fingerprint) == 64
    int(fingerprint, 16)


def test_deriving_a_cell_changes_neither_its_fingerprint_nor_its_nodes():
    """Scalar parameters inside matrix coefficients (λI, αW + βWᵀ) used to add nodes to the
    frozen cell while it was differentiated (∂(γ M v)/∂γ), so its cache key changed."""
    for name, options in [*cells.variants(), ("wcrnn", {"residual_matrix": "homogeneous"})]:
        cell = cells.get(name, **options)
        before, nodes = cell.fingerprint, dict(cell._nodes)
        derive(cell)
        assert cell.fingerprint == before, (name, options)
        assert cell._nodes == nodes, (name, options)
    skew = Cell("skew")
    h = skew.state("h", "n")
    alpha, beta, g = (skew.parameter(p) for p in ("alpha", "beta", "g"))
    W = skew.parameter("W", ("n", "n"))
    skew.update(h, tanh((alpha * W + beta * W.T - g * sympy.Identity(h.size)) @ h))
    skew.validate()
    before, nodes = skew.fingerprint, dict(skew._nodes)
    derive(skew)
    assert (skew.fingerprint, skew._nodes) == (before, nodes)


def test_a_derived_wcrnn_keeps_the_fingerprint_of_a_fresh_one():
    derived = cells.get("wcrnn", residual_matrix="homogeneous")
    derive(derived)
    assert derived.fingerprint == cells.get("wcrnn", residual_matrix="homogeneous").fingerprint


def test_every_structural_change_changes_the_fingerprint():
    base = _leaky().fingerprint
    changed = {
        "a parameter shape": _leaky(shape="n"),
        "a size": _leaky(n=4),
        "the trainable flag": _leaky(trainable=True, default=None),
        "a default": _leaky(default=0.5),
        "no default": _leaky(default=None),
        "an update": _leaky(update="plain"),
        "a gate mark": _leaky(gate=True),
        "the name": _leaky(name="leaky2"),
    }
    fingerprints = {what: cell.fingerprint for what, cell in changed.items()}
    for what, fingerprint in fingerprints.items():
        assert fingerprint != base, what
    assert len(set(fingerprints.values())) == len(fingerprints)


def test_catalogue_variants_have_distinct_fingerprints():
    fingerprints = [cells.get(name, **options).fingerprint for name, options in cells.variants()]
    assert len(set(fingerprints)) == len(fingerprints)


def test_presentation_is_not_part_of_the_fingerprint():
    plain = _leaky()
    described = Cell("leaky", description="another text", reference="a paper", convention="a convention")
    h, x = described.state("h", "n", latex=r"\mathbf{h}"), described.input("x", "m")
    alpha = described.parameter("alpha", trainable=False, default=0.8, note="why 0.8")
    W, U = described.parameter("W", ("n", "n")), described.parameter("U", ("n", "m"))
    a = described.let("a", tanh(W @ h + U @ x + described.parameter("b", "n")), latex="z")
    described.update(h, (1 - alpha) * h + alpha * a)
    assert described.validate().fingerprint == plain.fingerprint
