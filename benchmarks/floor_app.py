"""The floor of a first render on this machine: a bare Streamlit page (a title and one line of text),
nothing of the explorer. bench_explorer.py opens it after a fresh `streamlit run`, the same way as
the explorer's default page. Run: streamlit run benchmarks/floor_app.py"""

import streamlit as st

st.title("A bare Streamlit page")
st.write("Drawn: the floor of any first render.")
