"""`{% fixed var … %}…{% endfixed %}`: markup that is the same for every request in one language
(menus, dialogs, fixed texts, links and static files), rendered once per process for each
language, URL prefix and set of the given values, then reused. Every page renders the frame's
menus; through the template engine their links and translated texts cost as much as a small page.

Only for markup that depends on nothing but the active language, the URLs and the values named in
the tag: never a user's data, a form, a CSRF token or the request. The rendered markup lives on
the template's node, so it goes when the template is loaded again (a changed template in
development) and is never shared between two templates.
"""
from django import template
from django.urls import get_script_prefix, get_urlconf
from django.utils.translation import get_language

register = template.Library()

# Per tag: enough for every language × a few values (a page name, a flag); more means the values
# vary per request, and the tag then forgets instead of growing.
MAX_VARIANTS = 64


class FixedNode(template.Node):
    def __init__(self, nodelist, values):
        self.nodelist = nodelist
        self.values = values
        self.rendered = {}

    def render(self, context):
        key = (
            get_language(), get_script_prefix(), get_urlconf(), context.autoescape,
            *(value.resolve(context) for value in self.values),
        )
        try:
            return self.rendered[key]
        except KeyError:
            pass
        html = self.nodelist.render(context)
        if len(self.rendered) >= MAX_VARIANTS:
            self.rendered.clear()
        self.rendered[key] = html
        return html


@register.tag
def fixed(parser, token):
    """`{% fixed %}…{% endfixed %}`, or `{% fixed nav user.is_staff %}` for markup that also
    depends on those values."""
    values = [parser.compile_filter(bit) for bit in token.split_contents()[1:]]
    nodelist = parser.parse(("endfixed",))
    parser.delete_first_token()
    return FixedNode(nodelist, values)
