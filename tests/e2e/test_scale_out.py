"""The scaled stack under faults: two relays, three workers, two statistics consumers.

The local runner starts SCALED (tests/e2e/conftest.py). While several users write a burst of
posts, likes and follows, the relay holding the lock, the worker whose event consumer is active
and the active statistics consumer are each SIGKILLed, and the broker is "restarted": RabbitMQ
closes every connection of the stack's virtual host (`rabbitmqctl close_all_connections -p`), which
is what every client sees of a broker restart, without stopping the RabbitMQ server other test
runs share. The standbys take over (the relay blocked on the advisory lock, the consumers by the
queues' single-active-consumer switch) and the feeds, statistics and e-mails must come out exact:
nothing lost, nothing doubled.

E-mail is at most once by design (a worker killed between claiming and sending one e-mail loses
it), so before the worker is killed the test waits until every e-mail asked for so far is sent:
the killed worker holds no e-mail it could lose, and every e-mail asked for afterwards must
arrive exactly once, planned by the event consumer that took over.
"""

from __future__ import annotations

import secrets
import threading
from collections import Counter

import pytest

from tests.e2e import test_scenario as scenario
from tests.e2e.conftest import Stack
from tests.e2e.test_scenario import (
    PASSWORD,
    Client,
    emails_to,
    eventually,
    mentions,
    register,
    wait_for_figures,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

PROJECTIONS_QUEUE, STATS_QUEUE = "projections.events", "stats.events"  # the defaults, in the stack's vhost
FANS = 4


def user(stack: Stack, name: str, *, email: str = "instant") -> Client:
    client = Client(stack, register(stack, name), PASSWORD)
    if email != "instant":
        client.expect("PATCH", "/api/v1/users/me/notifications", 200, json={"email": email})
    return client


class Burst(scenario.Burst):
    """Two authors post in turn; two users like every other post; now and then a fan follows.
    Paced (at most one post per PACE_SECONDS), so the posts stay below what a feed keeps
    (FEED_MAX_ENTRIES) however fast the machine answers while the faults take their time."""

    PACE_SECONDS = 0.1

    def __init__(self, authors: list[tuple[Client, int]], likers: list[Client], fans: list[Client]) -> None:
        threading.Thread.__init__(self, daemon=True)
        self.authors, self.likers, self.fans = authors, likers, list(fans)
        self.posts: dict[int, list[int]] = {page: [] for _, page in authors}
        self.post_ids: list[int] = []  # all of them, in order
        self.likes_of: Counter[int] = Counter()
        self.followers: Counter[int] = Counter()
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def step(self) -> None:
        count = len(self.post_ids)
        author, page = self.authors[count % len(self.authors)]
        post = author.post(page, f"burst-{count}")["id"]
        self.posts[page].append(post)
        self.post_ids.append(post)
        if count % 2:
            liker = self.likers[count // 2 % len(self.likers)]
            liker.expect("POST", f"/api/v1/posts/{post}/like/", 200)
            self.likes_of[page] += 1
        if count % 8 == 3 and self.fans:
            self.fans.pop().expect("POST", f"/api/v1/pages/{page}/follow/", 200)
            self.followers[page] += 1
        self.stop.wait(self.PACE_SECONDS)  # a rate limit, not a wait for a condition


def test_one_of_each_killed_and_the_broker_restarted_lose_nothing_and_double_nothing(
    scaled_stack: Stack,
) -> None:
    stack, tag = scaled_stack, secrets.token_hex(3)
    assert [stack.instances(s) for s in ("relay", "worker", "stats-consumer")] == [
        ["relay-1", "relay-2"],
        ["worker-1", "worker-2", "worker-3"],
        ["stats-consumer-1", "stats-consumer-2"],
    ]
    alice, erin = user(stack, f"alice{tag}", email="off"), user(stack, f"erin{tag}", email="off")
    carol, frank = user(stack, f"carol{tag}", email="off"), user(stack, f"frank{tag}", email="off")
    readers = [user(stack, f"{name}{tag}") for name in ("bob", "dave")]  # an e-mail per post
    fans = [user(stack, f"fan{i}{tag}", email="off") for i in range(FANS)]
    burst_page, erin_page = alice.page(f"burst-{tag}")["id"], erin.page(f"erin-{tag}")["id"]
    mail_page = alice.page(f"letters-{tag}")["id"]
    for page in (burst_page, erin_page):
        carol.expect("POST", f"/api/v1/pages/{page}/follow/", 200)
    for reader in readers:
        reader.expect("POST", f"/api/v1/pages/{mail_page}/follow/", 200)
    mail_posts: dict[int, str] = {}  # post id -> its marker

    def mail(phase: str, count: int = 3) -> None:
        for i in range(count):
            marker = f"mail-{tag}-{phase}-{i}:"
            mail_posts[alice.post(mail_page, marker)["id"]] = marker

    def all_mail_sent() -> None:
        def sent() -> bool:
            return all(len(emails_to(stack, r.me["email"])) >= len(mail_posts) for r in readers)

        eventually(sent, "every e-mail asked for so far")

    burst = Burst([(alice, burst_page), (erin, erin_page)], [carol, frank], fans)
    burst.start()
    try:
        burst.wait_for_more(10, "the burst to get going")
        mail("before")
        relay = stack.publishing_relay()
        assert relay is not None
        stack.kill(relay)
        mail("relay-killed")
        burst.wait_for_more(10, "writes while the standby relay takes over")
        assert eventually(stack.publishing_relay, "the standby relay to take the lock") != relay

        all_mail_sent()  # the worker about to die holds no e-mail it could lose
        worker = eventually(lambda: stack.active_consumer("worker", PROJECTIONS_QUEUE), "the event consumer")
        stack.kill(worker)
        mail("worker-killed")
        burst.wait_for_more(10, "writes while another worker's event consumer takes over")

        consumer = eventually(
            lambda: stack.active_consumer("stats-consumer", STATS_QUEUE), "the stats consumer"
        )
        stack.kill(consumer)
        burst.wait_for_more(10, "writes while the standby statistics consumer takes over")

        stack.close_broker_connections()
        mail("broker-restarted")
        burst.wait_for_more(10, "writes after the broker came back")
    finally:
        burst.stop.set()
        burst.join(timeout=60)
    assert burst.error is None and not burst.is_alive()
    assert (
        eventually(lambda: stack.active_consumer("worker", PROJECTIONS_QUEUE), "a new event consumer")
        != worker
    )
    assert eventually(lambda: stack.active_consumer("stats-consumer", STATS_QUEUE), "a new one") != consumer
    assert [len(stack.instances(s)) for s in ("relay", "worker", "stats-consumer")] == [1, 2, 1]

    # Consumers apply events in log order: once the sentinels show, everything before has.
    sentinels = {page: author.post(page, f"sentinel-{tag}")["id"] for author, page in burst.authors}
    mail("sentinel", count=1)
    carol_feed = eventually(
        lambda: (ids := carol.feed_ids()) and set(sentinels.values()) <= set(ids) and ids, "carol's feed"
    )
    written = [*burst.posts[burst_page], *burst.posts[erin_page], *sentinels.values()]
    assert len(written) < 800, "a feed keeps FEED_MAX_ENTRIES posts: keep the burst below"
    assert Counter(carol_feed) == Counter(written), "carol's feed is not exact"
    last_mail = max(mail_posts)
    for reader in readers:
        feed = eventually(lambda r=reader: (ids := r.feed_ids()) and last_mail in ids and ids, "a feed")
        assert Counter(feed) == Counter(list(mail_posts))

    for author, page in burst.authors:
        expected = {
            "posts": len(burst.posts[page]) + 1,
            "followers": 1 + burst.followers[page],
            "follow_requests": 0,
            "likes": burst.likes_of[page],
            "replies": 0,
        }
        wait_for_figures(author, page, expected)
    wait_for_figures(
        alice,
        mail_page,
        {"posts": len(mail_posts), "followers": 2, "follow_requests": 0, "likes": 0, "replies": 0},
    )

    all_mail_sent()
    for reader in readers:
        texts = emails_to(stack, reader.me["email"])
        assert [mentions(texts, marker) for marker in mail_posts.values()] == [1] * len(mail_posts)
        assert len(texts) == len(mail_posts), "an e-mail too many"
    for silent in (carol, frank, *fans):
        assert emails_to(stack, silent.me["email"]) == []
