"""Citations (paperlens.cite) read back by real parsers: BibTeX by bibtexparser and
pybtex (and its LaTeX decoded by pylatexenc to the title it came from), RIS by rispy,
CSL-JSON against the CSL 1.0.2 input schema and rendered by citeproc-py with a real
style. Hostile titles and names included: braces, %, backslashes, math, unicode."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import bibtexparser
import jsonschema
import pybtex.database
import pytest
import rispy
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle
from citeproc import formatter as cite_formatter
from citeproc.source.json import CiteProcJSON
from pylatexenc import latex2text
from pylatexenc.latex2text import LatexNodes2Text

from paperlens import cite
from paperlens.paper import Paper, make_paper

#: The CSL 1.0.2 input schema's rules for the variables paperlens writes (the full
#: schema allows more; ``additionalProperties: false`` keeps us to these).
CSL_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["type", "id"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": ["string", "number"]},
            "type": {"enum": ["article", "article-journal"]},
            "title": {"type": "string"},
            "abstract": {"type": "string"},
            "DOI": {"type": "string"},
            "URL": {"type": "string"},
            "number": {"type": ["string", "number"]},
            "publisher": {"type": "string"},
            "genre": {"type": "string"},
            "keyword": {"type": "string"},
            "container-title": {"type": "string"},
            "author": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "family": {"type": "string"},
                        "given": {"type": "string"},
                        "suffix": {"type": "string"},
                        "literal": {"type": "string"},
                    },
                },
            },
            "issued": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "date-parts": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 2,
                        "items": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 3,
                            "items": {"type": ["string", "number"]},
                        },
                    }
                },
            },
        },
    },
}

#: Titles with nothing LaTeX would read as a command: decoding the BibTeX title must
#: give each back exactly.
PLAIN_HOSTILE = [
    "Sets {x | x > 0",
    "Closing } first { then",
    "100% of C# & F_1 scores cost $5",
    "}}}{{{",
    "ends with a backslash \\",
    "Tilde ~ and caret ^ here",
    '@misc{evil, title = "x"} injected',
    "Ünïcödé — Gödel, Escher, Bach: 東京 ∀x∈ℝ",
    "Control\x07 characters\x00 vanish",
]


def _paper(title: str, **kw: object) -> Paper:
    fields: dict[str, object] = {
        "id": "2106.09685",
        "abstract": "An abstract.",
        "authors": ["Edward J. Hu", "Ada {Lovelace", "Alan Turing}", "Ludwig van Beethoven"],
        "categories": ["cs.CL", "cs.LG"],
        "published": datetime(2021, 6, 17, tzinfo=UTC),
        "source": "t",
        **kw,
    }
    return make_paper(title=title, **fields)  # type: ignore[arg-type]


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0 and "{" in text


def _bib_parsed(text: str) -> dict[str, str]:
    lib = bibtexparser.parse_string(text)
    assert not lib.failed_blocks, [b.error for b in lib.failed_blocks]
    assert len(lib.entries) == 1
    return {f.key: f.value for f in lib.entries[0].fields}


def _latex_context() -> Any:
    """pylatexenc's LaTeX, plus the text-mode commands LaTeX draws braces and a caret
    with (pylatexenc drops the first two and draws the third as a modifier letter)."""
    db = latex2text.get_default_latex_context_db()
    db.add_context_category(
        "paperlens-tests",
        prepend=True,
        macros=[
            latex2text.MacroTextSpec("textbraceleft", "{"),
            latex2text.MacroTextSpec("textbraceright", "}"),
            latex2text.MacroTextSpec("textasciicircum", "^"),
        ],
    )
    return db


def _decoded(latex: str) -> str:
    """What LaTeX prints for a BibTeX value (math left as its source)."""
    text = LatexNodes2Text(math_mode="verbatim", latex_context=_latex_context()).latex_to_text(
        latex
    )
    return " ".join(text.split())


@pytest.mark.parametrize("title", PLAIN_HOSTILE)
def test_bibtex_of_hostile_titles_parses_back_to_the_title(title: str) -> None:
    p = _paper(title, doi="10.1/x}y_z", journal_ref="J. {Odd 100%")
    text = cite.render([p], "bibtex")
    fields = _bib_parsed(text)
    assert {"title", "author", "eprint", "archivePrefix", "primaryClass", "url", "doi"} <= set(
        fields
    )
    expected = " ".join(title.replace("\x07", "").replace("\x00", "").split())
    if _balanced(expected):  # braces that pair are LaTeX groups: LaTeX does not print them
        expected = expected.replace("{", "").replace("}", "")
    assert _decoded(fields["title"]) == expected
    assert _decoded(fields["doi"]) == "10.1/x}y_z"
    # pybtex, strict about BibTeX syntax, reads the same file and the same four people.
    data = pybtex.database.parse_string(text, "bibtex")
    (entry,) = data.entries.values()
    assert len(entry.persons["author"]) == 4
    assert entry.fields["eprint"] == "2106.09685"


def test_bibtex_keeps_math_and_latex_and_protects_capitals() -> None:
    title = r"{LoRA}-free \emph{Scaling} of GPT-4 with $\mathcal{O}(N^2)$ and BERT on ImageNet"
    fields = _bib_parsed(cite.render([_paper(title)], "bibtex"))
    t = fields["title"]
    assert r"$\mathcal{O}(N^2)$" in t  # math verbatim: not escaped, not braced
    assert r"\emph{Scaling}" in t  # a command is kept
    assert "{GPT}-4" in t and "{BERT}" in t and "{ImageNet}" in t
    assert "{LoRA}" in t and "{{LoRA}}" not in t  # already protected: left as it was
    # A sentence-case title: capitalised words are names a style must keep.
    sentence = "Learning with Gaussian processes for sampling from Markov chains"
    fields = _bib_parsed(cite.render([_paper(sentence)], "bibtex"))
    assert fields["title"] == "Learning with {Gaussian} processes for sampling from {Markov} chains"
    # A title-case title: words are left to the style.
    fields = _bib_parsed(cite.render([_paper("Attention Is All You Need")], "bibtex"))
    assert fields["title"] == "Attention Is All You Need"


def test_bibtex_arxiv_fields_and_names() -> None:
    p = _paper("A title", authors=["ATLAS Collaboration", "Tom and Jerry", "Smith, J., Jr., X."])
    text = cite.render([p], "bibtex")
    assert text.startswith("@misc{atlas2021title,")
    assert "month = jun" in text  # the standard macro, not the string "jun"
    data = pybtex.database.parse_string(text, "bibtex")
    (entry,) = data.entries.values()
    assert entry.fields["archivePrefix"] == "arXiv"
    assert entry.fields["primaryClass"] == "cs.CL"
    assert entry.fields["url"] == "https://arxiv.org/abs/2106.09685"
    assert entry.fields["month"] == "June"
    people = entry.persons["author"]
    assert len(people) == 3  # "and" inside a name does not split it
    assert str(people[0]) == "{ATLAS Collaboration}"  # an organisation stays whole
    # A journal reference makes it an @article.
    assert cite.render([_paper("T", journal_ref="Nature 1 (2021)")], "bibtex").startswith(
        "@article{"
    )


def test_keys_are_unique_and_shared_by_all_formats() -> None:
    a, b = _paper("Same title here"), _paper("Same title here")
    bib = bibtexparser.parse_string(cite.render([a, b], "bibtex"))
    keys = [e.key for e in bib.entries]
    assert len(set(keys)) == 2
    assert [r["id"] for r in rispy.loads(cite.render([a, b], "ris"))] == keys
    assert [i["id"] for i in json.loads(cite.render([a, b], "csl-json"))] == keys


@pytest.mark.parametrize("title", [*PLAIN_HOSTILE, r"Math $\{x$ and \emph{y}"])
def test_ris_round_trips_through_rispy(title: str) -> None:
    p = _paper(title, doi="10.1/x_y")
    text = cite.render([p, _paper("Second", journal_ref="J. Foo 3")], "ris")
    assert not text.startswith("1.")  # plain RIS: no numbering line
    first, second = rispy.loads(text)
    assert first["type_of_reference"] == "UNPB" and second["type_of_reference"] == "JOUR"
    assert first["title"] == " ".join(title.replace("\x07", "").replace("\x00", "").split())
    assert first["authors"][0] == "Hu, Edward J."
    assert first["authors"][3] == "van Beethoven, Ludwig"
    assert first["doi"] == "10.1/x_y" and first["year"] == "2021"
    assert "https://arxiv.org/abs/2106.09685" in first["urls"]
    assert first["keywords"] == ["cs.CL", "cs.LG"]
    assert second["journal_name"] == "J. Foo 3"


@pytest.mark.parametrize("title", [*PLAIN_HOSTILE, "<i>Tags</i> & <script>x</script>"])
def test_csl_json_follows_the_schema_and_citeproc_renders_it(title: str) -> None:
    papers = [
        _paper(title, doi="10.1/x"),
        _paper("Published", journal_ref="Nature 1", authors=["ATLAS Collaboration"]),
    ]
    items = json.loads(cite.render(papers, "csl-json"))
    jsonschema.validate(items, CSL_SCHEMA)
    assert items[0]["type"] == "article" and items[1]["type"] == "article-journal"
    assert items[0]["title"] == " ".join(title.replace("\x07", "").replace("\x00", "").split())
    assert items[0]["author"][0] == {"family": "Hu", "given": "Edward J."}
    assert items[0]["issued"] == {"date-parts": [[2021, 6, 17]]}
    assert items[0]["number"] == "arXiv:2106.09685" and items[0]["DOI"] == "10.1/x"
    assert items[1]["author"] == [{"literal": "ATLAS Collaboration"}]
    # citeproc-py reads it and formats a bibliography with a real CSL style.
    source = CiteProcJSON(items)
    style = CitationStylesStyle("harvard-cite-them-right", validate=False)
    bibliography = CitationStylesBibliography(style, source, cite_formatter.plain)
    for item in items:
        bibliography.register(Citation([CitationItem(item["id"])]))
    rendered = [str(entry) for entry in bibliography.bibliography()]
    assert any("Hu" in r and "2021" in r for r in rendered)


def test_names_are_split_as_reference_managers_expect() -> None:
    assert cite.split_name("Ada Lovelace") == cite.Name("Ada", "Lovelace")
    assert cite.split_name("Lovelace, Ada") == cite.Name("Ada", "Lovelace")
    assert cite.split_name("Jan van der Berg") == cite.Name("Jan", "van der Berg")
    assert cite.split_name("Martin Luther King Jr.") == cite.Name("Martin Luther", "King", "Jr.")
    assert cite.split_name("Plato") == cite.Name(family="Plato")
    assert cite.split_name("The CMS Collaboration").literal == "The CMS Collaboration"


def test_unknown_format_names_the_choices() -> None:
    with pytest.raises(ValueError, match="bibtex, ris or csl-json"):
        cite.cite_format("endnote")
    assert cite.cite_format(" BibTeX ") == "bibtex"


def test_only_http_links_reach_a_citation() -> None:
    p = make_paper(
        id="title-x",
        title="T",
        abstract="",
        source="t",
        links={"url": "javascript:alert(1)", "pdf": "data:text/html,x"},
    )
    for fmt in cite.FORMATS:
        text = cite.render([p], fmt)  # type: ignore[arg-type]
        assert "javascript:" not in text and "data:" not in text
    safe = make_paper(
        id="title-y", title="T", abstract="", source="t", links={"url": "https://x.org/p"}
    )
    assert "url = {https://x.org/p}" in cite.render([safe], "bibtex")
    assert json.loads(cite.render([safe], "csl-json"))[0]["URL"] == "https://x.org/p"
