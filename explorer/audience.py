"""The audience board's shared state: rooms, and the digits people in the room send from their phones.

One SQLite database (``audience.sqlite3`` in ``state_dir()``, a git-ignored folder) in WAL mode, so
the presenter's page reads while phones write; ``PRAGMA user_version`` is the schema version. Each
call opens its own short connection, so any thread or process may call it. A submission keeps only
the preprocessed 28x28 digit (uint8), its latent code and a timestamp: never the original photo,
never who sent it. The per-client rate limit lives in memory (``AudienceStore`` is one per server).

Access: a room code (``ROOM_CODE_LENGTH`` characters of ``ROOM_CODE_ALPHABET``, about 50 bits,
drawn with ``secrets``) is needed to submit; the presenter's controls need the presenter's token,
which only its SHA-256 reaches the database. This module does not import streamlit.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
DB_NAME = "audience.sqlite3"
ROOM_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed on phones
ROOM_CODE_LENGTH = 10  # 32^10 ≈ 1.1e15 codes
DEFAULT_CAP = 300  # submissions per room: a large lecture hall, and still a readable map
MIN_GAP_S = 3.0  # per client: at least this long between two submissions…
PER_MINUTE = 6  # …and at most this many in any 60 s
MAX_LATENT_ABS = 1e3  # a code beyond this is not a code of ours
_SCHEMA = """
CREATE TABLE rooms (
    code TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL,
    model TEXT NOT NULL,
    created REAL NOT NULL,
    cap INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    spotlight INTEGER
);
CREATE TABLE submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL REFERENCES rooms(code) ON DELETE CASCADE,
    created REAL NOT NULL,
    digit BLOB NOT NULL,
    code BLOB NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX submissions_by_room ON submissions(room, id);
"""


class AudienceError(ValueError):
    """A request the board refuses; the message says why, for the person who made it."""


class WrongRoom(AudienceError):
    """No board has this room code."""


class RoomClosed(AudienceError):
    """The board is paused, or full."""


class RateLimited(AudienceError):
    """This client sent too much, too fast. ``retry_after``: seconds to wait."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message)
        self.retry_after = retry_after


class NotPresenter(AudienceError):
    """A presenter's control without the presenter's token."""


def state_dir() -> Path:
    """Where the explorer keeps what it writes at run time (the audience board's database, live
    runs' frames and logs): ``$LATENT_EXPLORER_STATE`` or the repository's git-ignored ``local/``
    folder. (``$LATENT_EXPLORER_DATA`` is the trainer's data root: another thing.)"""
    configured = os.environ.get("LATENT_EXPLORER_STATE")
    return Path(configured) if configured else Path(__file__).resolve().parent.parent / "local"


def lan_address() -> str | None:
    """This machine's address on the local network (the one a phone in the room would use), or
    None if it has none. Sends nothing: a UDP socket only picks the outgoing interface."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def normalize_room_code(text: str) -> str:
    """A room code as typed (any case, spaces or dashes between groups) in its stored form;
    raises WrongRoom if it cannot be one."""
    code = "".join(ch for ch in str(text).upper() if ch not in " -")
    if len(code) != ROOM_CODE_LENGTH or any(ch not in ROOM_CODE_ALPHABET for ch in code):
        raise WrongRoom("That is not a room code: check it on the screen (10 letters and digits).")
    return code


def show_room_code(code: str) -> str:
    """A room code in groups, as the presenter's screen shows it: ``ABCD-EFGH-JK``."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


@dataclass(frozen=True)
class Room:
    """A board: ``code``; ``model``, the checkpoint name whose latent space it shows; ``created``
    (seconds since the epoch); ``cap``, the most submissions it takes; ``paused``; ``spotlight``,
    the id of the submission shown large, or None."""

    code: str
    model: str
    created: float
    cap: int
    paused: bool
    spotlight: int | None


