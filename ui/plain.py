"""Text from a person or a model (tokens, sentences, model ids, messages) inside Streamlit's Markdown,
shown literally: every character Markdown could read as markup (emphasis, links, code, LaTeX between
two $, HTML) is escaped. One place, so every caption escapes the same set."""
from __future__ import annotations

import re

# Emphasis, code, links and images ([ ]), HTML (< >), tables, strike-through, LaTeX ($) and emoji or icon
# shortcodes (:name:). Full stops and hyphens are markup only at a line's start, which these texts never are.
MARKUP = re.compile(r"([\\`*_{}\[\]#|<>~$:])")


def plain(text: str) -> str:
    """`text`, shown literally inside Markdown."""
    return MARKUP.sub(r"\\\1", str(text))
