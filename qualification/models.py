"""The ideal customer profile: weighted criteria a lead is scored against (0–100)."""
import re

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext, gettext_lazy as _

from pipeline.models import CompanySize, LeadSource


class Attribute(models.TextChoices):
    INDUSTRY = "industry", _("Industry")
    COMPANY_SIZE = "company_size", _("Company size")
    COUNTRY = "country", _("Country")
    SOURCE = "source", _("Source")
    HAS_WEBSITE = "has_website", _("Has a website")
    HAS_CONTACT = "has_contact", _("Has a contact person with e-mail or phone")


# Attributes that are a yes/no property of the lead: their criterion takes no values.
FLAG_ATTRIBUTES = {Attribute.HAS_WEBSITE, Attribute.HAS_CONTACT}
CHOICE_ATTRIBUTES = {Attribute.COMPANY_SIZE: CompanySize, Attribute.SOURCE: LeadSource}


def split_values(text: str) -> list[str]:
    return [v.strip() for v in re.split(r"[,;\n]", text or "") if v.strip()]


class Profile(models.Model):
    """The ideal customer profile. One profile is active at a time; leads are scored against it."""

    name = models.CharField(_("name"), max_length=100, default=_("Ideal customer profile"))
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Leads are scored against the active profile. Only one can be active.")
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-is_active", "name", "pk"]
        verbose_name = _("ideal customer profile")
        verbose_name_plural = _("ideal customer profiles")
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="qualification_one_active_profile"
            )
        ]

    def __str__(self):
        return self.name


class Criterion(models.Model):
    """One weighted criterion: the lead matches when its attribute is one of `values`."""

    profile = models.ForeignKey(Profile, verbose_name=_("profile"), on_delete=models.CASCADE, related_name="criteria")
    attribute = models.CharField(_("attribute"), max_length=20, choices=Attribute.choices)
    values = models.TextField(
        _("values"),
        blank=True,
        help_text=_(
            "Comma-separated. Industries as written on leads (case does not matter); company sizes as "
            "1-10, 11-50, 51-200, 201-1000, 1000+; countries as two-letter codes (DE, AT); sources as "
            "referral, event, social, inbound, webinar, case_study, ebook, cold, other. Empty for yes/no attributes."
        ),
    )
    weight = models.PositiveSmallIntegerField(
        _("weight"), default=10, validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("How much a match counts relative to the other criteria."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        ordering = ["profile", "position", "pk"]
        verbose_name = _("criterion")
        verbose_name_plural = _("criteria")

    def __str__(self):
        return self.label

    def clean(self):
        values = split_values(self.values)
        if self.attribute in FLAG_ATTRIBUTES:
            self.values = ""
            return
        if not values:
            raise ValidationError({"values": _("Name at least one value to match.")})
        choices = CHOICE_ATTRIBUTES.get(self.attribute)
        if choices is not None:
            by_text = {str(c).casefold(): c for c in choices.values}
            by_text.update({str(label).casefold(): value for value, label in choices.choices})
            unknown = [v for v in values if v.casefold() not in by_text]
            if unknown:
                raise ValidationError(
                    {"values": _("Unknown values: %(values)s. Use: %(allowed)s.")
                     % {"values": ", ".join(unknown), "allowed": ", ".join(choices.values)}}
                )
            values = [by_text[v.casefold()] for v in values]
        elif self.attribute == Attribute.COUNTRY:
            bad = [v for v in values if not re.fullmatch(r"[A-Za-z]{2}", v)]
            if bad:
                raise ValidationError({"values": _("Use two-letter country codes such as DE: %(values)s")
                                                 % {"values": ", ".join(bad)}})
            values = [v.upper() for v in values]
        self.values = ", ".join(dict.fromkeys(values))

    @property
    def value_list(self) -> list[str]:
        return split_values(self.values)

    @property
    def label(self) -> str:
        return criterion_label(self.attribute, self.value_list)


def criterion_label(attribute: str, values: list[str]) -> str:
    """“Industry is Software or SaaS”, in the language of the request that shows it."""
    name = Attribute(attribute).label if attribute in Attribute.values else attribute
    if attribute in FLAG_ATTRIBUTES:
        return str(name)
    return gettext("%(attribute)s is %(values)s") % {
        "attribute": name, "values": gettext(" or ").join(values) if values else "—",
    }
