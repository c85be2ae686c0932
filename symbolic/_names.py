r"""How a cell's names are typeset: the LaTeX a paper would use for an identifier.

``default_latex(name)`` splits ``name`` at underscores into a base and subscripts:

* a Greek name is the Greek letter (``alpha`` → ``\alpha``, ``Gamma`` → ``\Gamma``), and so
  are the usual short forms ``eps`` → ``\varepsilon`` and ``lam`` → ``\lambda`` (``lambda``
  is a Python keyword);
* one letter or a number stays as it is (italic in math), any other word is upright text
  (``c_new`` → ``c_{\mathrm{new}}``, ``W_rg`` → ``W_{\mathrm{rg}}``);
* a trailing ``tilde``, ``hat``, ``bar``, ``check``, ``breve``, ``dot`` or ``vec`` accents
  the base, subscripts written before it (``h_tilde`` → ``\tilde{h}``, ``x_t_bar`` →
  ``\bar{x}_{t}``).

Text output (reports, ``str()`` of derivations) uses the names themselves, so a name reads the
same in both: ``c_new`` there, :math:`c_{\mathrm{new}}` here.
"""

from __future__ import annotations

from sympy.printing.latex import greek_letters_set, translate

_SHORT_FORMS = {"eps": r"\varepsilon", "epsilon": r"\varepsilon", "lam": r"\lambda", "lamda": r"\lambda",
                "lmbda": r"\lambda"}
_ACCENTS = {"tilde": r"\tilde", "hat": r"\hat", "bar": r"\bar", "check": r"\check", "breve": r"\breve",
            "dot": r"\dot", "vec": r"\vec"}
_VARIANTS = {"varepsilon", "vartheta", "varphi", "varrho", "varsigma", "varpi", "varkappa"}


def default_latex(name: str) -> str:
    """The LaTeX of an identifier, as a paper would typeset it (see the module docstring)."""
    base, *subscripts = [part for part in name.split("_") if part] or [name]
    accents = []
    while subscripts and subscripts[-1] in _ACCENTS:
        accents.append(_ACCENTS[subscripts.pop()])
    tex = word_latex(base)
    for accent in accents:
        tex = f"{accent}{{{tex}}}"
    if subscripts:
        tex += "_{%s}" % " ".join(word_latex(s) for s in subscripts)
    return tex


def word_latex(word: str) -> str:
    """One word of a name: a Greek letter, a single symbol, or upright text."""
    if word in _SHORT_FORMS:
        return _SHORT_FORMS[word]
    if word.lower() in greek_letters_set or word in _VARIANTS:
        return translate(word) if word not in _VARIANTS else "\\" + word
    if len(word) == 1 or word.isdigit():
        return word
    return r"\mathrm{%s}" % word
