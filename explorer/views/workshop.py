"""Train live: a teacher picks a kind (AE, VAE, β-VAE), β and the epochs, presses Start, and the
room watches the 2-D latent space form, frame by frame, while it trains in a background process
(explorer/workshop.py). The finished model is a checkpoint like the shipped ones, on every page."""

from __future__ import annotations

import time

import streamlit as st

from explorer import player, resources, state, testdata, ui, workshop
from train import CheckpointError

PARAMS = ()
POLL_S = 1.0  # the live view looks for new frames this often
SEEN = state.Key("workshop-finished")  # the finished run this session has already listed
KIND = state.Key("workshop-kind")  # the form's choices
BETA = state.Key("workshop-beta")
EPOCHS = state.Key("workshop-epochs")


def render() -> None:
    ws = resources.live_workshop()
    run = ws.current
    if run is not None and run.state() == "running":
        st.markdown(f"**{run.name}** is training in the background ({run.settings.kind}, "
                    f"{run.settings.epochs} epochs{beta_text(run.settings)}). Every session sees this run; "
                    "one run at a time.")
        st.button("Cancel the run", icon=":material/stop_circle:", on_click=ws.cancel)
        live(ws)
        return
    if run is not None:
        finished(run)
    form(ws)


def beta_text(settings: workshop.Settings) -> str:
    return f", β = {settings.beta:g}" if settings.kind == "β-VAE" else ""


def form(ws: workshop.Workshop) -> None:
    st.markdown("Train a model with a 2-D latent on MNIST, here and now, and watch its latent space form: "
                "the codes of 2,000 test digits at 40 moments of training, from the untrained network on. "
                "It trains in a background process on one core (about 15 s an epoch on a laptop CPU); "
                "the finished model is saved like the shipped ones and appears in the sidebar.")
    kind_col, beta_col, epochs_col = st.columns(3)
    kind = kind_col.radio("Kind", list(workshop.KINDS), horizontal=True, key=KIND.key)
    beta = beta_col.slider("β (β-VAE)", *workshop.BETAS, value=4.0, step=0.1, disabled=kind != "β-VAE",
                           key=BETA.key)
    epochs = epochs_col.slider("Epochs", 1, workshop.MAX_EPOCHS, value=5, key=EPOCHS.key)
    if st.button("Start", type="primary", icon=":material/play_arrow:"):
        try:
            ws.start(workshop.Settings(kind, int(epochs), float(beta)))
        except (workshop.WorkshopError, OSError) as e:
            st.error(str(e), icon=":material/block:")
            return
        st.rerun()


def finished(run: workshop.Run) -> None:
    outcome = run.state()
    if outcome == "done":
        if SEEN.get() != run.name:
            resources.refresh_checkpoints()  # listed at once, not within a minute
            SEEN.set(run.name)
        st.success(f"**{run.name}** is trained and saved: it is in the sidebar's model list, on every page.",
                   icon=":material/check_circle:")
        st.button(f"Use {run.name}", key=f"use-{run.name}", on_click=ui.select_model, args=(run.name,))
    elif outcome == "cancelled":
        st.info(f"{run.name} was cancelled; nothing of it was saved.", icon=":material/info:")
    else:
        st.error(f"{run.name} stopped with an error; nothing of it was saved. Its last lines:\n\n"
                 f"```\n{run.log_tail()}\n```", icon=":material/error:")


@st.fragment(run_every=POLL_S)
def live(ws: workshop.Workshop) -> None:
    """The run's frames so far, re-read every ``POLL_S`` s (only this fragment reruns)."""
    run = ws.current
    if run is None or run.state() != "running":
        st.rerun(scope="app")
    from train.frames import read_frames  # noqa: PLC0415 - torch is loaded by then anyway

    elapsed = time.time() - run.started
    try:
        frames = read_frames(run.live)
    except CheckpointError:
        st.markdown(f"Starting ({elapsed:.0f} s): loading torch and MNIST, then the first frame, the "
                    "untrained network.")
        return
    from explorer import timelapse  # noqa: PLC0415

    epoch = float(frames.epoch[-1]) if frames.epoch is not None else float("nan")
    st.markdown(f"Frame {len(frames.step)} of {workshop.FRAMES} · step {int(frames.step[-1]):,} · epoch "
                f"{epoch:.2f} of {run.settings.epochs} · {elapsed:.0f} s")
    panel = timelapse.panel(run.name, f"{run.settings.kind}: {run.name}", frames)
    player.player("workshop-player", [panel], list(testdata.class_names("mnist")), start="end")


if __name__ == "__main__":  # run as a page by st.navigation
    render()
