"""Every page reopens from a link: each control it keeps in the link, set in a shared link to a value
other than its default, is found at that value when the link opens the page (app.py's frame, as a
visitor opens it). And every control a page draws is kept in the link, under a key that starts with the
page's file name, except the shared layer and head (their own `layer` and `head` parameters)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.page_helpers import ROOT, run_page
from ui.frame import UNEXPECTED
from ui.sections import SECTIONS

HEAVY = {"attribution", "embeddings", "faithfulness", "head_ablation", "context_pair"}   # > 10 s each
PAGES = [pytest.param(Path(path).stem, marks=[pytest.mark.slow] if Path(path).stem in HEAVY else [])
         for entries in SECTIONS.values() for path, *_ in entries]
KINDS = ("slider", "select_slider", "selectbox", "radio", "multiselect", "checkbox", "toggle", "text_input",
         "text_area", "number_input")
NOT_LINKED = {"open_model_path"}     # a folder on the server: never taken from a link (no visitor-typed paths)


def _number(x: float) -> str:
    """A number as Streamlit writes it in a URL (5.0 -> "5")."""
    x = round(float(x), 10)
    return str(int(x)) if x.is_integer() else repr(x)


def shown(w) -> str | list[str] | None:
    """The control's value as the link writes it."""
    if w.type in ("selectbox", "radio"):
        return None if w.index is None else w.options[w.index]
    if w.type == "multiselect":
        return list(w.values)
    if w.type == "select_slider":
        values = w.value if isinstance(w.value, (list, tuple)) else [w.value]
        labels = [str(w.format_func(v)) for v in values]
        return labels if isinstance(w.value, (list, tuple)) else labels[0]
    if w.type == "slider":
        return [_number(v) for v in w.value] if isinstance(w.value, (list, tuple)) else _number(w.value)
    if w.type in ("checkbox", "toggle"):
        return "true" if w.value else "false"
    if w.type == "number_input":
        return None if w.value is None else _number(w.value)
    return w.value


def another(w) -> str | list[str]:
    """A value other than the control's own, one step away where there are steps."""
    if w.type in ("selectbox", "radio"):
        return w.options[((w.index or 0) + 1) % len(w.options)] if w.index is not None else w.options[0]
    if w.type == "multiselect":
        return [next(label for label in w.options if [label] != list(w.values))]
    if w.type == "select_slider":
        now = shown(w)
        if isinstance(now, list):
            return [w.options[0], w.options[-1]] if now != [w.options[0], w.options[-1]] else w.options[:2]
        i = w.options.index(now)
        return w.options[i + 1 if i + 1 < len(w.options) else i - 1]
    if w.type == "slider":
        hi, step = w.proto.max, w.proto.step

        def moved(v):
            return v + step if v + step <= hi else v - step

        if isinstance(w.value, (list, tuple)):
            a, b = w.value
            return [_number(a), _number(b - step)] if b - step > a else [_number(a), _number(moved(b))]
        return _number(moved(w.value))
    if w.type in ("checkbox", "toggle"):
        return "false" if w.value else "true"
    if w.type == "number_input":
        step = w.proto.step or 1
        up = w.value + step
        return _number(up if not w.proto.has_max or up <= w.proto.max else w.value - step)
    return (w.value + " ") if w.value else "a"     # pages strip their text: the page reads the same words


def controls(at: AppTest) -> list:
    return [w for kind in KINDS for w in at.main.get(kind)]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_reopens_from_a_link_with_its_controls(page):
    alone = run_page(page)
    assert not alone.exception
    drawn = controls(alone)
    linked = [w for w in drawn if w.proto.query_param_key]
    assert all(w.proto.query_param_key == w.key and w.key.startswith(f"{page}_") for w in linked), \
        [w.key for w in linked]
    shared = {f"{page}_layer", f"{page}_head"}
    assert not [w.key for w in drawn if not w.proto.query_param_key and w.key not in shared | NOT_LINKED]
    link = {w.key: another(w) for w in linked}
    assert all(link[w.key] != shown(w) for w in linked)

    # All at once first; a control that another one hides or relabels (a head picker's options follow
    # the heads chosen above it) is opened again with the others at their defaults, then alone.
    reopened = _reopen(page, link)
    assert not reopened["exception"]
    left = {key: text for key, text in link.items() if reopened["values"].get(key) != text}
    if len(left) > 1:
        again = _reopen(page, left)
        left = {key: text for key, text in left.items() if again["values"].get(key) != text}
    for key, text in left.items():
        alone_link = _reopen(page, {key: text})
        assert not alone_link["exception"] and not alone_link["unexpected"], alone_link["unexpected"]
        assert not alone_link["notes"], (key, text)
        assert alone_link["values"].get(key) == text, key


def _reopen(page: str, link: dict) -> dict:
    """The page opened by a fresh visitor from `link`: its controls' values as the link writes them."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for name, value in link.items():
        at.query_params[name] = value
    at.switch_page(f"pages/{page}.py")
    at.run()
    return {"exception": [e.value for e in at.exception],
            "unexpected": [e.value for e in at.error if UNEXPECTED in e.value],
            "notes": [i.value for i in at.info if "did not fit" in i.value],
            "values": {w.key: shown(w) for w in controls(at) if w.key in link}}
