"""factory_boy factories for the core's models (tests only)."""

from __future__ import annotations

import factory
from django.utils import timezone

from core_app.pages.models import Follow, FollowStatus, Page, Tag
from core_app.posts.models import Like, Post
from core_app.users.models import Role, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = Role.USER
    password = factory.django.Password("Sup3r-secret-pass")


class ModeratorFactory(UserFactory):
    role = Role.MODERATOR


class AdminFactory(UserFactory):
    role = Role.ADMIN
    is_staff = True
    is_superuser = True


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


class PageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Page
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"Page {n}")
    uuid = factory.Sequence(lambda n: f"page-{n}")
    description = "A page."
    is_private = False

    @factory.post_generation
    def tags(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        if create and extracted:
            self.tags.set([TagFactory(name=name) for name in extracted])


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Follow

    page = factory.SubFactory(PageFactory)
    follower = factory.SubFactory(UserFactory)
    status = FollowStatus.ACCEPTED
    accepted_at = factory.LazyFunction(timezone.now)


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Post

    page = factory.SubFactory(PageFactory)
    content = factory.Faker("sentence")


class LikeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Like

    user = factory.SubFactory(UserFactory)
    post = factory.SubFactory(PostFactory)
