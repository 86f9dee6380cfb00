"""Discussions in the core: threading and its depth limit, the "edited" mark, deletion
that keeps the thread's shape, mentions (notifications, and mail through a real SMTP
server on loopback for readers who opted in), reports, moderation, bans, counts per
paper; and the Markdown renderer against hostile input (what reaches a page passes
nh3's allow-list). Runs on SQLite and, with ``PAPERLENS_TEST_DATABASE_URL``, on
PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest

from paperlens.accounts import User
from paperlens.config import Settings
from paperlens.core import PaperLens
from paperlens.discussions import MAX_CHARS, MAX_DEPTH, Discussions, check_body
from paperlens.errors import Conflict, Forbidden, Invalid, NotFound
from paperlens.mail import Mailer
from paperlens.markup import handle_of, mention_candidates, render
from paperlens.paper import make_paper
from paperlens.sources.base import Parsed

PASSWORD = "correct horse battery"


@pytest.fixture
def lens(settings: Settings) -> Iterator[PaperLens]:
    lens = PaperLens(settings)
    yield lens
    lens.close()


def reader(lens: PaperLens, name: str = "", *, verified: bool = True) -> User:
    email = f"r-{uuid.uuid4().hex[:10]}@example.org"
    return lens.accounts.create_user(email, PASSWORD, name, verified=verified)


def admin_of(lens: PaperLens) -> User:
    user = reader(lens, "Admin")
    return lens.accounts.set_admin(user.email)


def paper(lens: PaperLens, pid: str = "2401.00001") -> int:
    p = make_paper(
        id=pid,
        title=f"On $x_1$ and {pid}",
        abstract="About it.",
        authors=["Ada Lovelace"],
        categories=("cs.LG",),
        published=datetime(2024, 1, 2, tzinfo=UTC),
        source="test",
    )
    lens.papers.write_batch([Parsed(p, "test")])
    stored = lens.papers.get(pid)
    assert stored is not None
    return stored.pk


# -- threads ---------------------------------------------------------------------------------


def test_thread_nests_replies_under_their_parents(lens: PaperLens) -> None:
    d = lens.discussions
    pk = paper(lens)
    a, b = reader(lens, "Ann"), reader(lens, "Bob")
    first = d.post(a, pk, "First *point*.").comment
    second = d.post(b, pk, "Second.").comment
    reply = d.post(b, pk, "A reply.", parent_pk=first.pk).comment
    deeper = d.post(a, pk, "Deeper.", parent_pk=reply.pk).comment
    roots = d.thread(pk)
    assert [c.pk for c in roots] == [first.pk, second.pk]
    assert [c.pk for c in roots[0].children] == [reply.pk]
    assert [c.pk for c in roots[0].children[0].children] == [deeper.pk]
    assert (reply.depth, deeper.depth) == (1, 2)
    assert roots[0].html == "<p>First <em>point</em>.</p>\n"
    assert roots[0].author_name == "Ann"
    assert [c.pk for c in d.flat(pk)] == [first.pk, reply.pk, deeper.pk, second.pk]
    # A reply names a comment of the same paper only.
    other = paper(lens, "2401.00002")
    with pytest.raises(NotFound):
        d.post(a, other, "Elsewhere.", parent_pk=first.pk)


def test_depth_limit(lens: PaperLens) -> None:
    d = lens.discussions
    pk = paper(lens)
    a = reader(lens, "Ann")
    parent = None
    for _ in range(MAX_DEPTH):
        parent = d.post(a, pk, "deeper", parent_pk=parent).comment.pk
    with pytest.raises(Invalid, match=f"at most {MAX_DEPTH} levels"):
        d.post(a, pk, "too deep", parent_pk=parent)
    assert max(c.depth for c in d.flat(pk)) == MAX_DEPTH - 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\u202e\u2066", "empty"),  # only bidi controls: nothing left
        ("bin\x00ary", "control characters"),
        ("\x1b[31mred", "control characters"),
        ("x" * (MAX_CHARS + 1), "too long"),
    ],
)
def test_bad_bodies_are_refused_with_a_message(body: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        check_body(body)


def test_limit_is_on_the_cleaned_text() -> None:
    assert check_body("  " + "x" * MAX_CHARS + "\r\n") == "x" * MAX_CHARS
    assert check_body("a\tb\r\nc") == "a\tb\nc"


def test_edit_marks_and_only_the_author_edits(lens: PaperLens) -> None:
    clock = [datetime(2026, 1, 1, tzinfo=UTC)]
    d = Discussions(lens.discussions.store, lens.papers, lens.settings, clock=lambda: clock[0])
    pk = paper(lens)
    a, b = reader(lens, "Ann"), reader(lens, "Bob")
    c = d.post(a, pk, "tpyo").comment
    assert c.edited_at is None
    clock[0] = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    edited = d.edit(a, c.pk, "typo **fixed**").comment
    assert edited.edited_at == clock[0]
    assert edited.html == "<p>typo <strong>fixed</strong></p>\n"
    assert edited.created_at == datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(Forbidden, match="only its author"):
        d.edit(b, c.pk, "vandal")
    # Admins moderate but do not put words in others' mouths.
    with pytest.raises(Forbidden):
        d.edit(admin_of(lens), c.pk, "vandal")
    assert d.comment(c.pk).html == edited.html


def test_delete_keeps_the_thread_shape_and_erases_the_text(lens: PaperLens) -> None:
    d = lens.discussions
    pk = paper(lens)
    a, b = reader(lens, "Ann"), reader(lens, "Bob")
    top = d.post(a, pk, "secret words").comment
    reply = d.post(b, pk, "an answer", parent_pk=top.pk).comment
    with pytest.raises(Forbidden):
        d.delete(b, top.pk)
    gone = d.delete(a, top.pk)
    assert gone.deleted and gone.placeholder == "[deleted]" and gone.html == ""
    assert d.delete(a, top.pk).deleted  # twice: a no-op
    roots = d.thread(pk, b)
    assert roots[0].placeholder == "[deleted]" and roots[0].author_name == "[deleted]"
    assert [c.pk for c in roots[0].children] == [reply.pk]
    assert d.store.get(top.pk).body == ""  # type: ignore[union-attr]
    with pytest.raises(Conflict):
        d.edit(a, top.pk, "back")
    with pytest.raises(Invalid, match="takes no replies"):
        d.post(b, pk, "reply to nothing", parent_pk=top.pk)
    assert d.counts([pk]) == {pk: 1}


def test_counts_per_paper_in_one_call(lens: PaperLens) -> None:
    d = lens.discussions
    p1, p2, p3 = paper(lens, "2401.00011"), paper(lens, "2401.00012"), paper(lens, "2401.00013")
    a = reader(lens, "Ann")
    for _ in range(3):
        d.post(a, p1, "x")
    hidden = d.post(a, p2, "y").comment
    d.post(a, p2, "z")
    d.moderate(admin_of(lens), hidden.pk, "hide")
    assert d.counts([p1, p2, p3]) == {p1: 3, p2: 1}


# -- writers ----------------------------------------------------------------------------------


def test_unverified_and_banned_readers_may_not_write(lens: PaperLens) -> None:
    d = lens.discussions
    pk = paper(lens)
    fresh = reader(lens, "New", verified=False)
    with pytest.raises(Forbidden, match="verify your email"):
        d.post(fresh, pk, "hello")
    admin = admin_of(lens)
    troll = reader(lens, "Troll")
    c = d.post(troll, pk, "bait").comment
    assert d.ban(admin, troll.pk, "spam") is True
    assert d.ban(admin, troll.pk) is False
    with pytest.raises(Forbidden, match="barred"):
        d.post(troll, pk, "more bait")
    with pytest.raises(Forbidden):
        d.edit(troll, c.pk, "edited bait")
    with pytest.raises(Forbidden):
        d.ban(troll, admin.pk)
    assert [b.user_pk for b in d.bans(admin)] == [troll.pk]
    assert d.unban(admin, troll.pk)
    d.post(troll, pk, "reformed")


# -- mentions --------------------------------------------------------------------------------


def test_mentions_notify_known_readers_and_leave_the_rest_as_text(lens: PaperLens) -> None:
    d = lens.discussions
    pk = paper(lens)
    ada = reader(lens, "Ada Lovelace")
    bob = reader(lens, "Bob")
    twin1, twin2 = reader(lens, "Twin"), reader(lens, "Twin")
    writer = reader(lens, "Writer")
    body = (
        "Thanks @ada_lovelace and @Bob. Not @Twin (two of them), not @nobody, "
        "not mail@Bob.example, not `@Bob` nor $@Bob$, and @Writer is me."
    )
    c = d.post(writer, pk, body).comment
    assert '<span class="mention">@ada_lovelace</span>' in c.html
    assert '<span class="mention">@Bob</span>' in c.html
    assert "@nobody" in c.html and '<span class="mention">@nobody' not in c.html
    assert '<span class="mention">@Twin' not in c.html
    assert "mail@Bob.example" in c.html and "<code>@Bob</code>" in c.html
    for u in (ada, bob):
        notes = d.notifications(u.pk)
        assert [(n.kind, n.comment_pk, n.actor_name) for n in notes] == [
            ("mention", c.pk, "Writer")
        ]
        assert notes[0].url == f"/paper/2401.00001#c{c.pk}"
        assert d.unread_count(u.pk) == 1
    for u in (twin1, twin2, writer):
        assert d.notifications(u.pk) == []
    assert d.mark_read(ada.pk) == 1 and d.unread_count(ada.pk) == 0
    # An edit notifies only the newly mentioned; a reply notifies the parent's author.
    carol = reader(lens, "Carol")
    d.edit(writer, c.pk, body + " Also @Carol.")
    assert len(d.notifications(carol.pk)) == 1 and len(d.notifications(bob.pk)) == 1
    d.post(bob, pk, "reply", parent_pk=c.pk)
    assert [n.kind for n in d.notifications(writer.pk)] == ["reply"]


def test_mention_of_non_ascii_names(lens: PaperLens) -> None:
    d = lens.discussions
    pk = paper(lens)
    elodie = reader(lens, "Élodie Dupont")
    c = d.post(reader(lens, "W"), pk, "cc @élodie_dupont").comment
    assert 'class="mention"' in c.html
    assert len(d.notifications(elodie.pk)) == 1


def test_mention_mail_goes_to_readers_who_opted_in(lens: PaperLens, smtp_server: Any) -> None:
    settings = lens.settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port}
    )
    d = lens.discussions
    pk = paper(lens)
    keen = reader(lens, "Keen")
    quiet = reader(lens, "Quiet")
    unverified = reader(lens, "Unverified", verified=False)
    d.set_mail_mentions(keen.pk, True)
    d.set_mail_mentions(unverified.pk, True)  # no proven address: never mailed
    assert d.mail_mentions(keen.pk) and not d.mail_mentions(quiet.pk)
    posted = d.post(reader(lens, "Writer"), pk, "Hey @Keen, @Quiet and @Unverified: $a_1$")
    assert [m["To"] for m in posted.mails] == [keen.email]
    for message in posted.mails:
        Mailer(settings).send(message)
    got = smtp_server.wait_for(1)
    assert got[0]["To"] == keen.email
    assert "Writer mentioned you" in got[0]["Subject"]
    text = got[0].get_content()
    assert f"/paper/2401.00001#c{posted.comment.pk}" in text
    assert "Hey @Keen" in text
    # Turned off: no more mail.
    d.set_mail_mentions(keen.pk, False)
    assert d.post(reader(lens, "W2"), pk, "@Keen again").mails == []


# -- reports and moderation ------------------------------------------------------------------


def test_report_once_and_moderators_act(lens: PaperLens) -> None:
    d = lens.discussions
    pk = paper(lens)
    admin = admin_of(lens)
    author, r1, r2 = reader(lens, "Author"), reader(lens, "R1"), reader(lens, "R2")
    c = d.post(author, pk, "rude words").comment
    d.report(r1, c.pk, "rude")
    with pytest.raises(Conflict, match="already reported"):
        d.report(r1, c.pk, "again")
    d.report(r2, c.pk, "")
    with pytest.raises(Invalid, match="your own"):
        d.report(author, c.pk)
    with pytest.raises(Forbidden):
        d.reports(r1)
    [open_] = d.reports(admin)
    assert (open_.comment.pk, open_.reports, open_.reasons) == (c.pk, 2, ["rude"])
    assert d.thread(pk, r1)[0].reported is True
    hidden = d.moderate(admin, c.pk, "hide")
    assert hidden.hidden and hidden.html  # admins still read it
    seen = d.thread(pk, r1)[0]
    assert seen.html == "" and seen.placeholder == "[hidden by a moderator]"
    assert d.reports(admin) == []  # acting closes the reports
    assert d.moderate(admin, c.pk, "restore").html == "<p>rude words</p>\n"
    d.moderate(admin, c.pk, "delete")
    with pytest.raises(Conflict, match="cannot be restored"):
        d.moderate(admin, c.pk, "restore")
    with pytest.raises(Invalid):
        d.moderate(admin, c.pk, "explode")
    with pytest.raises(Forbidden):
        d.moderate(r1, c.pk, "hide")


def test_unknown_comment_is_not_found(lens: PaperLens) -> None:
    d = lens.discussions
    a = reader(lens, "A")
    for pk in (0, 999_999, 2**40):
        with pytest.raises(NotFound):
            d.edit(a, pk, "x")


def test_claimed_authors_are_marked(lens: PaperLens) -> None:
    class Claims:
        def __init__(self, pks: set[int]) -> None:
            self.pks = pks

        def claimed_author_pks(self, paper_pk: int) -> set[int]:
            return self.pks

    pk = paper(lens)
    a, b = reader(lens, "Author"), reader(lens, "Reader")
    assert lens.discussions.claimed_author_pks(pk) == set()  # no claims feature yet
    d = Discussions(lens.discussions.store, lens.papers, lens.settings, Claims({a.pk}))
    d.post(a, pk, "I wrote it")
    d.post(b, pk, "I read it")
    assert [(c.author_name, c.is_author) for c in d.thread(pk)] == [
        ("Author", True),
        ("Reader", False),
    ]


# -- rendering ---------------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![pic](https://evil.example/track.png)",
    "![pic](data:image/png;base64,AAAA)",
    '<a href="https://x" onclick="alert(1)">x</a>',
    '<p style="position:fixed;top:0">overlay</p>',
    "<style>body{display:none}</style>",
    "<iframe src=https://evil.example></iframe>",
    "**<b onmouseover=alert(1)>bold</b>**",
    '[x](https://ok.example "title" onclick=alert(1))',
    '<div class="math" onclick="alert(1)">$x$</div>',
    "`<script>` ```\n<script>alert(1)</script>\n```",
    "$</span><script>alert(1)</script>$",
    "$$</div><img src=x onerror=alert(1)>$$",
    "[a](<javascript:alert(1)>)",
    "<javascript:alert(1)>",
    "<!-- <script>alert(1)</script> -->",
    "> <form action=https://evil.example><input name=p></form>",
]


class Elements(HTMLParser):
    """Every element and attribute in a piece of HTML, as a browser would parse it."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.found: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, attrs))


