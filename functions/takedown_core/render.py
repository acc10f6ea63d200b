"""The one Jinja2 environment that renders every review page, reviewer e-mail and notice.

Templates live in ``templates/`` beside this module, so they ship inside the functions/ asset
with the code that renders them. The environment is configured once, here:

- ``*.html.j2`` templates are autoescaped; ``*.txt.j2`` templates (mail text, notice text and
  the wording they share) are not HTML-escaped.
- Escaping is Python's ``html.escape(quote=True)``, the escaping the pages have always used
  (``"`` as ``&quot;``, ``'`` as ``&#x27;``), not MarkupSafe's spelling of the same characters.
  Values marked safe (``Markup``: the alignment SVG, a macro's or a block's output) pass as they are.
- ``StrictUndefined``: a name a view did not pass is an error, not an empty string. In HTML
  ``None`` renders as "".
- ``trim_blocks`` and ``lstrip_blocks``: a line holding only a ``{% tag %}`` leaves nothing in
  the output (and a line that ends with a ``{% tag %}`` loses its line break: end a line of
  text with text); ``keep_trailing_newline``: a text template's last line break is part of the text.
- A template whose first line starts with ``{# joined`` is one line of output however it is
  laid out: before it is compiled, every line break in it is removed together with the
  indentation that follows, inside tags too. Keep a sentence on one line there, and never let
  a line break alone separate two words of a tag.
  The e-mails' and notices' HTML are made this way.
- An HTML template never imports or includes a text template: a text macro called from HTML
  comes back marked safe, unescaped. Words shared by a text and an HTML part are rendered in
  Python (``macros(...)``) and handed to both as values (tests/unit/test_render.py checks).
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_eval_context, select_autoescape
from jinja2.ext import Extension
from markupsafe import Markup

from .wording import clean

TEMPLATES = Path(__file__).resolve().parent / "templates"

_JOINED = "{# joined"
_LINE_BREAK = re.compile(r"\r?\n[ \t]*")


def esc(value: Any, limit: int | None = None) -> str:
    """Untrusted value as HTML text or attribute value: cleaned (``clean``), then escaped, quotes included."""
    return html.escape(clean(value, limit), quote=True)


@pass_eval_context
def _finalize(eval_ctx: Any, value: Any) -> Any:
    """HTML: None as "", markup as it is, anything else escaped. Text: the value as it is."""
    if not eval_ctx.autoescape or hasattr(value, "__html__"):
        return value
    return Markup("" if value is None else html.escape(str(value), quote=True))


class _Joined(Extension):
    """Templates that begin with ``{# joined`` lose their line breaks (and the indentation after them)."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return _LINE_BREAK.sub("", source) if source.startswith(_JOINED) else source


def _sentence(text: Any) -> str:
    """The text with its first letter upper-cased (the rest kept, unlike Jinja's ``capitalize``)."""
    s = "" if text is None else str(text)
    return s[:1].upper() + s[1:]


ENV = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html", "htm", "xml", "html.j2"]),
    undefined=StrictUndefined,
    finalize=_finalize,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    extensions=[_Joined],
    auto_reload=False,
)
ENV.filters["sentence"] = _sentence


_CONFORMED = re.compile(r"^(/s/\s*\S|/[^/\s][^/]*/)")


def _conformed(signature: str) -> str:
    """An electronic signature as a notice prints it: a conformed signature ("/s/ Jane Doe",
    or the name between slashes, "/Jane Doe/") as configured; a bare name gets "/s/ " before
    it. Never both: "/s/ /Jane Doe/" is what a reader saw when a slashed name was prefixed."""
    signature = signature.strip()
    return signature if _CONFORMED.match(signature) else f"/s/ {signature}"


ENV.filters["conformed"] = _conformed


def render(name: str, /, **values: Any) -> str:
    """The template ``name`` (a path under templates/) rendered with ``values``."""
    return ENV.get_template(name).render(**values)


def macros(name: str) -> Any:
    """The macros of template ``name``, to call from Python (each returns its text)."""
    return ENV.get_template(name).module
