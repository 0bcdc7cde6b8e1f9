"""Audience board: people in the room draw a digit on their phones and it lands on the presenter's
latent map, live.

The presenter starts a board here: a room code and a QR code for the phone page (this page with
``?room=CODE``). Phones draw (or photograph) a digit and send it; it is preprocessed like an upload
(``explorer.preprocess.to_mnist``), encoded by the board's model, and stored (explorer/audience.py:
the 28x28 digit, its code and a timestamp only). The presenter's map polls the database every
``POLL_S`` seconds; clicking a digit there shows it with its reconstruction, to hide it or put it in
the spotlight. Phones reach this server only when it listens on the network: `python -m explorer
--audience`.
"""

from __future__ import annotations

import io
import secrets
import sqlite3

import numpy as np
import streamlit as st

from explorer import audience, catalogue, geometry, inference, latent_plane, resources, state, ui
from explorer.preprocess import UploadError, to_mnist
from explorer.views import draw

NEED = catalogue.NEEDS["audience"]  # what this page needs of the picked model
ROOM = state.Param("room", "audience-room", state.parse_text)  # checked by the store, not the URL parser
PARAMS = (ROOM,)
BOARD = state.Key("audience-board")  # (room code, presenter token): the board this session presents
PICKED = state.Key("audience-picked")  # the id of the submission the presenter clicked
CLIENT = state.Key("audience-client")  # a random id of this phone's session, for the rate limit
ROUND = state.Key("audience-round")  # bumped after each submission: a fresh canvas and uploader
SENT = state.Key("audience-sent")  # the id of this phone's last submission
CANVAS = state.Key("audience-canvas")  # the phone's drawing canvas (a new one each round)
UPLOAD = state.Key("audience-upload")  # the phone's uploader (a new one each round)
REFUSED = state.Key("audience-refused")  # why the presenter's last control was refused, to show once
NOTES = state.Key("audience-notes")  # what preprocessing said of it (e.g. several digits)
POLL_S = 1.0  # the presenter's map looks for new digits this often
VOTES = 5  # a digit's predicted class: the vote of its 5 nearest test digits in latent space


def render() -> None:
    try:
        store = resources.audience_store()
    except (audience.AudienceError, OSError, sqlite3.Error) as e:
        st.error(f"The audience board cannot open its database: {e}", icon=":material/error:")
        return
    code = ROOM.get()
    board = BOARD.get()
    if code and not (board and board[0] == code):
        phone(store, code)
    else:
        presenter(store, board)


# --- the phone page -------------------------------------------------------------------------------

def phone(store: audience.AudienceStore, code: str) -> None:
    """The page people in the room open from the QR code: draw (or photograph) a digit, send it."""
    try:
        room = store.room(code)
    except audience.WrongRoom as e:
        st.error(f"{e}", icon=":material/key_off:")
        return
    m = ui.load_or_report(resources.explorer_model, catalogue.CHECKPOINT_DIR / room.model)
    if m is None:
        return
    CLIENT.default(secrets.token_hex(8))
    ROUND.default(0)
    n = ROUND.get()
    st.markdown("**Draw one digit** (0–9) with your finger, as large as the box, then send it to the screen.")
    drawing = draw.canvas_png(key=round_key(CANVAS, n))
    upload = st.file_uploader("…or a photo of a digit on paper", type=["png", "jpg", "jpeg"],
                              key=round_key(UPLOAD, n))
    if st.button("Send to the screen", type="primary", icon=":material/send:", use_container_width=True):
        data = upload.getvalue() if upload is not None else drawing
        if data is None:
            st.warning("Draw a digit first (or pick a photo).")
        elif send(store, room, m, data):
            ROUND.set(n + 1)
            st.rerun()
    sent = SENT.get()
    if sent is not None:
        st.success(f"Sent! Your digit is **#{sent}** on the screen. Draw another one if you like.",
                   icon=":material/check_circle:")
        for note in NOTES.get([]):
            st.info(note, icon=":material/info:")


def round_key(key: state.Key, n: int) -> str:
    """The key of ``key``'s widget in round ``n`` (a fresh, empty widget after each submission)."""
    return f"{key.key}-{n}"


