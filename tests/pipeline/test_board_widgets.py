"""The board filter form's widgets write in Python exactly what Django's widget templates write."""
from datetime import date

import pytest
from django import forms
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from pipeline.forms import BoardDateInput, BoardFilterForm, BoardTextInput, DateInput, PythonRenderedSelect

CHOICES = [
    ("", "Everyone"),
    (1, "Ann <script>alert(1)</script>"),
    (2, 'Bob "the builder" & Co'),
    ("Team", [(3, "Cleo"), (4, "Dan's")]),
]


@pytest.mark.parametrize("value", [None, "", 1, "2", 4, [1, 2]])
@pytest.mark.parametrize(
    "attrs",
    [None, {"class": "form-select", "id": "id_owner"}, {"required": True, "disabled": False, "aria-invalid": "true"}],
)
def test_select_matches_django(value, attrs):
    ours = PythonRenderedSelect(choices=CHOICES).render("owner", value, attrs=attrs)
    django = forms.Select(choices=CHOICES).render("owner", value, attrs=attrs)
    assert ours == django


@pytest.mark.parametrize(
    "value", [None, "", "acme", '"><script>alert(1)</script>', mark_safe("<b>x</b>"), date(2027, 2, 13), "2027-02-13"]
)
@pytest.mark.parametrize(
    "attrs",
    [None, {"type": "search", "placeholder": gettext_lazy("Title, company or contact")}, {"required": True, "x": 'a"b'}],
)
def test_inputs_match_django(value, attrs):
    assert BoardTextInput(attrs=attrs).render("q", value) == forms.TextInput(attrs=attrs).render("q", value)
    assert BoardDateInput(attrs=attrs).render("d", value) == DateInput(attrs=attrs).render("d", value)


@pytest.mark.parametrize("data", [None, {"owner": "2", "q": "<b>", "close_from": "2027-01-01", "close_to": "2026-01-01"}])
def test_board_filter_form_fields_render_as_with_django_widgets(data, django_user_model):
    owners = [django_user_model(pk=2, username="ann<b>"), django_user_model(pk=3, username="bob")]
    form = BoardFilterForm(data, pipelines=[], owners=owners)
    if data:
        form.is_valid()
    plain = BoardFilterForm(data, pipelines=[], owners=owners)
    # The same widget objects (attributes, choices, input type), rendered by Django's templates.
    for name, widget in [("owner", forms.Select), ("q", forms.TextInput), ("close_from", DateInput), ("close_to", DateInput)]:
        plain.fields[name].widget.__class__ = widget
    if data:
        plain.is_valid()
    for name in ("owner", "q", "close_from", "close_to"):
        assert form[name].as_widget() == plain[name].as_widget()


@pytest.mark.parametrize(
    "value",
    ['<script>alert("x")</script> & \'co\'', "", "plain", mark_safe("<b>safe</b>"), gettext_lazy("Won"), 12, None],
)
def test_card_escape_is_conditional_escape(value):
    from django.utils.html import conditional_escape
    from django.utils.safestring import SafeString

    from pipeline.cards import escape

    assert escape(value) == conditional_escape(value)
    assert isinstance(escape(value), SafeString)
