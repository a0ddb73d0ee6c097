"""The link and the chosen head each have one home: only ui/url.py touches st.query_params, only
ui/head_choice.py (and the link's reader, ui/url.py) writes the person's layer and head, and no file
in ui/, pages/ or app.py reads Streamlit's private widget or session records (a Streamlit upgrade
would silently empty every link)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRIVATE = re.compile(r"_key_id_mapper|_new_widget_state|get_session_state")
CHOICE_KEY = re.compile(r"""session_state(\[|\.get\(|\.pop\(|\.setdefault\()\s*["'](layer|head)["']""")


def app_files() -> dict[str, str]:
    files = [ROOT / "app.py", *sorted((ROOT / "ui").rglob("*.py")), *sorted((ROOT / "pages").glob("*.py"))]
    return {str(f.relative_to(ROOT)): f.read_text() for f in files}


def test_no_streamlit_private_records_in_the_app():
    assert not {name: PRIVATE.findall(text) for name, text in app_files().items() if PRIVATE.search(text)}


def test_only_ui_url_touches_the_query_parameters():
    assert [name for name, text in app_files().items() if "query_params" in text] == ["ui/url.py"]


def test_the_chosen_layer_and_head_are_named_in_one_place():
    """Pages and helpers go through ui/head_choice.py; the session keys are spelled once, in ui/url.CHOICE."""
    from ui import head_choice, url

    assert (head_choice.LAYER, head_choice.HEAD) == url.CHOICE == ("layer", "head")
    assert not [name for name, text in app_files().items() if CHOICE_KEY.search(text)]
