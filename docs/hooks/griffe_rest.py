"""Griffe extension: the reStructuredText habits of fti's docstrings, as Markdown.

fti's docstrings are written for ``help()`` and read well as plain text, with a few reST
constructs that Markdown would show raw. When mkdocstrings loads them for the reference pages:

- a role (``:class:`~fti.errors.SchemaError```) becomes code: ``SchemaError`` (``~`` keeps the
  last name, as Sphinx does);
- ``text::`` before an indented block becomes ``text:`` (the block is already Markdown code);
- a simple table (columns under ``====`` rules) becomes a Markdown table.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:[a-z]+:)?[a-z]+:`(?P<tilde>~?)(?P<target>[^`<]+?)(?:\s*<(?P<link>[^>]+)>)?`"
)
_RULE = re.compile(r"^ *=+( +=+)+ *$")


def to_markdown(text: str) -> str:
    """``text`` (a docstring) with its roles, literal-block markers and simple tables converted."""
    text = _ROLE.sub(_role, text)
    lines = [_literal_marker(line) for line in text.split("\n")]
    return "\n".join(_tables(lines))


def _role(match: re.Match[str]) -> str:
    target = match["target"].strip()
    if match["tilde"] and not match["link"]:
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def _literal_marker(line: str) -> str:
    if line.strip() == "::":
        return ""
    return line[:-1] if line.rstrip().endswith("::") else line


def _tables(lines: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(lines):
        rules = [j for j in range(i, len(lines)) if _RULE.match(lines[j])][:3]
        if len(rules) < 3 or rules[0] != i:
            out.append(lines[i])
            i += 1
            continue
        out += _table(lines[rules[0] : rules[2] + 1])
        i = rules[2] + 1
    return out


def _table(block: list[str]) -> list[str]:
    """A reST simple table (top rule, header, rule, body, bottom rule) as Markdown."""
    spans = [m.span() for m in re.finditer(r"=+", block[0])]
    rows: list[list[str]] = []
    header_rows = 0
    for line in block[1:-1]:
        if _RULE.match(line):
            header_rows = len(rows)
            continue
        cells = [
            line[start : spans[k + 1][0] if k + 1 < len(spans) else None].strip()
            for k, (start, _) in enumerate(spans)
        ]
        if rows and not cells[0]:  # a continuation line: its text belongs to the row above
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    header, body = rows[:header_rows] or [rows[0]], rows[header_rows:] or rows[1:]
    head = [" ".join(column).strip() for column in zip(*header, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return ["", line(head), line(["---"] * len(head)), *(line(r) for r in body), ""]


class RestToMarkdown(griffe.Extension):
    """Converts each docstring once griffe has read it."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
