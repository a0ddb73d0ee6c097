"""The words a caption uses for colours, following the active palette.

With the sidebar's colour-blind-safe colours, attention weights are drawn in cividis (zero dark
blue, high weight light yellow) and differences in blue–orange, so "darker = more weight" or
"red raises it" would describe a figure the person is not looking at. Every caption that names
a colour asks here.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from ui.state import COLOUR_BLIND


@dataclass(frozen=True)
class ColourWords:
    more: str          # how a cell with more weight looks: "darker", "brighter"
    strong: str        # an adjective for a high-weight mark: "dark", "bright"
    scale: str         # the weight scale in words
    up: str            # the colour of a positive difference / score
    down: str          # the colour of a negative one

    def mark(self, shape: str) -> str:
        """"a dark diagonal" / "a bright diagonal"."""
        return f"a {self.strong} {shape}"


USUAL = ColourWords(more="darker", strong="dark", scale="white (0) to dark blue (high)", up="red", down="blue")
SAFE = ColourWords(more="brighter", strong="bright", scale="dark blue (0) to light yellow (high)", up="orange",
                   down="blue")


def colour_words() -> ColourWords:
    """The words for the palette this session's figures are drawn in."""
    return SAFE if st.session_state.get(COLOUR_BLIND) else USUAL
