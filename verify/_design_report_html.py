r"""A design report (``verify.design_report``) as one self-contained HTML page and as Markdown.

The page needs no network: CSS is inline, every figure is a ``data:image/png;base64`` URI and
every equation is MathML, which browsers render natively (MathML Core).  The LaTeX of
``symbolic.cell_latex`` / ``symbolic.derivation_latex`` becomes presentation MathML through
``latex2mathml``; :func:`mathml` refuses a result that still shows a TeX command, so no raw TeX
reaches the page.  The Markdown keeps the LaTeX in ``$$`` blocks and points to the page for the
figures.
"""

from __future__ import annotations

import base64
import html
import re

from ._design_report_sections import ReportError, Section

_TEX_LEFT = re.compile(r"\\[A-Za-z]+|\$\$|\\\\")
_LINE_BREAK = re.compile(r"\\\\\[[^\]]*\]")
_ENSUREMATH = re.compile(r"\\ensuremath\{((?:[^{}]|\{[^{}]*\})*)\}")
_TEXT_ESCAPES = (("\\textbackslash{}", "\\"), ("\\textasciitilde{}", "~"), ("\\textasciicircum{}", "^"),
                 ("\\dots{}", "…"), ("\\S{}", "§"), ("---", "—"), ("--", "–"), ("\\_", "_"), ("\\&", "&"),
                 ("\\%", "%"), ("\\$", "$"), ("\\#", "#"), ("\\{", "{"), ("\\}", "}"))

FOLD_ROWS = 16
"""A group of equations, or a table, with more lines than this is folded (``<details>``), its title shown."""

