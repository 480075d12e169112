"""The Streamlit operations app (a package: pages import apps.streamlit.lib)."""
