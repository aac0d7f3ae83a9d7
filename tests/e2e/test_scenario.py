"""One scenario over HTTP only, against the whole stack started by the local runner.

Users register and log in, create public and private pages, follow and request, accept, post,
reply and like; feeds, search, statistics and e-mails follow; staff block a page and a user and
the audit shows it. Then the Celery worker and the statistics consumer are SIGKILLed in the
middle of a burst of writes and restarted, and feeds, statistics and e-mails must come out
complete and exact: nothing lost, nothing doubled.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
import pytest

from tests.e2e.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

PASSWORD = "E2e-user-pass-2024"
DEADLINE = 45.0
T = TypeVar("T")


def eventually(probe: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


class Client:
    """One logged-in user of the core API."""

    def __init__(self, stack: Stack, email: str, password: str) -> None:
        self.stack = stack
        self.http = httpx.Client(base_url=stack.api, timeout=15)
        tokens = self.expect("POST", "/api/v1/auth/login", 200, json={"email": email, "password": password})
        self.token = tokens["access"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        self.me = self.expect("GET", "/api/v1/users/me", 200)

    def expect(self, method: str, path: str, status: int, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None

    def all_pages(self, path: str) -> list[dict[str, Any]]:
        """Follow `next` until null; every item once."""
        items: list[dict[str, Any]] = []
        url: str | None = f"{path}{'&' if '?' in path else '?'}limit=100"
        while url:
            body = self.expect("GET", url, 200)
            items.extend(body["results"])
            url = body["next"]
        return items

    def feed_ids(self) -> list[int]:
        return [post["id"] for post in self.all_pages("/api/v1/feed/")]

    def post(self, page_id: int, content: str, reply_to: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"page": page_id, "content": content}
        if reply_to is not None:
            body["reply_to"] = reply_to
        return self.expect("POST", "/api/v1/posts/", 201, json=body)

    def page(self, handle: str, *, private: bool = False, tags: list[str] | None = None) -> dict[str, Any]:
        body = {
            "name": handle.replace("-", " ").title(),
            "uuid": handle,
            "is_private": private,
            "tags": tags or [],
        }
        return self.expect("POST", "/api/v1/pages/", 201, json=body)


def register(stack: Stack, username: str) -> str:
    email = f"{username}@e2e.innotter.test"
    body = {"username": username, "email": email, "password": PASSWORD, "first_name": username.title()}
    response = httpx.post(f"{stack.api}/api/v1/auth/register", json=body, timeout=15)
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "user"
    return email


def sent_emails(stack: Stack) -> list[dict[str, Any]]:
    """Every message moto's SES has accepted (its internal model dump)."""
    data = httpx.get(f"{stack.aws}/moto-api/data.json", timeout=15).json()
    ses = data.get("ses", {})
    return [*ses.get("Message", []), *ses.get("RawMessage", [])]


def emails_to(stack: Stack, address: str) -> list[str]:
    """The text (subject and body) of every e-mail sent to `address`."""
    found = []
    for message in sent_emails(stack):
        recipients = message.get("destinations", {}).get("ToAddresses", []) or message.get("destinations", [])
        if address in recipients:
            found.append(
                f"{message.get('subject', '')}\n{message.get('body', '')}{message.get('raw_data', '')}"
            )
    return found


def mentions(texts: list[str], marker: str) -> int:
    return sum(marker in text for text in texts)


def stats_via_core(client: Client, page_id: int) -> dict[str, Any]:
    return client.expect("GET", f"/api/v1/pages/{page_id}/stats/", 200)


def figures(stats: dict[str, Any]) -> dict[str, int]:
    return {k: stats[k] for k in ("posts", "followers", "follow_requests", "likes", "replies")}


def wait_for_figures(client: Client, page_id: int, expected: dict[str, int]) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        response = client.http.get(f"/api/v1/pages/{page_id}/stats/")
        if response.status_code == 200 and figures(response.json()) == expected:
            return response.json()
        return None

    return eventually(probe, f"statistics of page {page_id} to become {expected}")