@pytest.mark.parametrize("payload", HOSTILE)
def test_hostile_markdown_renders_inert(payload: str) -> None:
    html = render(payload, {"bob"})
    for tag, attrs in Elements(html).found:
        assert tag in {"p", "a", "strong", "em", "code", "pre", "span", "div", "blockquote"}, html
        for name, value in attrs:
            assert name in {"href", "title", "rel", "class"}, html
            if name == "href":
                assert (value or "").startswith(("https://", "http://", "mailto:")), html
            if name == "class":
                assert value in {"math", "mention"}, html


def test_links_are_nofollow_ugc_and_images_become_links() -> None:
    html = render("[paper](https://arxiv.org/abs/1234.5678) ![img](https://evil.example/x.png)")
    assert html.count('rel="nofollow ugc noopener noreferrer"') == 2
    assert "<img" not in html


def test_math_is_left_intact_for_katex() -> None:
    html = render("Let $a_1 * b_2 < c_3$ and *so* on:\n\n$$\\sum_{i=1}^n x_i^2 \\le **y**$$\n")
    assert '<span class="math">$a_1 * b_2 &lt; c_3$</span>' in html
    assert "<em>so</em>" in html
    assert '<div class="math">$$\\sum_{i=1}^n x_i^2 \\le **y**$$</div>' in html
    assert "<em>" not in html.split("<em>so</em>")[1]  # nothing inside math became emphasis
    assert render("costs $5 and $10") == "<p>costs $5 and $10</p>\n"  # money is not math


