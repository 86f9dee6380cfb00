"""Code and artifact links found in abstracts and comments, and the hostile ones that
must never become clickable (see :mod:`paperlens.links`)."""

from __future__ import annotations

import pytest

from paperlens.links import classify_url, find_links, has_code, paper_links


def keys(text: str) -> list[str]:
    return [link.key for link in find_links(text)]


def test_github_in_prose_latex_and_trailing_punctuation() -> None:
    text = (
        "Code is available at https://github.com/Owner/My-Repo. "
        "See also \\url{https://github.com/owner/my\\_tool} and (github.com/other/x.git)."
    )
    found = find_links(text)
    assert [(f.kind, f.url) for f in found] == [
        ("github", "https://github.com/Owner/My-Repo"),
        ("github", "https://github.com/owner/my_tool"),
        ("github", "https://github.com/other/x"),
    ]
    assert has_code(found)


def test_same_repository_twice_is_one_link_and_deep_paths_collapse() -> None:
    text = "https://github.com/a/b/tree/main/src and https://GITHUB.com/A/B#readme"
    assert keys(text) == ["github:a/b"]


@pytest.mark.parametrize(
    ("url", "kind", "href"),
    [
        (
            "https://huggingface.co/meta-llama/Llama-3-8B",
            "hf-model",
            "https://huggingface.co/meta-llama/Llama-3-8B",
        ),
        (
            "https://huggingface.co/datasets/org/data_set",
            "hf-dataset",
            "https://huggingface.co/datasets/org/data_set",
        ),
        ("https://hf.co/spaces/user/demo", "hf-space", "https://huggingface.co/spaces/user/demo"),
        ("https://zenodo.org/record/1234567", "zenodo", "https://zenodo.org/records/1234567"),
        ("https://doi.org/10.5281/zenodo.42", "zenodo", "https://zenodo.org/records/42"),
        ("https://gitlab.com/grp/proj", "gitlab", "https://gitlab.com/grp/proj"),
        ("https://my-lab.github.io/paper-x/", "project", "https://my-lab.github.io/paper-x/"),
        ("https://example.org/data", "website", "https://example.org/data"),
        ("http://www.example.edu/~me/x.html", "website", "http://www.example.edu/~me/x.html"),
        ("http://GitHub.com/a/b", "github", "https://github.com/a/b"),
    ],
)
def test_kinds(url: str, kind: str, href: str) -> None:
    link = classify_url(url)
    assert link is not None
    assert (link.kind, link.url) == (kind, href)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(document.cookie)//github.com/a/b",
        "data:text/html;base64,PHNjcmlwdD4=",
        "https://github.com.evil.io/a/b",
        "https://github-com.io/a/b",
        "https://evil.io/github.com/a/b" + "?x=",  # a website, but never GitHub
        "https://github.com@evil.io/a/b",
        "https://user:pass@github.com/a/b",
        "https://gіthub.com/a/b",  # Cyrillic i
        "https://xn--gthub-n4a.com/a/b",
        "https://github.com:8080/a/b",
        "https://127.0.0.1/a/b",
        "https://github.com/a/b\u202e",
        "https://github.com/%2e%2e/b",
        "https://github.com/orgs/foo",
        "https://github.com/onlyowner",
        "ftp://github.com/a/b",
        "https://github.com/a/b\\@evil.io",
        "https://huggingface.co/papers/2401.00001",
        "https://dx.doi.org/10.1214/07-AAP481",
        "http://rwcc.example.cn:8001/code.pdf",
        "http://85.20.11.14/hosting/x/",
    ],
)
def test_hostile_or_malformed_links_are_never_code(url: str) -> None:
    link = classify_url(url)
    assert link is None or (
        link.kind == "website" and link.name not in {"github.com", "gitlab.com"}
    )


def test_lookalike_hosts_are_not_even_websites() -> None:
    assert classify_url("https://github.com.evil.io/a/b") is None
    assert classify_url("https://huggingface.co.attacker.net/x/y") is None
    assert classify_url("https://gitlab-login.io/") is None


def test_hostile_links_in_text_yield_nothing_clickable() -> None:
    text = (
        'Try <a href="javascript:alert(1)">this</a>, data:text/html,<b>x</b>, '
        "https://github.com.evil.io/a/b, https://evil.io@github.com/x/y? "
        "and https://gіthub.com/a/b."
    )
    assert [link.url for link in find_links(text)] == []


def test_href_is_rebuilt_not_copied() -> None:
    link = classify_url("https://github.com/a/b/blob/x?utm=%22%3E%3Cscript%3E")
    assert link is not None and link.url == "https://github.com/a/b"
    site = classify_url("https://example.org/p/<script>")
    assert site is None


def test_hugging_face_fields_come_first() -> None:
    found = paper_links(
        "Code: https://github.com/x/second",
        None,
        {"code": "https://github.com/x/first", "project": "https://example.org/proj"},
    )
    assert [(f.kind, f.url) for f in found] == [
        ("github", "https://github.com/x/first"),
        ("project", "https://example.org/proj"),
        ("github", "https://github.com/x/second"),
    ]
    assert paper_links("nothing here", "12 pages", {"abs": "https://arxiv.org/abs/1"}) == []
