"""The preference event: a strict contract that the feed, the statistics and the audit pass over."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from events.contracts import UserNotificationsChanged
from projections.feed.handlers import apply_feed_event
from projections.feed.work import InlineFeedWork
from projections.tests.conftest import envelope_of
from stats_ms.fold import effects_of

CHANGED = UserNotificationsChanged(user_id=3, email="daily", hour=7, weekday="monday", via="api")


def test_the_statistics_fold_ignores_it() -> None:
    assert effects_of(envelope_of(CHANGED)) == {}


@pytest.mark.django_db
def test_the_feed_projection_ignores_it() -> None:
    assert apply_feed_event(envelope_of(CHANGED), CHANGED, InlineFeedWork()) is False


def test_it_is_not_a_moderation_event_and_refuses_wrong_values() -> None:
    assert not CHANGED.is_moderation()
    with pytest.raises(ValidationError):
        UserNotificationsChanged(user_id=3, email="hourly", hour=7, weekday="monday", via="api")
