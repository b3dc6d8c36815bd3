"""runtime.cache.Recent, the once-a-second views the runtime and PutEvents keep of campaigns, filters and trackers:
requests naming ever new (unknown) ARNs used to grow it without bound (each kept its None for ever)."""

from __future__ import annotations

from openpersonalize.runtime.cache import Recent


def test_a_key_is_read_once_within_its_ttl_and_again_after_discard() -> None:
    reads: list[str] = []
    views: Recent[str] = Recent(ttl=3600)
    for _ in range(3):
        assert views.get("campaign", lambda: reads.append("read") or "view") == "view"
    assert reads == ["read"]
    views.discard("campaign")
    views.get("campaign", lambda: reads.append("read") or "view")
    assert reads == ["read", "read"]


def test_unknown_keys_never_grow_it_past_its_capacity() -> None:
    views: Recent[None] = Recent(ttl=3600, capacity=100)
    for n in range(10_000):
        views.get(f"arn:aws:personalize:r:1:campaign/unknown-{n}", lambda: None)
    assert len(views) == 100
    reads: list[int] = []
    views.get("arn:aws:personalize:r:1:campaign/unknown-9999", lambda: reads.append(1))
    assert reads == []  # the newest keys stay


def test_a_failed_read_is_not_kept() -> None:
    views: Recent[str] = Recent(ttl=3600)

    def refuse() -> str:
        raise LookupError("no such tracker")

    for _ in range(2):
        try:
            views.get("t", refuse)
        except LookupError:
            pass
    assert views.get("t", lambda: "tracker") == "tracker"
