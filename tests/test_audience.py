"""The audience board's store (explorer/audience.py): rooms, submissions, limits, access, bad files."""

import sqlite3
import threading

import numpy as np
import pytest

from explorer import audience
from explorer.audience import (
    AudienceError,
    AudienceStore,
    NotPresenter,
    RateLimited,
    RoomClosed,
    WrongRoom,
    normalize_room_code,
    show_room_code,
)


def digit(value: float = 0.5) -> np.ndarray:
    image = np.zeros((28, 28), np.float32)
    image[6:22, 12:16] = value
    return image


@pytest.fixture
def store(tmp_path) -> AudienceStore:
    return AudienceStore(tmp_path / "data" / audience.DB_NAME)


def test_a_room_takes_digits_and_keeps_only_the_digit_its_code_and_a_time(store):
    room, token = store.create_room("mnist-vae-2d")
    assert len(room.code) == audience.ROOM_CODE_LENGTH and room.model == "mnist-vae-2d" and len(token) >= 32
    first = store.submit(room.code, "phone-a", digit(0.5), np.float32([0.25, -1.5]), now=100.0)
    typed = show_room_code(room.code).lower()  # as someone types it from the screen
    second = store.submit(typed, "phone-b", digit(1.0), np.float32([2, 3]), now=100.0)
    assert second > first
    got = store.submissions(room.code)
    assert [s.id for s in got] == [first, second]
    np.testing.assert_allclose(got[0].image, digit(0.5), atol=0.5 / 255)
    np.testing.assert_array_equal(got[0].z, np.float32([0.25, -1.5]))
    assert got[0].created == 100.0 and got[0].image.dtype == np.float32 and got[0].image.shape == (28, 28)
    with sqlite3.connect(store.path) as db:  # nothing else about a submission is stored
        columns = [row[1] for row in db.execute("PRAGMA table_info(submissions)")]
        assert columns == ["id", "room", "created", "digit", "code", "hidden"]
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == audience.SCHEMA_VERSION
        assert token not in str(db.execute("SELECT * FROM rooms").fetchall())  # only its hash


def test_room_codes_are_unguessable_and_a_wrong_one_is_refused(store):
    codes = {store.create_room("m")[0].code for _ in range(50)}
    assert len(codes) == 50 and all(set(c) <= set(audience.ROOM_CODE_ALPHABET) for c in codes)
    for bad in ("", "ABC", "ABCDEFGHJK1", "0000000000", "<script>", "A" * 10_000):
        with pytest.raises(WrongRoom):
            store.submit(bad, "phone", digit(), np.zeros(2))
    with pytest.raises(WrongRoom, match="No board"):
        store.room("ABCD-EFGH-JK")
    assert normalize_room_code(" abcd efgh-jk ") == "ABCDEFGHJK"


def test_the_rate_limit_and_the_cap_say_why(store):
    room, _ = store.create_room("m", cap=8)
    store.submit(room.code, "phone-a", digit(), np.zeros(2), now=0.0)
    with pytest.raises(RateLimited, match="Try again in 2 s") as caught:
        store.submit(room.code, "phone-a", digit(), np.zeros(2), now=1.0)
    assert caught.value.retry_after == pytest.approx(2.0)
    store.submit(room.code, "phone-b", digit(), np.zeros(2), now=1.0)  # per client
    for t in (3.0, 6.0, 9.0, 12.0, 15.0):  # 6 in a minute at most
        store.submit(room.code, "phone-a", digit(), np.zeros(2), now=t)
    with pytest.raises(RateLimited, match="6 a minute"):
        store.submit(room.code, "phone-a", digit(), np.zeros(2), now=18.0)
    store.submit(room.code, "phone-c", digit(), np.zeros(2), now=18.0)  # the 8th
    with pytest.raises(RoomClosed, match="full"):
        store.submit(room.code, "phone-d", digit(), np.zeros(2), now=18.0)
    assert store.count(room.code) == 8


def test_malformed_digits_and_codes_are_refused(store):
    room, _ = store.create_room("m")
    for bad in (np.zeros((28, 27)), np.full((28, 28), np.nan), np.full((28, 28), 2.0), np.zeros((3, 28, 28))):
        with pytest.raises(AudienceError, match="28×28"):
            store.submit(room.code, "p", bad, np.zeros(2))
    for bad in (np.zeros(0), np.array([np.inf, 0]), np.array([1e9, 0]), np.zeros((2, 2))):
        with pytest.raises(AudienceError, match="latent code"):
            store.submit(room.code, "p", digit(), bad)
    assert store.count(room.code) == 0