def test_mention_helpers() -> None:
    assert handle_of(" Ada  Lovelace ") == "Ada_Lovelace"
    assert mention_candidates("@Ada_Lovelace, @bob. a@c `@d` $@e$ @f-") == {
        "ada_lovelace",
        "bob",
        "f",
    }


def test_a_gone_account_leaves_its_comments_as_a_deleted_readers(lens: PaperLens) -> None:
    from sqlalchemy import delete

    from paperlens.store.schema import UserRow, table

    d = lens.discussions
    pk = paper(lens)
    leaver, stayer = reader(lens, "Leaver"), reader(lens, "Stayer")
    c = d.post(leaver, pk, "I was here").comment
    d.post(stayer, pk, "so was I", parent_pk=c.pk)
    users = table(UserRow)
    with lens.engine.begin() as conn:
        conn.execute(delete(users).where(users.c.pk == leaver.pk))
    [top] = d.thread(pk)
    assert (top.author_name, top.author_pk, top.html) == (
        "deleted reader",
        None,
        "<p>I was here</p>\n",
    )
    assert [r.author_name for r in top.children] == ["Stayer"]


def test_html_of_an_older_renderer_is_rendered_again_when_read(lens: PaperLens) -> None:
    d = lens.discussions
    pk = paper(lens)
    c = d.post(reader(lens, "Old"), pk, "*kept* $x_1$").comment
    d.store.set_body(c.pk, "*kept* $x_1$", "<p>stale</p>", 0, None)
    assert d.thread(pk)[0].html == '<p><em>kept</em> <span class="math">$x_1$</span></p>\n'
    stored = d.store.get(c.pk)
    assert stored is not None and stored.html_version == 1 and "stale" not in stored.html
