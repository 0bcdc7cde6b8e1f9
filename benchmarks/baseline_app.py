"""The floor of click latency for a Streamlit page on this machine: a bare page with one clickable
2,500-point WebGL scatter and one image in a fragment, nothing else. bench_explorer.py measures it
the same way as the explorer, in the same run. Run: streamlit run benchmarks/baseline_app.py"""

import base64
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image


@st.fragment
def plane() -> None:
    xs, ys = np.meshgrid(np.linspace(0, 1, 50), np.linspace(0, 1, 50))
    fig = go.Figure(go.Scattergl(x=xs.ravel(), y=ys.ravel(), mode="markers", marker=dict(opacity=0.2)))
    fig.update_layout(clickmode="event+select", dragmode="pan", height=400)
    event = st.plotly_chart(fig, key="plane", on_select="rerun", selection_mode="points",
                            config={"doubleClick": False})
    points = event["selection"]["points"] if event else []
    seed = int((points[0]["x"] * 7 + points[0]["y"] * 3) * 1e6) if points else 0
    pixels = np.uint8(np.kron(np.random.default_rng(seed).random((28, 28)), np.ones((8, 8))) * 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    st.image(f"data:image/png;base64,{data}", caption="decoded by the baseline")


plane()