def test_only_the_presenter_pauses_hides_spotlights_and_clears(store):
    room, token = store.create_room("m")
    other_room, other_token = store.create_room("m")
    ids = [store.submit(room.code, f"phone-{i}", digit(), np.float32([i, i])) for i in range(3)]
    for action in (lambda t: store.set_paused(room.code, t, True), lambda t: store.hide(room.code, t, ids[0]),
                   lambda t: store.spotlight(room.code, t, ids[1]), lambda t: store.clear(room.code, t)):
        for wrong in (None, "", other_token, token + "x"):
            with pytest.raises(NotPresenter):
                action(wrong)
    assert store.count(room.code) == 3 and not store.room(room.code).paused
    store.spotlight(room.code, token, ids[0])
    store.hide(room.code, token, ids[0])
    assert [s.id for s in store.submissions(room.code)] == ids[1:]
    assert store.room(room.code).spotlight is None  # a hidden digit leaves the spotlight
    assert [s.hidden for s in store.submissions(room.code, include_hidden=True)] == [True, False, False]
    store.spotlight(room.code, token, ids[2])
    assert store.room(room.code).spotlight == ids[2]
    store.set_paused(room.code, token, True)
    with pytest.raises(RoomClosed, match="paused"):
        store.submit(room.code, "phone-9", digit(), np.zeros(2))
    store.set_paused(room.code, token, False)
    assert store.clear(room.code, token) == 3 and store.submissions(room.code) == []
    assert store.room(room.code).spotlight is None
    store.submit(other_room.code, "phone-0", digit(), np.zeros(2))  # other rooms are untouched
    assert store.count(other_room.code) == 1


def test_concurrent_phones_lose_nothing_and_the_cap_holds(tmp_path):
    path = tmp_path / audience.DB_NAME
    room, _ = AudienceStore(path).create_room("m", cap=120)
    acknowledged, refused = [], []

    def phone(i: int) -> None:
        store = AudienceStore(path)  # its own store and connections, as another server process would
        for k in range(8):
            try:
                acknowledged.append(store.submit(room.code, f"phone-{i}", digit(), np.float32([i, k]),
                                                 now=1000.0 + 11 * k))
            except RoomClosed:
                refused.append(i)

    threads = [threading.Thread(target=phone, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = AudienceStore(path).submissions(room.code)
    assert len(acknowledged) == 120 and len(refused) == 40  # 160 tries, a cap of 120
    assert sorted(acknowledged) == [s.id for s in stored]


def test_a_file_that_is_not_a_board_database_is_kept_and_named(tmp_path):
    path = tmp_path / audience.DB_NAME
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(AudienceError, match="not an audience database"):
        AudienceStore(path)
    assert path.read_bytes() == b"not a database at all" * 100
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as db:
        db.execute("PRAGMA user_version = 7")
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(AudienceError, match="schema version 7"):
        AudienceStore(other)


def test_damaged_rows_are_skipped_not_shown(store):
    room, _ = store.create_room("m")
    good = store.submit(room.code, "p", digit(), np.zeros(2))
    with sqlite3.connect(store.path) as db:
        db.execute("INSERT INTO submissions (room, created, digit, code) VALUES (?, 0, ?, ?)",
                   (room.code, b"short", np.zeros(2, "<f4").tobytes()))
        db.execute("INSERT INTO submissions (room, created, digit, code) VALUES (?, 0, ?, ?)",
                   (room.code, bytes(784), b"abc"))
        db.execute("INSERT INTO submissions (room, created, digit, code) VALUES (?, 0, ?, ?)",
                   (room.code, bytes(784), np.array([np.nan, 0], "<f4").tobytes()))
    assert [s.id for s in store.submissions(room.code)] == [good]


def test_audience_mode_listens_on_the_network_only_when_asked_and_says_so(capsys):
    from explorer.__main__ import audience_args

    assert audience_args(["--server.port", "9000"]) == ["--server.port", "9000"]  # localhost (config.toml)
    assert capsys.readouterr().out == ""
    args = audience_args(["--server.port", "9000", "--audience"])
    assert args == ["--server.address", "0.0.0.0", "--server.port", "9000"]
    out = capsys.readouterr().out
    assert "every network interface" in out and ("/audience" in out or "no network address" in out)
    if audience.lan_address():
        assert f"http://{audience.lan_address()}:9000/audience" in out
    with pytest.raises(SystemExit, match="drop --server.address"):
        audience_args(["--audience", "--server.address", "127.0.0.1"])
