"""factory_boy factories shared by every test module. Apps add theirs below the bank section."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    """A user with one role: ``UserFactory(role="qa")``. Password is ``PASSWORD``."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@bank.example")

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or PASSWORD)
        if create:
            obj.save(update_fields=["password"])

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        """``role="qa"`` (one) or ``role=["qa", "technician"]`` (several)."""
        if not create or not extracted:
            return
        names = [extracted] if isinstance(extracted, str) else list(extracted)
        obj.groups.set(Group.objects.filter(name__in=names))
        if "admin" in names:
            obj.is_staff = True
            obj.save(update_fields=["is_staff"])
