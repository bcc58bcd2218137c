"""Partner Console: onboard providers into Upheal through the Partner API.

The domain package: it never imports streamlit.
"""