def send(store: audience.AudienceStore, room: audience.Room, m: inference.ExplorerModel, data: bytes) -> bool:
    """Preprocess, encode and submit ``data`` (PNG or JPEG bytes); says why on the page if it cannot.
    Returns whether it was stored."""
    try:
        result = to_mnist(data)
    except UploadError as e:
        st.error(f"That does not work as a digit: {e}", icon=":material/warning:")
        return False
    NOTES.set(list(result.notes))  # e.g. several digits: the largest is sent (shown after the rerun)
    x = result.image
    z = inference.encode(m.model, x[None])[0]
    try:
        SENT.set(store.submit(room.code, CLIENT.get(), x, z))
    except audience.AudienceError as e:
        st.error(str(e), icon=":material/hourglass_top:" if isinstance(e, audience.RateLimited) else
                 ":material/block:")
        return False
    return True


# --- the presenter ---------------------------------------------------------------------------------

def presenter(store: audience.AudienceStore, board: tuple[str, str] | None) -> None:
    m = ui.selected_model(NEED)
    if m is None:
        return
    if board is None:
        st.markdown("Let the room draw: people open a page on their phones (a QR code), draw a digit, and it "
                    f"lands on the {m.label}'s latent map here, live, with a count per predicted class. You "
                    "can pause, hide one, clear all, and put one in the spotlight. Phones reach this laptop "
                    "only when the explorer listens on the network: `python -m explorer --audience`.")
        st.button("Start an audience board", type="primary", icon=":material/groups:",
                  on_click=start_board, args=(store, m.name))
        return
    code, token = board
    try:
        room = store.room(code)
    except audience.WrongRoom:
        BOARD.clear()
        st.warning("This board no longer exists: start a new one.")
        return
    shown = m if room.model == m.name else ui.load_or_report(resources.explorer_model,
                                                             catalogue.CHECKPOINT_DIR / room.model)
    if shown is None:
        return
    join, reachable = join_url(room.code)
    qr_col, text_col, controls_col = st.columns([2, 3, 2])
    qr_col.image(qr_png(join), caption="Scan to join", width=220)
    with text_col:
        st.markdown(f"### Room code `{audience.show_room_code(room.code)}`")
        st.markdown(f"Join at **{join}**")
        if not reachable:
            st.warning("This server listens on this computer only, so phones cannot open that address. "
                       "Restart it with `python -m explorer --audience` to let the room in.",
                       icon=":material/wifi_off:")
        if room.model != m.name:
            st.caption(f"The board shows {room.model}, the model it was started with.")
    with controls_col:
        control("Resume" if room.paused else "Pause", store.set_paused, code, token, not room.paused,
                icon=":material/play_arrow:" if room.paused else ":material/pause:")
        with st.popover("Clear all", icon=":material/delete_sweep:"):
            st.markdown("Delete every digit of this board?")
            control("Delete them", store.clear, code, token, icon=":material/delete_forever:")
        st.button("End the board", icon=":material/logout:", on_click=end_board,
                  help="Forget this board in this session (its digits stay in the database until cleared).")
    live_board(store, code, token, shown)


def start_board(store: audience.AudienceStore, model: str) -> None:
    room, token = store.create_room(model)
    BOARD.set((room.code, token))
    ROOM.set(room.code)
    PICKED.clear()


def end_board() -> None:
    BOARD.clear()
    ROOM.set(None)
    PICKED.clear()


def control(label: str, action, code: str, token: str, *args, icon: str | None = None) -> None:
    """A presenter's button that calls ``action(code, token, *args)``, showing a refusal as an error."""
    def run() -> None:
        try:
            action(code, token, *args)
        except audience.AudienceError as e:
            REFUSED.set(str(e))

    st.button(label, icon=icon, on_click=run, key=f"audience-{label}")
    refused = REFUSED.get()
    REFUSED.clear()
    if refused:
        st.error(refused)


def join_url(code: str) -> tuple[str, bool]:
    """(the phone page's URL for room ``code``, whether phones on the network can reach it): the
    machine's network address when the server listens on every interface, else localhost."""
    address = st.get_option("server.address")
    port = st.get_option("server.port")
    everywhere = address in (None, "", "0.0.0.0", "::")
    host = audience.lan_address() if everywhere else None
    return f"http://{host or 'localhost'}:{port}/audience?room={code}", host is not None


