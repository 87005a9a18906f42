"""pipeline.people: putting people on deals in roles, changing the role, taking them off (each
locks the contact row; on PostgreSQL that lock must not join the nullable role)."""
import pytest

from accounts.models import ConfigChange
from pipeline.models import ContactRole, DealContact
from pipeline.people import deal_contact_add, deal_contact_remove, person_create

pytestmark = pytest.mark.django_db


def test_a_person_is_added_given_another_role_and_removed_with_history(deal, rep):
    person = person_create(actor=rep, name="Anna", organization=deal.organization)
    champion, buyer = (ContactRole.objects.get_or_create(name=name)[0] for name in ("Champion", "Economic buyer"))
    deal_contact_add(deal=deal, person=person, actor=rep, role=champion)
    deal_contact_add(deal=deal, person=person, actor=rep, role=buyer)
    assert DealContact.objects.get(deal=deal, person=person).role == buyer
    assert deal_contact_remove(deal=deal, person=person, actor=rep) is True
    assert deal_contact_remove(deal=deal, person=person, actor=rep) is False
    rows = ConfigChange.objects.filter(object_id=str(deal.pk), content_type__model="deal").order_by("pk")
    key = f"contact {person.pk} Anna"
    assert [row.changes[key] for row in rows] == [[None, "Champion"], ["Champion", "Economic buyer"], ["Economic buyer", None]]
