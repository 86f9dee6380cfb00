"""What readers write (Markdown with LaTeX math and @mentions) made into safe HTML.

Two real libraries do the work, never hand-written escaping:

1. **markdown-it-py** parses CommonMark (plus tables and strikethrough) with raw HTML
   *off*: a ``<script>`` someone types is text, escaped by the renderer. Images are
   off too (``![x](u)`` becomes a link), so nothing is loaded from another site.
   ``mdit_py_plugins.dollarmath`` takes ``$...$`` and ``$$...$$`` out of Markdown's
   hands *before* emphasis runs, so ``$a_1 * b_2$`` keeps its underscores and
   asterisks; the math is written back as escaped text between its dollars, inside
   an element of class ``math``, for the KaTeX auto-render the pages already serve.
   ``$5 and $10`` stays text (no math next to digits).
2. **nh3** (ammonia) then sanitises the HTML against an allow-list: a few text tags,
   ``href`` only on links, http(s)/mailto URLs only, no ``style``, no event handlers,
   no ``img``; the classes ``math`` and ``mention`` only; every link gets
   ``rel="nofollow ugc noopener noreferrer"``. Even if the first step had a bug, what
   reaches a page passes this list.

Mentions: ``@handle`` where a handle is a reader's display name with spaces as
underscores (``@Ada_Lovelace``), matched without regard to case. Only handles the
caller resolved (``mentions``) become ``<span class="mention">``; the rest stay plain
text, as do addresses (``ada@example.org``: no mention after a letter) and ``@`` in
code or math. :func:`mention_candidates` lists the handles a text mentions, with the
same parser, so notifications and rendering always agree.

Invariant: the output of :func:`render` is safe to insert into a page as markup.
``RENDER_VERSION`` changes whenever the output for the same input would; stored HTML
of an older version is rendered again when read.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from html import escape
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from mdit_py_plugins.dollarmath import dollarmath_plugin

RENDER_VERSION = 1

#: A handle after ``@``: letters, digits, ``_ . -``; it never ends with ``.`` or ``-``
#: (``@ada.`` at the end of a sentence mentions ``ada``).
HANDLE = re.compile(r"[^\W][\w.\-]{0,99}")
_MAX_HANDLE = 100

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
        "table", "thead", "tbody", "tr", "th", "td", "span", "div",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
ALLOWED_CLASSES = {"span": {"math", "mention"}, "div": {"math"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow ugc noopener noreferrer"


def handle_of(display_name: str) -> str:
    """The handle a display name is mentioned by: spaces become underscores."""
    return "_".join(display_name.split())


def _math(content: str, options: dict[str, Any]) -> str:
    # Back between its delimiters, as escaped text: KaTeX's auto-render finds it there.
    dollars = "$$" if options.get("display_mode") else "$"
    return f"{dollars}{escape(content, quote=False)}{dollars}"


def _mention_rule(state: StateInline, silent: bool) -> bool:
    pos = state.pos
    src = state.src
    if src[pos] != "@" or (pos > 0 and (src[pos - 1].isalnum() or src[pos - 1] in "_@")):
        return False
    found = HANDLE.match(src, pos + 1)
    if found is None:
        return False
    handle = found.group().rstrip(".-")
    if not handle or len(handle) > _MAX_HANDLE:
        return False
    key = handle.casefold()
    env = state.env
    if "candidates" in env:  # the collecting pass: note it, render nothing special
        env["candidates"].add(key)
        return False
    if key not in env.get("mentions", ()):
        return False
    if not silent:
        token = state.push("mention", "", 0)
        token.content = handle
    state.pos = pos + 1 + len(handle)
    return True


def _render_mention(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    return f'<span class="mention">@{escape(tokens[idx].content)}</span>'


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.disable("image")
    dollarmath_plugin(md, allow_digits=False, double_inline=True, renderer=_math)
    # The math blocks' own wrappers carry "math inline"/"math block": keep one class.
    # A "$$" inside a paragraph stays a span (a div would break the paragraph); KaTeX
    # shows it as display math either way.
    for name, tag, display in (
        ("math_inline", "span", False),
        ("math_inline_double", "span", True),
        ("math_block", "div", True),
        ("math_block_label", "div", True),
    ):
        rules: Any = getattr(md.renderer, "rules")  # noqa: B009 (not in its Protocol)
        md.add_render_rule(name, _wrapped(rules[name], tag, display))
    md.inline.ruler.before("text", "mention", _mention_rule)
    md.add_render_rule("mention", _render_mention)
    return md


def _wrapped(rule: Any, tag: str, display: bool) -> Any:
    def render(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        html = rule(tokens, idx, options, env)
        inner = _math(tokens[idx].content, {"display_mode": display})
        return f'<{tag} class="math">{inner}</{tag}>' + ("\n" if html.endswith("\n") else "")

    return render


_MD = _parser()


def mention_candidates(source: str) -> set[str]:
    """The handles (case-folded) ``source`` mentions outside code and math."""
    env: dict[str, Any] = {"candidates": set()}
    _MD.parse(source, env)
    return set(env["candidates"])


def sanitise(html: str) -> str:
    """``html`` cut down to the allow-list of the module docstring."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        allowed_classes={k: set(v) for k, v in ALLOWED_CLASSES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render(source: str, mentions: Collection[str] = ()) -> str:
    """Safe HTML of Markdown ``source``; ``mentions`` are the case-folded handles that
    name readers (the others stay text)."""
    env: dict[str, Any] = {"mentions": frozenset(m.casefold() for m in mentions)}
    return sanitise(_MD.render(source, env))