_STYLE = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1.5em 2em 3em; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em;
margin-top: 2em; } h3 { font-size: 1.0em; margin: 1.2em 0 0.4em; color: #333; }
nav ol { columns: 2; padding-left: 1.4em; } code { font-family: "DejaVu Sans Mono", monospace; font-size: 0.85em; }
p.sentence { font-size: 1.05em; } .verdict { font-weight: bold; padding: 0.1em 0.5em; border-radius: 4px; }
.pass { background: #dff3e3; color: #17612a; } .fail { background: #fbe0e0; color: #8a1010; }
div.math { overflow-x: auto; padding: 0.4em 0.2em; margin: 0.3em 0; background: #fafafa;
           border-left: 3px solid #e0e0e0; }
math { font-size: 1.08em; } math[display="block"] { margin: 0.3em 0; } mtable { math-style: normal; }
mtd { padding: 0.15em 0.1em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; } th { background: #f2f2f2; }
td.PASS { color: #17612a; } td.FAIL { color: #8a1010; font-weight: bold; } td.SKIP { color: #777; }
details { margin: 0.5em 0; } summary { cursor: pointer; color: #333; }
figure { margin: 0.8em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; } div.text { overflow-x: auto; }
div.text code { background: #f3f3f3; padding: 0 0.2em; } pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto;
font-size: 0.85em; } footer { margin-top: 3em; font-size: 0.85em; color: #666; }
"""


# ---------------------------------------------------------------------- LaTeX → MathML
def mathml(latex: str, *, display: str = "block") -> str:
    r"""``latex`` (math mode) as a MathML ``<math>`` element; a :class:`ReportError` names any
    TeX command the conversion would leave visible.

    An ``aligned`` block becomes an ``mtable`` built here (``latex2mathml`` does not align): one
    row per ``\\``, the part before the row's first ``&`` right-aligned, the rest left-aligned;
    ``\\`` and ``&`` inside a nested environment (a ``pmatrix``) stay with it."""
    latex = _LINE_BREAK.sub(r"\\\\", latex).strip()
    body = _inside(latex, "aligned")
    if body is None:
        content = _mrow(latex)
    else:
        rows = []
        for row in _split_top(body, "\\\\"):
            lhs, *rhs = _split_top(row, "&")
            rows.append(f'<mtr><mtd style="text-align: right">{_mrow(lhs)}</mtd>'
                        f'<mtd style="text-align: left">{_mrow("".join(rhs))}</mtd></mtr>')
        content = f"<mtable>{''.join(rows)}</mtable>"
    markup = f'<math display="{display}">{content}</math>'
    shown = html.unescape(re.sub(r"<[^>]+>", "", markup))
    left = _TEX_LEFT.search(shown)
    if left:
        raise ReportError(f"the MathML of {latex[:60]!r}… would show the TeX {left.group()!r}; "
                          "report this cell to the gatejac maintainers")
    return markup


def _inside(latex: str, environment: str) -> str | None:
    """The body of ``latex`` if it is exactly one ``environment``, else None."""
    begin, end = f"\\begin{{{environment}}}", f"\\end{{{environment}}}"
    if latex.startswith(begin) and latex.endswith(end) and latex.count(begin) == 1:
        return latex[len(begin):-len(end)]
    return None


def _split_top(text: str, separator: str) -> list[str]:
    """``text`` split at the ``separator`` s outside any ``\\begin{…}…\\end{…}`` (an escaped
    ``\\&`` is not a separator)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        if text.startswith("\\begin{", i):
            depth += 1
        elif text.startswith("\\end{", i):
            depth -= 1
        elif depth == 0 and text.startswith(separator, i) and (separator != "&" or text[i - 1:i] != "\\"):
            parts.append(text[start:i])
            i += len(separator)
            start = i
            continue
        i += 2 if text.startswith("\\\\", i) else 1
    return parts + [text[start:]]


def _mrow(latex: str) -> str:
    """``latex`` as the MathML inside a ``<math>`` element (an empty ``mrow`` for nothing)."""
    from latex2mathml.converter import convert

    if not latex.strip():
        return "<mrow></mrow>"
    markup = convert(latex)
    inner = markup[markup.index(">") + 1: markup.rindex("</math>")]
    return inner.replace("<mi>&</mi>", "<mi>&amp;</mi>")


def text_html(text: str) -> str:
    r"""LaTeX text mode (a ``derivation_latex`` group title) as HTML: ``\ensuremath{…}`` as
    inline MathML, escapes undone."""
    parts, last = [], 0
    for match in _ENSUREMATH.finditer(text):
        parts += [html.escape(_unescape(text[last:match.start()])), mathml(match.group(1), display="inline")]
        last = match.end()
    return "".join(parts + [html.escape(_unescape(text[last:]))])


def text_markdown(text: str) -> str:
    r"""LaTeX text mode as Markdown: ``\ensuremath{…}`` as ``$…$``."""
    return _ENSUREMATH.sub(lambda m: f"${m.group(1)}$", _unescape(text))


def _unescape(text: str) -> str:
    for escaped, plain in _TEXT_ESCAPES:
        text = text.replace(escaped, plain)
    return text


# ---------------------------------------------------------------------- Markdown → HTML
_SEPARATOR_ROW = re.compile(r"\|(\s*:?-+:?\s*\|)+")
_INLINE = re.compile(r"`([^`]+)`|\*\*(.+?)\*\*|\\([\\`*_{}\[\]()#+\-.!|])")


def _inline_html(text: str) -> str:
    """Markdown inline markup: ```code```, ``**bold**`` and backslash escapes."""
    parts, last = [], 0
    for match in _INLINE.finditer(text):
        parts.append(html.escape(text[last:match.start()]))
        code, bold, escaped = match.groups()
        parts.append(f"<code>{html.escape(code)}</code>" if code is not None
                     else f"<b>{_inline_html(bold)}</b>" if bold is not None else html.escape(escaped))
        last = match.end()
    return "".join(parts) + html.escape(text[last:])


def _status(cell: str) -> str:
    """The class of a table cell that holds a verdict (coloured by the style sheet)."""
    return f' class="{cell}"' if cell in ("PASS", "FAIL", "SKIP") else ""


def markdown_html(text: str) -> str:
    """The Markdown of a section's ``text`` (``Comparison.to_markdown()``, a fenced report) as
    HTML: ``#`` headings (``###`` is ``<h3>``; none above it), pipe tables, ``-`` lists whose indented lines
    continue the item, fenced code and paragraphs."""
    lines, out, i = text.splitlines(), [], 0

    def take(condition) -> list[str]:
        nonlocal i
        start = i
        while i < len(lines) and condition(lines[i]):
            i += 1
        return lines[start:i]

    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.startswith("```"):
            i += 1
            code = take(lambda x: not x.startswith("```"))
            i += 1
            out.append(f"<pre>{html.escape(chr(10).join(code))}</pre>")
        elif line.startswith("#"):
            level = min(max(len(line) - len(line.lstrip("#")), 3), 6)
            out.append(f"<h{level}>{_inline_html(line.lstrip('#').strip())}</h{level}>")
            i += 1
        elif line.startswith("|"):
            rows = [r for r in take(lambda x: x.startswith("|")) if not _SEPARATOR_ROW.fullmatch(r.strip())]
            cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
            head = "".join(f"<th>{_inline_html(c)}</th>" for c in cells[0])
            body = "".join("<tr>" + "".join(f"<td{_status(c)}>{_inline_html(c)}</td>" for c in row) + "</tr>"
                           for row in cells[1:])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                i += 1
                more = take(lambda x: x.startswith("  ") and x.strip())
                items.append("<br>".join(_inline_html(x.strip()) for x in [lines[i - len(more) - 1][2:], *more]))
            out.append("<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>")
        else:
            paragraph = take(lambda x: x.strip() and not x.startswith(("#", "|", "- ", "```")))
            out.append(f"<p>{_inline_html(' '.join(paragraph))}</p>")
    return "\n".join(out)


# ---------------------------------------------------------------------- HTML
def _verdict(passed: bool | None) -> str:
    if passed is None:
        return ""
    return f' <span class="verdict {"pass" if passed else "fail"}">{"PASS" if passed else "FAIL"}</span>'


def _table_html(rows) -> str:
    header, *body = rows
    status = header.index("result") if "result" in header else None
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    lines = []
    for row in body:
        cells = "".join(f'<td{_status(v) if k == status else ""}>{html.escape(v)}</td>' for k, v in enumerate(row))
        lines.append(f"<tr>{cells}</tr>")
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"
    if len(body) > FOLD_ROWS:  # long tables fold, their size in the summary
        return f"<details><summary>the table ({len(body)} rows)</summary>{table}</details>"
    return table


def _section_html(section: Section) -> str:
    parts = [f'<section id="{section.key}"><h2>{html.escape(section.title)}{_verdict(section.passed)}</h2>',
             f'<p class="sentence">{html.escape(section.sentence)}</p>']
    for caption, latex in section.math:
        block, lines = f'<div class="math">{mathml(latex)}</div>', latex.count("\\\\") + 1
        if lines > FOLD_ROWS:  # a long group folds, its title as the summary
            parts.append(f"<details><summary><b>{text_html(caption)}</b> ({lines} lines)</summary>{block}</details>")
        else:
            parts.append((f"<h3>{text_html(caption)}</h3>" if caption else "") + block)
    if section.table:
        parts.append(_table_html(section.table))
    if section.figure:
        data = base64.b64encode(section.figure).decode("ascii")
        parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(section.alt)}">'
                     f"<figcaption>{html.escape(section.alt[:1].upper() + section.alt[1:])}.</figcaption></figure>")
    if section.text:
        parts.append(f'<div class="text">{markdown_html(section.text)}</div>')
    return "\n".join(parts) + "\n</section>"


def report_html(title: str, summary: list[str], sections: list[Section], footer: str) -> str:
    """The page: title, summary lines, a table of contents, every section, the footer."""
    contents = "".join(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections)
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in summary)
    body = "\n".join(_section_html(s) for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
            f"<header><h1>{html.escape(title)}</h1><ul>{lines}</ul><nav><ol>{contents}</ol></nav></header>\n"
            f"{body}\n<footer>{html.escape(footer)}</footer>\n</body>\n</html>\n")


# ---------------------------------------------------------------------- Markdown
def _table_markdown(rows) -> list[str]:
    header, *body = rows
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in body)]


def report_markdown(title: str, summary: list[str], sections: list[Section], footer: str) -> str:
    """The same report as Markdown: equations in ``$$`` blocks, figures named (they are in
    ``report.html``)."""
    lines = [f"# {title}", "", *(f"- {line}" for line in summary)]
    for section in sections:
        verdict = "" if section.passed is None else f" — {'PASS' if section.passed else 'FAIL'}"
        lines += ["", f"## {section.title}{verdict}", "", section.sentence]
        for caption, latex in section.math:
            lines += ["", f"**{text_markdown(caption)}**"] if caption else []
            lines += ["", "$$", latex, "$$"]
        if section.table:
            lines += ["", *_table_markdown(section.table)]
        if section.figure:
            lines += ["", f"*Figure: {section.alt} (in report.html).*"]
        if section.text:
            lines += ["", section.text]
    return "\n".join(lines + ["", "---", footer, ""])
