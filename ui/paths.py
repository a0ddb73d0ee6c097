"""Three short paths through the app for a newcomer, each step with a Next link.

Home offers them; once a person starts one, the sidebar says where they are on it and links the
next page, on whichever page they are. Pages themselves know nothing of paths.
"""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitAPIException

from ui.sections import SECTIONS

PATH_KEY = "guide_path"     # session state: the path this person follows, if any


@dataclass(frozen=True)
class Path:
    key: str
    title: str
    icon: str
    pitch: str                  # one line: what the path teaches
    pages: tuple[str, ...]      # page files in order


PATHS = (
    Path("attention", "How attention works", "🧮", "From your text to the next layer, one step at a time, with "
         "the real numbers.", ("pages/step_tokens.py", "pages/step_embeddings.py", "pages/step_head.py",
                               "pages/step_layer.py", "pages/step_mask.py")),
    Path("heads", "What heads do", "🧩", "Find a head with a clear job, see all of them, knock the important ones "
         "out and ask which tokens drove the output.", ("pages/attention_head.py", "pages/attention_grid.py",
                                                        "pages/head_ablation.py", "pages/attribution.py")),
    Path("class", "Teach a class", "🎓", "Questions made from the model's own numbers, and links that reopen the "
         "same figure on every student's screen.", ("pages/quiz.py", "pages/attention_head.py",
                                                     "pages/context.py")),
)
TITLES = {path: (title, icon) for entries in SECTIONS.values() for path, title, icon, _ in entries}


def path_named(key: str | None) -> Path | None:
    return next((p for p in PATHS if p.key == key), None)


def next_page(path: Path, page: str) -> str | None:
    """The page after `page` on `path`, or None at its end (or off it)."""
    if page not in path.pages:
        return None
    i = path.pages.index(page)
    return path.pages[i + 1] if i + 1 < len(path.pages) else None


def link(where, page: str, label: str | None = None) -> None:
    """A link to a page; plain text when the page runs alone (tests), where there is no frame to link into."""
    title, icon = TITLES[page]
    try:
        where.page_link(page, label=label or title, icon=icon)
    except (StreamlitAPIException, KeyError):
        where.markdown(f"{icon} {label or title}")


def start_path(key: str) -> None:
    st.session_state[PATH_KEY] = key


def path_cards() -> None:
    """Home: the three paths side by side, their steps numbered, a Start button each."""
    for column, path in zip(st.columns(len(PATHS)), PATHS):
        with column.container(border=True):
            st.markdown(f"#### {path.icon} {path.title}")
            st.caption(path.pitch)
            for step, page in enumerate(path.pages, 1):
                title = TITLES[page][0].split(" · ", 1)[-1]        # "3 · One head" numbered once
                st.markdown(f"{step}. {title}")
            if st.button("Start this path", key=f"path_start_{path.key}", on_click=start_path, args=(path.key,),
                         type="primary" if st.session_state.get(PATH_KEY) == path.key else "secondary"):
                try:
                    st.switch_page(path.pages[0])
                except StreamlitAPIException:      # run alone (tests): nowhere to switch to
                    pass


def path_progress(page: str) -> None:
    """The sidebar on every page: where the person is on their path, and a Next link."""
    path = path_named(st.session_state.get(PATH_KEY))
    if path is None:
        return
    box = st.sidebar.container(border=True)
    if page in path.pages:
        step = path.pages.index(page) + 1
        box.markdown(f"**{path.icon} {path.title}** · step {step} of {len(path.pages)}")
        following = next_page(path, page)
        if following:
            link(box, following, f"Next: {TITLES[following][0]}")
        else:
            box.caption("The last step of this path. Home has the other two.")
    else:
        box.markdown(f"**{path.icon} {path.title}**")
        link(box, path.pages[0], f"Back to the path: {TITLES[path.pages[0]][0]}")
    box.button("Leave the path", key="path_leave", on_click=st.session_state.pop, args=(PATH_KEY, None))
