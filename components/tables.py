"""A table a person picks one row of, to read or act on it below."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import pandas as pd
import streamlit as st

T = TypeVar("T")


def picked(table: pd.DataFrame, items: Sequence[T], key: str, unpicked: str | None = None,
           **options: Any) -> T | None:
    """Draw `table` (one row per item of `items`) for picking one row: the item picked, or None
    (then `unpicked`, when given, says what picking a row does)."""
    selection = st.dataframe(table, key=key, hide_index=True, width="stretch",
                             on_select="rerun", selection_mode="single-row", **options)
    rows = selection.selection.rows if selection else []
    if rows and rows[0] < len(items):
        return items[rows[0]]
    if unpicked:
        st.caption(unpicked)
    return None
