from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from localization.fields import AmountField

from .models import PACKAGE_DESCRIPTION_MAX_LENGTH, OfferPackage, OfferVersion, PriceList, Product, Unit, VersionStatus


class OfferFilterForm(forms.Form):
    """The offers list's filter (query parameters): offers with a version in this status."""

    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("All statuses")), *VersionStatus.choices],
        widget=forms.Select(attrs={"class": "form-select form-select-sm"}),
    )


class OfferCreateForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200, required=False)
    price_list = forms.ModelChoiceField(
        label=_("Price list"), queryset=PriceList.objects.filter(is_active=True), required=False,
        empty_label=_("List prices"),
    )


class VersionTextsForm(forms.ModelForm):
    class Meta:
        model = OfferVersion
        fields = ["language", "valid_until", "situation", "benefit", "terms"]
        widgets = {
            "language": forms.Select(attrs={"class": "form-select"}),
            "valid_until": forms.DateInput(attrs={"type": "date", "class": "form-control"}, format="%Y-%m-%d"),
            "situation": forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
            "benefit": forms.Textarea(attrs={"rows": 3, "class": "form-control"}),
            "terms": forms.Textarea(attrs={"rows": 2, "class": "form-control"}),
        }


class PackageForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    description = forms.CharField(label=_("Description"), required=False, max_length=PACKAGE_DESCRIPTION_MAX_LENGTH,
                                  widget=forms.Textarea(attrs={"rows": 2}))
    is_recommended = forms.BooleanField(label=_("Recommended"), required=False)


class LineForm(forms.Form):
    product = forms.ModelChoiceField(label=_("Product"), queryset=Product.objects.none(), required=False,
                                     empty_label=_("— free text —"))
    description = forms.CharField(label=_("Description"), max_length=300, required=False)
    quantity = forms.DecimalField(label=_("Quantity"), min_value=0, max_digits=12, decimal_places=3, initial=1)
    unit = forms.ChoiceField(label=_("Unit"), choices=[("", _("product's unit"))] + list(Unit.choices), required=False)
    unit_price = AmountField(label=_("Unit price"), min_value=0, max_digits=12, decimal_places=2, required=False,
                             help_text=_("Empty: the product's price."))
    discount_percent = forms.DecimalField(label=_("Discount (%)"), min_value=0, max_value=100, max_digits=5,
                                          decimal_places=2, initial=0, required=False)
    tax_rate = forms.DecimalField(label=_("Tax (%)"), min_value=0, max_value=100, max_digits=5, decimal_places=2,
                                  required=False, help_text=_("Empty: the product's rate."))
    package = forms.ModelChoiceField(label=_("Package"), queryset=OfferPackage.objects.none(), required=False,
                                     empty_label=_("every package"))

    def __init__(self, *args, version: OfferVersion, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = Product.objects.filter(is_active=True).order_by("name")
        self.fields["package"].queryset = version.packages.all()
        if not version.packages.exists():
            del self.fields["package"]

    def clean(self):
        data = super().clean()
        if not data.get("product") and not (data.get("description") or "").strip():
            raise forms.ValidationError(_("Choose a product or write a description."))
        if not data.get("product") and data.get("unit_price") is None:
            raise forms.ValidationError(_("A line without a product needs a price."))
        return data


class LineUpdateForm(forms.Form):
    quantity = forms.DecimalField(min_value=0, max_digits=12, decimal_places=3)
    unit_price = AmountField(min_value=0, max_digits=12, decimal_places=2)  # "1.234,50" or "1,234.50"
    discount_percent = forms.DecimalField(min_value=0, max_value=100, max_digits=5, decimal_places=2)
    tax_rate = forms.DecimalField(min_value=0, max_value=100, max_digits=5, decimal_places=2)


class AcceptForm(forms.Form):
    name = forms.CharField(label=_("Your full name"), max_length=200)
    package = forms.IntegerField(required=False)
    document_hash = forms.CharField(max_length=64)
    confirm = forms.BooleanField(label=_("I accept this offer and its terms."))


class DeclineForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=200, required=False)
    reason = forms.CharField(label=_("Why do you decline?"), max_length=2000, widget=forms.Textarea(attrs={"rows": 3}))


LANGUAGE_CHOICES = settings.LANGUAGES