@pytest.fixture(scope="module")
def world(stack: Stack) -> dict[str, Any]:
    """Users, pages and follows every step below builds on."""
    tag = secrets.token_hex(3)
    names = {role: f"{role}{tag}" for role in ("alice", "bob", "carol", "dave", "eve")}
    emails = {role: register(stack, name) for role, name in names.items()}
    users = {role: Client(stack, email, PASSWORD) for role, email in emails.items()}
    alice = users["alice"]
    pages = {
        "p1": alice.page(f"kitchen-{tag}", tags=["e2e", "food"]),
        "p2": alice.page(f"burst-{tag}", tags=["e2e"]),
        "priv": alice.page(f"diary-{tag}", private=True, tags=["e2e"]),
        "bob": users["bob"].page(f"bob-{tag}"),
        "dave": users["dave"].page(f"dave-{tag}"),
        "eve": users["eve"].page(f"eve-{tag}"),
    }
    return {"tag": tag, "emails": emails, "users": users, "pages": pages}


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Client:
    client = Client(stack, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert client.me["role"] == "admin"
    return client


def test_follow_request_accept_post_reply_like(stack: Stack, world: dict[str, Any]) -> None:
    users, pages, tag = world["users"], world["pages"], world["tag"]
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    p1, p2, priv = pages["p1"]["id"], pages["p2"]["id"], pages["priv"]["id"]

    assert bob.expect("POST", f"/api/v1/pages/{p1}/follow/", 200) == {"status": "following"}
    assert carol.expect("POST", f"/api/v1/pages/{p2}/follow/", 200) == {"status": "following"}
    assert bob.expect("POST", f"/api/v1/pages/{pages['dave']['id']}/follow/", 200) == {"status": "following"}
    assert bob.expect("POST", f"/api/v1/pages/{priv}/follow/", 200) == {"status": "requested"}
    requests = alice.all_pages(f"/api/v1/pages/{priv}/follow-requests/")
    assert [r["user"]["id"] for r in requests] == [bob.me["id"]]
    accepted = alice.expect(
        "POST", f"/api/v1/pages/{priv}/follow-requests/accept/", 200, json={"user_ids": [bob.me["id"]]}
    )
    assert accepted == {"accepted": 1}
    # carol reads the burst page without e-mail: only bob's e-mails are counted below.
    carol.expect("PATCH", "/api/v1/users/me", 200, json={"email_notifications": False})

    post1 = alice.post(p1, f"first-{tag}: fresh bread today")
    secret = alice.post(priv, f"secret-{tag}: followers only")
    dave_post = users["dave"].post(pages["dave"]["id"], f"dave-{tag}: hello")
    reply = bob.post(pages["bob"]["id"], f"reply-{tag}: looks great", reply_to=post1["id"])
    assert reply["reply_to"] == post1["id"]
    assert carol.expect("POST", f"/api/v1/posts/{post1['id']}/like/", 200)["liked"] is True
    bob.expect("POST", f"/api/v1/posts/{post1['id']}/like/", 200)
    assert bob.expect("POST", f"/api/v1/posts/{post1['id']}/like/", 200)["likes_count"] == 2
    assert alice.expect("GET", f"/api/v1/posts/{post1['id']}/", 200)["replies_count"] == 1
    assert carol.expect("GET", f"/api/v1/posts/{secret['id']}/", 404)

    wanted = {post1["id"], secret["id"], dave_post["id"]}
    eventually(lambda: wanted <= set(bob.feed_ids()), "bob's feed to show the new posts")
    world.update(post1=post1, secret=secret, dave_post=dave_post)


def test_search_finds_pages_and_users(world: dict[str, Any]) -> None:
    bob, tag = world["users"]["bob"], world["tag"]
    found = bob.expect("GET", "/api/v1/search/", 200, params={"q": f"KITCHEN-{tag}"})
    assert [p["id"] for p in found["pages"]] == [world["pages"]["p1"]["id"]]
    found = bob.expect("GET", "/api/v1/search/", 200, params={"q": f"carol{tag}"})
    assert [u["id"] for u in found["users"]] == [world["users"]["carol"].me["id"]]
    assert "email" not in found["users"][0] or found["users"][0]["email"] is None
    # a private page's metadata is searchable by anyone (so people can ask to follow it)
    carol = world["users"]["carol"]
    found = carol.expect("GET", "/api/v1/search/", 200, params={"q": f"diary-{tag}"})
    assert [p["id"] for p in found["pages"]] == [world["pages"]["priv"]["id"]]


def test_staff_block_a_page_and_a_user_and_the_audit_shows_it(
    stack: Stack, world: dict[str, Any], admin: Client
) -> None:
    users, pages = world["users"], world["pages"]
    bob, eve, dave_page = users["bob"], users["eve"], pages["dave"]["id"]
    until = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    blocked = admin.expect(
        "POST", f"/api/v1/pages/{dave_page}/block/", 200, json={"until": until, "reason": "spam"}
    )
    assert blocked["is_blocked"] is True
    bob.expect("GET", f"/api/v1/pages/{dave_page}/", 404)
    assert world["dave_post"]["id"] not in bob.feed_ids()

    admin.expect("POST", f"/api/v1/users/{eve.me['id']}/block", 200, json={"reason": "abuse"})
    assert eve.http.get("/api/v1/users/me").status_code in (401, 403)
    login = httpx.post(
        f"{stack.api}/api/v1/auth/login",
        json={"email": world["emails"]["eve"], "password": PASSWORD},
        timeout=15,
    )
    assert login.status_code == 403 and login.json()["error"]["code"] == "user_blocked"
    assert bob.expect("GET", "/api/v1/search/", 200, params={"q": f"eve{world['tag']}"})["users"] == []
    # the blocked user's page disappears with them; the blocked page too
    assert bob.expect("GET", "/api/v1/search/", 200, params={"q": f"eve-{world['tag']}"})["pages"] == []
    assert bob.expect("GET", "/api/v1/search/", 200, params={"q": f"dave-{world['tag']}"})["pages"] == []
    assert admin.expect("GET", "/api/v1/search/", 200, params={"q": f"dave-{world['tag']}"})["pages"]

    audit = admin.all_pages("/api/v1/audit/")
    kinds = {(e["type"], e["target_type"], str(e["target_id"])) for e in audit}
    assert ("page.blocked", "page", str(dave_page)) in kinds
    assert ("user.blocked", "user", str(eve.me["id"])) in kinds
    assert ("user.role_changed", "user", str(admin.me["id"])) in kinds
    page_history = admin.all_pages(f"/api/v1/audit/?target_type=page&target_id={dave_page}")
    assert [(e["type"], e["actor"]["id"]) for e in page_history] == [("page.blocked", admin.me["id"])]
    bob.expect("GET", "/api/v1/audit/", 403)


def test_owner_statistics_in_the_core_and_the_stats_service(stack: Stack, world: dict[str, Any]) -> None:
    users, pages = world["users"], world["pages"]
    alice, bob = users["alice"], users["bob"]
    p1, priv = pages["p1"]["id"], pages["priv"]["id"]

    expected = {"posts": 1, "followers": 1, "follow_requests": 0, "likes": 2, "replies": 1}
    via_core = wait_for_figures(alice, p1, expected)
    wait_for_figures(
        alice, priv, {"posts": 1, "followers": 1, "follow_requests": 0, "likes": 0, "replies": 0}
    )

    direct = httpx.get(f"{stack.stats}/stats/pages/{p1}", headers={"Authorization": f"Bearer {alice.token}"})
    assert direct.status_code == 200 and figures(direct.json()) == figures(via_core)
    assert direct.json()["page_id"] == p1
    other = httpx.get(f"{stack.stats}/stats/pages/{p1}", headers={"Authorization": f"Bearer {bob.token}"})
    assert other.status_code == 403
    assert httpx.get(f"{stack.stats}/stats/pages/{p1}").status_code == 401
    bob.expect("GET", f"/api/v1/pages/{p1}/stats/", 403)


def test_new_post_emails_reach_followers_once(stack: Stack, world: dict[str, Any]) -> None:
    bob_email, carol_email, tag = world["emails"]["bob"], world["emails"]["carol"], world["tag"]
    texts = eventually(
        lambda: (
            (t := emails_to(stack, bob_email))
            and mentions(t, f"secret-{tag}")
            and mentions(t, f"first-{tag}")
            and t
        ),
        "bob's e-mails about both new posts",
    )
    assert mentions(texts, f"first-{tag}") == 1
    assert mentions(texts, f"secret-{tag}") == 1
    assert emails_to(stack, carol_email) == []


class Burst(threading.Thread):
    """alice posts on the burst page and carol likes every other post, until told to stop."""

    def __init__(self, alice: Client, carol: Client, page_id: int, tag: str) -> None:
        super().__init__(daemon=True)
        self.alice, self.carol, self.page_id, self.tag = alice, carol, page_id, tag
        self.post_ids: list[int] = []
        self.likes = 0
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                self.step()
        except BaseException as exc:
            self.error = exc

    def step(self) -> None:
        post = self.alice.post(self.page_id, f"burst-{self.tag}-{len(self.post_ids)}")
        self.post_ids.append(post["id"])
        if len(self.post_ids) % 2:
            self.carol.expect("POST", f"/api/v1/posts/{post['id']}/like/", 200)
            self.likes += 1

    def wait_for_more(self, count: int, what: str) -> None:
        target = len(self.post_ids) + count
        eventually(lambda: len(self.post_ids) >= target or self.error or not self.is_alive(), what)
        assert self.error is None and self.is_alive(), f"the burst broke off: {self.error!r}"


def test_killed_worker_and_consumer_lose_nothing_and_double_nothing(
    stack: Stack, world: dict[str, Any]
) -> None:
    users, pages, tag = world["users"], world["pages"], world["tag"]
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    p1, p2 = pages["p1"]["id"], pages["p2"]["id"]
    old_pids = {name: stack.pid(name) for name in ("worker", "stats-consumer")}
    burst = Burst(alice, carol, p2, tag=tag)
    burst.start()
    try:
        burst.wait_for_more(20, "the burst to get going")
        stack.kill("worker")
        stack.kill("stats-consumer")
        assert not stack.is_running("worker") and not stack.is_running("stats-consumer")
        # E-mail is at most once by design (a worker dying between claiming and sending one
        # e-mail loses it rather than risking a second copy), so the e-mail-triggering posts are
        # written while the worker is down: all must be delivered once it is back, and only once.
        mail_posts = [alice.post(p1, f"mail-{tag}-{i}: while the worker is down")["id"] for i in range(5)]
        burst.wait_for_more(15, "writes while the worker and the consumer are down")
        stack.restart("worker")
        stack.restart("stats-consumer")
        burst.wait_for_more(15, "writes after the restart")
    finally:
        burst.stop.set()
        burst.join(timeout=60)
    assert burst.error is None and not burst.is_alive()
    assert {name: stack.pid(name) for name in old_pids} != old_pids

    # Consumers apply events in log order, so once the sentinels show, everything before has.
    sentinel_p2 = alice.post(p2, f"sentinel-{tag}")["id"]
    sentinel_p1 = alice.post(p1, f"sentinel1-{tag}")["id"]
    carol_feed = eventually(lambda: (ids := carol.feed_ids()) and sentinel_p2 in ids and ids, "carol's feed")
    # A feed keeps the newest FEED_MAX_ENTRIES posts (a fast burst writes more than that).
    kept = sorted([*burst.post_ids, sentinel_p2], reverse=True)[: int(stack.env.get("FEED_MAX_ENTRIES", 800))]
    assert Counter(carol_feed) == Counter(kept), "carol's feed is not exact"
    bob_feed = eventually(lambda: (ids := bob.feed_ids()) and sentinel_p1 in ids and ids, "bob's feed")
    assert max(Counter(bob_feed).values()) == 1
    assert set(mail_posts) <= set(bob_feed)

    expected = {
        "posts": len(burst.post_ids) + 1,
        "followers": 1,
        "follow_requests": 0,
        "likes": burst.likes,
        "replies": 0,
    }
    wait_for_figures(alice, p2, expected)
    texts = eventually(
        lambda: (t := emails_to(stack, world["emails"]["bob"])) and mentions(t, f"sentinel1-{tag}") and t,
        "bob's e-mail about the last post",
    )
    assert [mentions(texts, f"mail-{tag}-{i}:") for i in range(5)] == [1] * 5
    assert mentions(texts, f"first-{tag}") == 1 and mentions(texts, f"sentinel1-{tag}") == 1
    # first, secret and dave's post from before; five while the worker was down; the sentinel
    assert mentions(texts, f"dave-{tag}") == 1
    assert len(texts) == 3 + 5 + 1, "bob got an e-mail too many"
    assert emails_to(stack, world["emails"]["carol"]) == []
    # The statistics still hold once the stream has settled past the sentinels.
    assert figures(stats_via_core(alice, p2)) == expected
