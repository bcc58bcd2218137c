"""Partner Console: onboard providers into Upheal through the Partner API. Never imports streamlit."""
