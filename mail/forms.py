from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Mailbox


class MailboxForm(forms.ModelForm):
    """A mailbox's settings. The password field is always empty: a stored secret is never shown again."""

    secret = forms.CharField(
        label=_("Password, app password or access token"), required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Stored encrypted and never shown again. Leave empty to keep the stored one."),
    )

    field_order = ["email_address", "username", "auth_method", "secret"]

    class Meta:
        model = Mailbox
        fields = [
            "email_address", "username", "auth_method", "imap_host", "imap_port", "imap_security", "smtp_host",
            "smtp_port", "smtp_security", "sent_folder", "sync_days", "share_by_default", "is_active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["sync_days"].widget.attrs["max"] = 365
        if self.instance.pk is None:
            self.fields["secret"].required = True
            self.fields["secret"].help_text = _("Stored encrypted and never shown again.")

    def clean_sync_days(self):
        days = self.cleaned_data["sync_days"]
        if not 1 <= days <= 365:
            raise forms.ValidationError(_("Between 1 and 365 days."))
        return days


class ThreadPrivacyForm(forms.Form):
    private = forms.BooleanField(required=False)


class ComposeForm(forms.Form):
    """An e-mail to one of the addresses of a deal's people (or of a person). Subject and text may
    hold merge fields, filled in by the preview and when sending."""

    to = forms.ChoiceField(label=_("To"))
    subject = forms.CharField(label=_("Subject"), max_length=500)
    body = forms.CharField(label=_("Text"), widget=forms.Textarea(attrs={"rows": 12}), max_length=50_000)

    def __init__(self, *args, addresses: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to"].choices = addresses