@st.cache_data(max_entries=16, show_spinner=False)
def qr_png(url: str) -> bytes:
    """A QR code of ``url`` as PNG bytes (segno; error correction M)."""
    import segno  # noqa: PLC0415 - only the presenter's page needs it

    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


def predicted_classes(m: inference.ExplorerModel, submissions: list[audience.Submission]) -> list[int]:
    """Each submission's class by the vote of its ``VOTES`` nearest test digits in latent space."""
    labels = resources.test_set(m.dataset)[1]
    return [int(np.bincount(labels[geometry.nearest_test_indices(m.codes, s.z, VOTES)]).argmax())
            for s in submissions]


@st.fragment(run_every=POLL_S)
def live_board(store: audience.AudienceStore, code: str, token: str, m: inference.ExplorerModel) -> None:
    """The room's digits on the model's live plane, refreshed every ``POLL_S`` s (only this fragment)."""
    try:
        room = store.room(code)
        submissions = [s for s in store.submissions(code) if s.z.shape == (m.model.latent_dim,)]
    except audience.WrongRoom:
        st.warning("This board no longer exists.")
        return
    classes = predicted_classes(m, submissions)
    counts = np.bincount(np.asarray(classes, dtype=np.int64), minlength=len(m.class_names))
    status = " (paused)" if room.paused else ""
    n = len(submissions)
    st.markdown(f"**{n} digit{'' if n == 1 else 's'} from the room{status}** · by predicted class: "
                + " · ".join(f"{m.class_names[c]}: {counts[c]}" for c in range(len(m.class_names))))
    by_id = {s.id: (s, c) for s, c in zip(submissions, classes, strict=True)}
    if room.spotlight in by_id:
        spotlight(m, *by_id[room.spotlight])

    def pick(z: np.ndarray) -> None:
        if submissions:
            distances = [float(np.sum((s.z - z) ** 2)) for s in submissions]
            PICKED.set(submissions[int(np.argmin(distances))].id)

    picked = by_id.get(PICKED.get())
    latent_plane.plane("audience-plane", m, [latent_plane.Decoder(str(m.folder), f"{m.label} · {m.name}")],
                       z=None if picked is None else picked[0].z, on_commit=pick,
                       marks=[(f"#{s.id}", s.z) for s in submissions],
                       hint="Each ring is a digit from the room; click one to see it.")
    if picked is not None:
        chosen(m, *picked, code, token, room.spotlight == picked[0].id)


def spotlight(m: inference.ExplorerModel, s: audience.Submission, predicted: int) -> None:
    left, right, text = st.columns([2, 2, 3])
    ui.image(s.image, caption=f"#{s.id} from the room", scale=10, target=left)
    recon, nll = inference.reconstruct(m.model, s.image[None])
    ui.image(recon[0], caption=f"the {m.label}'s reconstruction: {nll[0]:.1f} nats", scale=10, target=right)
    text.markdown(f"### In the spotlight: #{s.id}\nThe {m.label} places it among the "
                  f"**{m.class_names[predicted]}**s, at z = ({s.z[0]:.2f}, {s.z[1]:.2f}).")


def chosen(m: inference.ExplorerModel, s: audience.Submission, predicted: int, code: str, token: str,
           in_spotlight: bool) -> None:
    """The clicked digit, its reconstruction, and the presenter's buttons for it."""
    left, right, buttons = st.columns([1, 1, 2])
    ui.image(s.image, caption=f"#{s.id}: among the {m.class_names[predicted]}s", scale=ui.ROW_SCALE,
             target=left)
    recon, nll = inference.reconstruct(m.model, s.image[None])
    ui.image(recon[0], caption=f"reconstruction: {nll[0]:.1f} nats", scale=ui.ROW_SCALE, target=right)
    with buttons:
        if in_spotlight:
            control("Leave the spotlight", lambda c, t: resources.audience_store().spotlight(c, t, None),
                    code, token, icon=":material/highlight_off:")
        else:
            control("Spotlight", lambda c, t: resources.audience_store().spotlight(c, t, s.id), code, token,
                    icon=":material/highlight:")
        control("Hide", lambda c, t: resources.audience_store().hide(c, t, s.id), code, token,
                icon=":material/visibility_off:")


if __name__ == "__main__":  # run as a page by st.navigation
    render()