@dataclass(frozen=True)
class Submission:
    """One digit from the room: ``id`` (increasing), ``created`` (seconds since the epoch),
    ``image`` float32 [28, 28] in [0, 1] (ink bright, as MNIST), ``z`` float32 [d] its latent code,
    ``hidden`` (by the presenter)."""

    id: int
    created: float
    image: np.ndarray
    z: np.ndarray
    hidden: bool


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AudienceStore:
    """The boards in the database at ``path`` (created, with its folder, if missing).

    Raises AudienceError if the file is not a board database this version can read (an unknown
    schema version or not SQLite); sqlite3.Error for a disk that fails.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._recent: dict[tuple[str, str], deque[float]] = {}
        try:
            with self._connect() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version == 0 and not db.execute("SELECT 1 FROM sqlite_master").fetchone():
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
                elif version != SCHEMA_VERSION:
                    raise AudienceError(f"{self.path} holds audience data of schema version {version}; this "
                                        f"version of latent-explorer reads version {SCHEMA_VERSION}. Move "
                                        "the file away (it is kept as it is) to start afresh.")
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
                raise
            raise AudienceError(f"{self.path} is not an audience database ({e}). Move it away (it is "
                                "kept as it is) to start afresh.") from e

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            yield db
        finally:
            db.close()

    # --- the presenter -------------------------------------------------------------------------

    def create_room(self, model: str, cap: int = DEFAULT_CAP) -> tuple[Room, str]:
        """A new board showing checkpoint ``model``, taking at most ``cap`` submissions; returns
        (room, the presenter's token). Keep the token in the presenter's session only."""
        if not 1 <= cap <= 10_000:
            raise AudienceError(f"a room takes 1 to 10,000 submissions, not {cap}")
        token = secrets.token_urlsafe(24)
        with self._connect() as db:
            while True:
                code = "".join(secrets.choice(ROOM_CODE_ALPHABET) for _ in range(ROOM_CODE_LENGTH))
                try:
                    db.execute("INSERT INTO rooms (code, token_sha256, model, created, cap) "
                               "VALUES (?, ?, ?, ?, ?)", (code, _token_hash(token), model, time.time(), cap))
                    break
                except sqlite3.IntegrityError:  # that code exists (about never): draw another
                    continue
        return self.room(code), token

    def _check_presenter(self, db: sqlite3.Connection, code: str, token: str | None) -> None:
        row = db.execute("SELECT token_sha256 FROM rooms WHERE code = ?", (code,)).fetchone()
        if row is None:
            raise WrongRoom("This board no longer exists.")
        if not token or not hmac.compare_digest(row[0], _token_hash(token)):
            raise NotPresenter("Only the presenter's session can do that.")

    def set_paused(self, code: str, token: str | None, paused: bool) -> None:
        """Stop (or resume) taking submissions. Raises NotPresenter, WrongRoom."""
        with self._connect() as db:
            self._check_presenter(db, code, token)
            db.execute("UPDATE rooms SET paused = ? WHERE code = ?", (int(paused), code))

    def hide(self, code: str, token: str | None, submission: int, hidden: bool = True) -> None:
        """Hide (or show again) one submission on the board. Raises NotPresenter, WrongRoom."""
        with self._connect() as db:
            self._check_presenter(db, code, token)
            db.execute("UPDATE submissions SET hidden = ? WHERE room = ? AND id = ?",
                       (int(hidden), code, int(submission)))
            if hidden:
                db.execute("UPDATE rooms SET spotlight = NULL WHERE code = ? AND spotlight = ?",
                           (code, int(submission)))

    def spotlight(self, code: str, token: str | None, submission: int | None) -> None:
        """Show one submission large (None: none). Raises NotPresenter, WrongRoom."""
        with self._connect() as db:
            self._check_presenter(db, code, token)
            db.execute("UPDATE rooms SET spotlight = ? WHERE code = ?",
                       (None if submission is None else int(submission), code))

    def clear(self, code: str, token: str | None) -> int:
        """Delete every submission of the room (the room stays); returns how many. Raises
        NotPresenter, WrongRoom."""
        with self._connect() as db:
            self._check_presenter(db, code, token)
            db.execute("BEGIN IMMEDIATE")
            n = db.execute("DELETE FROM submissions WHERE room = ?", (code,)).rowcount
            db.execute("UPDATE rooms SET spotlight = NULL WHERE code = ?", (code,))
            db.execute("COMMIT")
        with self._lock:
            for key in [k for k in self._recent if k[0] == code]:
                del self._recent[key]
        return n

    # --- everyone ------------------------------------------------------------------------------

    def room(self, code: str) -> Room:
        """The board with room code ``code`` (as typed: see ``normalize_room_code``). Raises WrongRoom."""
        code = normalize_room_code(code)
        with self._connect() as db:
            row = db.execute("SELECT code, model, created, cap, paused, spotlight FROM rooms WHERE code = ?",
                             (code,)).fetchone()
        if row is None:
            raise WrongRoom("No board has this room code: check it on the screen.")
        return Room(row[0], row[1], row[2], row[3], bool(row[4]), row[5])

    def submit(self, code: str, client: str, image: np.ndarray, z: np.ndarray,
               now: float | None = None) -> int:
        """Add a digit to the board; returns its id (its number on the screen).

        image: float [28, 28] in [0, 1] (preprocessed like MNIST); z: float [d], its latent code in
        the room's model; client: who sends it (kept in memory for the rate limit only).
        Raises WrongRoom, RoomClosed (paused or full), RateLimited, AudienceError (a malformed digit
        or code).
        """
        now = time.time() if now is None else now
        image = np.asarray(image, dtype=np.float32)
        z = np.asarray(z, dtype=np.float32)
        if image.shape != (28, 28) or not np.all(np.isfinite(image)) or image.min() < 0 or image.max() > 1:
            raise AudienceError("That is not a 28×28 digit with values in [0, 1].")
        if z.ndim != 1 or not 1 <= z.size <= 512 or not np.all(np.isfinite(z)) \
                or np.abs(z).max() > MAX_LATENT_ABS:
            raise AudienceError("That is not a latent code.")
        room = self.room(code)
        if room.paused:
            raise RoomClosed("The presenter has paused the board: try again in a moment.")
        self._take_rate(room.code, client, now)
        digit = np.round(image * 255).astype(np.uint8).tobytes()
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # the count and the insert together: the cap holds
            (count,) = db.execute("SELECT COUNT(*) FROM submissions WHERE room = ?", (room.code,)).fetchone()
            if count >= room.cap:
                db.execute("ROLLBACK")
                raise RoomClosed(f"The board is full ({room.cap} digits): thank you!")
            cursor = db.execute("INSERT INTO submissions (room, created, digit, code) VALUES (?, ?, ?, ?)",
                                (room.code, now, digit, z.astype("<f4").tobytes()))
            db.execute("COMMIT")
            return int(cursor.lastrowid)

    def _take_rate(self, code: str, client: str, now: float) -> None:
        with self._lock:
            recent = self._recent.setdefault((code, client), deque())
            while recent and now - recent[0] > 60:
                recent.popleft()
            wait = 0.0
            if recent:
                wait = max(wait, MIN_GAP_S - (now - recent[-1]))
            if len(recent) >= PER_MINUTE:
                wait = max(wait, 60 - (now - recent[0]))
            if wait > 0:
                raise RateLimited(f"Slow down: one digit every {MIN_GAP_S:g} s and {PER_MINUTE} a minute at "
                                  f"most. Try again in {wait:.0f} s.", retry_after=wait)
            recent.append(now)

    def submissions(self, code: str, include_hidden: bool = False) -> list[Submission]:
        """The room's submissions, oldest first (hidden ones only with ``include_hidden``). Rows that
        do not hold a valid digit and code are skipped. Raises WrongRoom."""
        room = self.room(code)
        query = "SELECT id, created, digit, code, hidden FROM submissions WHERE room = ?"
        if not include_hidden:
            query += " AND hidden = 0"
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY id", (room.code,)).fetchall()
        out = []
        for id_, created, digit, z, hidden in rows:
            if not isinstance(digit, bytes) or len(digit) != 28 * 28 or not isinstance(z, bytes) \
                    or not z or len(z) % 4:
                continue
            code_ = np.frombuffer(z, dtype="<f4").astype(np.float32)
            if not np.all(np.isfinite(code_)):
                continue
            image = np.frombuffer(digit, dtype=np.uint8).reshape(28, 28).astype(np.float32) / 255
            out.append(Submission(int(id_), float(created), image, code_, bool(hidden)))
        return out

    def count(self, code: str) -> int:
        """How many submissions the room holds, hidden ones included. Raises WrongRoom."""
        room = self.room(code)
        with self._connect() as db:
            query = "SELECT COUNT(*) FROM submissions WHERE room = ?"
            return int(db.execute(query, (room.code,)).fetchone()[0])
