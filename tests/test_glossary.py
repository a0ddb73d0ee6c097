"""Issue 26: every term a learner meets has a short definition, written once, shown on every page
that uses it (the sidebar's "Terms on this page")."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.glossary import GLOSSARY, PAGE_TERMS
from ui.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[1]
ASKED_FOR = ["W_O", "÷√d_head", "residual stream", "rollout", "attention flow", "sink", "AOPC / comprehensiveness",
             "logit lens", "GQA (grouped-query attention)", "RoPE (rotary positions)"]


def test_the_terms_the_issue_names_are_defined():
    for term in ASKED_FOR:
        assert len(GLOSSARY[term].split()) >= 8, term


def test_every_page_lists_only_defined_terms_and_every_term_is_used():
    pages = {path for entries in SECTIONS.values() for path, *_ in entries}
    assert set(PAGE_TERMS) <= pages
    used = {term for terms in PAGE_TERMS.values() for term in terms}
    assert used <= set(GLOSSARY)
    assert set(GLOSSARY) <= used, f"defined but shown on no page: {set(GLOSSARY) - used}"


def test_a_page_shows_its_terms_in_the_sidebar():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.switch_page("pages/step_layer.py").run()
    assert not at.exception
    shown = " ".join(str(m.value) for m in at.sidebar.markdown)
    assert "W_O" in shown and "residual stream" in shown
