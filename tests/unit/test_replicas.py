"""The chaos run's last check: each table partition a clean stop left on disk holds exactly
what its changelog says up to the offset it stored (orderstream/local/replicas.py)."""

from orderstream.local.replicas import OFFSET_KEY, compare, partitions

CHANGELOG = [(0, b"p1", b"prepared"), (1, b"p2", b"prepared"), (2, b"p1", b"succeeded"),
             (3, b"p2", None), (4, b"p3", b"prepared"), (5, b"p1", b"refunded")]


def test_a_partition_that_applied_the_changelog_matches_it_up_to_its_offset():
    held = {OFFSET_KEY: b"4", b"p1": b"succeeded", b"p3": b"prepared"}
    assert compare(held, CHANGELOG) == (4, 2, [])


def test_rows_missing_behind_or_beside_the_changelog_are_named():
    # the standby of README bug 11: its first records never applied, its offset moved on
    held = {OFFSET_KEY: b"4", b"p3": b"prepared", b"p2": b"prepared"}
    assert compare(held, CHANGELOG) == (4, 2, ["p1 missing", "p2 extra"])
    # README bug 8: a row on disk that its changelog never got
    assert compare({OFFSET_KEY: b"2", b"p1": b"refunded", b"p2": b"prepared"}, CHANGELOG)[2] == ["p1 differs"]


def test_only_datadirs_a_clean_stop_left_are_read(tmp_path):
    for replica, clean in (("data-payment-0", True), ("data-payment-1", False)):
        tables = tmp_path / replica / "payment" / "v1" / "tables"
        for name in ("payments-0.db", "payments-3.db"):
            (tables / name).mkdir(parents=True)
        if clean:
            (tmp_path / replica / "payment" / "stopped-cleanly").touch()
    found = [(r, c, t, p) for r, c, t, p, _ in partitions(tmp_path)]
    assert found == [("data-payment-0", "payment", "payments", 0),
                     ("data-payment-0", "payment", "payments", 3)]
