"""Notes are escaped and sanitised: no script, event handler or javascript: URL reaches the page."""
from html.parser import HTMLParser

import pytest

from activities.formatting import render_note

ATTACKS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    '<svg onload="alert(1)">',
    "<iframe src=https://evil.example></iframe>",
    '[x](https://ok.example" onmouseover="alert(1))',
    "https://ok.example/\"onmouseover=alert(1)//",
    "**<script>alert(1)</script>**",
    "<style>body{display:none}</style>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
]


class Tags(HTMLParser):
    """The real elements of the output (escaped text is not an element)."""

    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


@pytest.mark.parametrize("attack", ATTACKS)
def test_no_script_can_get_in(attack):
    for tag, attrs in elements(str(render_note(attack))):
        assert tag in {"p", "br", "strong", "em", "code", "a", "ul", "li"}, tag
        assert not [name for name in attrs if name.startswith("on") or name in ("style", "src")], attrs
        if tag == "a":
            assert attrs["href"].lower().startswith(("http://", "https://", "mailto:")), attrs
            assert '"' not in attrs["href"] and " " not in attrs["href"]


def test_markdown_subset_renders():
    html = render_note("Hi **there** and *you*\nsee `code`\n\n- one\n- [two](https://example.com/a?b=1&c=2)")
    assert "<strong>there</strong>" in html
    assert "<em>you</em>" in html
    assert "<br>" in html
    assert "<code>code</code>" in html
    assert "<ul><li>one</li><li>" in html
    assert '<a href="https://example.com/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">two</a>' in html


def test_bare_links_become_links_and_plain_text_is_escaped():
    html = render_note("See https://example.com/x. 3 < 4 & 5 > 2")
    assert '<a href="https://example.com/x" rel="noopener noreferrer nofollow">https://example.com/x</a>.' in html
    assert "3 &lt; 4 &amp; 5 &gt; 2" in html


def test_the_escaped_tag_shows_as_text():
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in render_note("<script>alert(1)</script>")
