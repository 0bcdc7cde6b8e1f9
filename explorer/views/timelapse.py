"""Training time-lapse: watch a latent space form, from the untrained network to the final one, for
the picked checkpoint and a second one side by side (the VAE and the AE by default), played in the
browser from the frames the trainer recorded (``frames.safetensors``). Exports as GIF and MP4."""

from __future__ import annotations

import streamlit as st

from explorer import catalogue, player, resources, state, testdata, ui

NEED = catalogue.NEEDS["timelapse"]  # what this page needs of the picked model (frames: checked here)
COMPARE = state.Param("compare", "tl-compare", state.parse_text)
PARAMS = (COMPARE,)
MADE = state.Key("tl-made")  # the folders whose GIF and MP4 this session has made


def render() -> None:
    info = ui.require(NEED)
    if info is None:
        return
    recorded = [i for i in resources.checkpoints()
                if i.model_config is not None and resources.has_frames(i.folder)]
    if not resources.has_frames(info.folder):
        st.info(f"`{info.name}` has no recorded frames. The trainer records them with `--frames N` (on by "
                "default for latent sizes up to 2); these checkpoints have them:", icon=":material/movie:")
        for other in recorded:
            st.button(f"Use {other.name}", key=f"use-{other.name}", on_click=ui.select_model,
                      args=(other.name,))
        return
    options = ["none", *catalogue.partners(recorded, info.name, lambda c: True)]
    if COMPARE.get() not in options:
        COMPARE.set(options[1] if len(options) > 1 else "none")
    st.markdown("Every frame is the network as it was after that many optimisation steps, from the "
                "untrained network (step 0) to the final one: the codes of 2,000 test inputs (posterior "
                "means for the VAE family), the losses, the decoded manifold. Nothing is interpolated. The "
                "runs play in sync by step; the scrubber is logarithmic in steps, since most of the change "
                "happens early.")
    other = st.selectbox("Side by side with", options, key=COMPARE.key)
    wanted = [str(info.folder)] + ([str(catalogue.CHECKPOINT_DIR / other)] if other != "none" else [])
    loaded = [(f, ui.load_or_report(resources.timelapse_panel, f)) for f in wanted]
    folders = tuple(f for f, p in loaded if p is not None)
    panels = [p for _, p in loaded if p is not None]
    if not panels:
        return
    names = list(testdata.class_names(info.dataset)) if info.dataset in ("mnist", "fashion-mnist") else \
        [str(c) for c in range(10)]
    if not player.player("timelapse-player", panels, names):
        reason = player.FAILED.get() or "this Streamlit has no Components v2"
        st.info(f"The time-lapse player could not start in this browser ({reason}); the exports below "
                "still work.", icon=":material/info:")
    exports(folders)


def exports(folders: tuple[str, ...]) -> None:
    """GIF and MP4 of the side-by-side time-lapse, made on request (a few seconds) and kept."""
    made = MADE.get() == folders
    if not made:
        if st.button("Make a GIF and an MP4 of this time-lapse", icon=":material/movie:"):
            with st.spinner("Drawing the frames and encoding them…"):
                try:
                    resources.timelapse_export(folders, "gif")
                    resources.timelapse_export(folders, "mp4")
                except (RuntimeError, ValueError, OSError) as e:
                    st.error(f"The animation could not be made: {e}")
                    return
            MADE.set(folders)
            made = True
    if made:
        stem = "-vs-".join(f.rsplit("/", 1)[-1] for f in folders)
        left, right = st.columns(2)
        left.download_button("Time-lapse as GIF", resources.timelapse_export(folders, "gif"),
                             file_name=f"timelapse-{stem}.gif", mime="image/gif", icon=":material/download:")
        right.download_button("Time-lapse as MP4", resources.timelapse_export(folders, "mp4"),
                              file_name=f"timelapse-{stem}.mp4", mime="video/mp4", icon=":material/download:")


if __name__ == "__main__":  # run as a page by st.navigation
    render()
