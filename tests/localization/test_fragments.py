"""The {% fixed %} tag: markup rendered once per language and values, never mixed between them."""
from django.template import engines
from django.utils import translation

from localization.templatetags.fragments import MAX_VARIANTS, FixedNode


def template(source: str):
    return engines["django"].from_string("{% load i18n fragments %}" + source)


def fixed_node(t) -> FixedNode:
    return t.template.nodelist.get_nodes_by_type(FixedNode)[0]


def test_a_fixed_fragment_is_rendered_once_and_reused():
    calls = []

    class Counter:
        def __str__(self):
            calls.append(1)
            return "counted"

    t = template("{% fixed %}<b>{{ counter }}</b>{% endfixed %}")
    assert t.render({"counter": Counter()}) == "<b>counted</b>"
    assert t.render({"counter": Counter()}) == "<b>counted</b>"
    assert len(calls) == 1


def test_each_language_gets_its_own_text():
    t = template('{% fixed %}{% translate "Sign out" %}{% endfixed %}')
    with translation.override("en"):
        assert t.render({}) == "Sign out"
    with translation.override("de"):
        assert t.render({}) == "Abmelden"
    with translation.override("en"):
        assert t.render({}) == "Sign out"


def test_the_named_values_are_part_of_the_key():
    t = template('{% fixed nav %}{% if nav == "board" %}active{% else %}plain{% endif %}{% endfixed %}')
    assert t.render({"nav": "board"}) == "active"
    assert t.render({"nav": "leads"}) == "plain"
    assert t.render({"nav": "board"}) == "active"


def test_values_that_vary_per_request_do_not_grow_the_cache():
    t = template("{% fixed n %}{{ n }}{% endfixed %}")
    for n in range(MAX_VARIANTS * 3):
        assert t.render({"n": n}) == str(n)
    assert len(fixed_node(t).rendered) <= MAX_VARIANTS


def test_two_templates_never_share_a_fragment():
    first = template("{% fixed %}first{% endfixed %}")
    second = template("{% fixed %}second{% endfixed %}")
    assert (first.render({}), second.render({})) == ("first", "second")
