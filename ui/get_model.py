"""The sidebar's "Get a model" box: a Hub model id (and a revision) in, a model in the picker out.

Check reads only the Hub's metadata (models/hub_download.plan_download) and says what the
download would be: the family and parameter count, the megabytes, whether this server has
the memory for it and room on its disk. Download fetches config.json, the tokenizer files
and the safetensors weights into the Hugging Face cache with a progress bar; the model then
joins the model picker. Downloads are on for a personal run and off when the server is open
to others, unless its operator says otherwise (models/hub_download.downloads_allowed).
"""
from __future__ import annotations


import streamlit as st

from models.hub_download import DownloadError, DownloadPlan, download, downloads_allowed, plan_download
from ui.plain import plain

PLAN = "get_model_plan"        # session state: the last checked plan
DONE = "get_model_done"        # session state: the picker key of the last finished download




def get_model_box() -> None:
    """The sidebar's expander: model id and revision, Check, the summary, Download, the progress."""
    with st.sidebar.expander("Get a model from the Hub", icon=":material/download:"):
        allowed, why = downloads_allowed(st.get_option("server.address"))
        if not allowed:
            st.caption(plain(why))
            return
        with st.form("get_model_form", border=False):
            st.text_input("Model id", key="get_model_repo", placeholder="EleutherAI/pythia-70m",
                          help="org/name, as in the address of the model's page on huggingface.co. "
                               "org/name@step1000 picks a revision too.")
            st.text_input("Revision (optional)", key="get_model_revision", placeholder="main",
                          help="A branch, a tag or a commit hash; empty: the main branch. Pythia's "
                               "training checkpoints are branches step0 … step143000.")
            checked = st.form_submit_button("Check", icon=":material/search:", width="stretch")
        if checked:
            check(st.session_state.get("get_model_repo", ""), st.session_state.get("get_model_revision", ""))
        plan = st.session_state.get(PLAN)
        if plan is not None:
            offer(plan)
        done = st.session_state.get(DONE)
        if done:
            st.success(f"Downloaded: {plain(done)} is in the model picker.")
            st.button("Open it now", key="get_model_open", on_click=choose_model, args=(done,),
                      icon=":material/open_in_new:", width="stretch")


def check(repo: str, revision: str) -> None:
    """Read the Hub's metadata; keep the plan (or say why there is none)."""
    st.session_state.pop(PLAN, None)
    st.session_state.pop(DONE, None)
    if not repo.strip():
        st.warning("Type a model id first, for example EleutherAI/pythia-70m.")
        return
    try:
        with st.spinner("Reading the Hub's metadata…"):
            st.session_state[PLAN] = plan_download(repo.strip(), revision.strip() or None)
    except DownloadError as exc:
        st.error(plain(str(exc)))


def download_with_bar(plan: DownloadPlan) -> bool:
    """Download `plan` under a progress bar (file, MB done of MB, redrawn once per percent); False, with the
    reason shown, when it failed. A cut download resumes the next time (models/hub_download.py)."""
    bar = st.progress(0.0, text="Starting…")
    shown = {"percent": -1}

    def progress(done: int, total: int, name: str) -> None:
        percent = int(100 * done / total) if total else 100
        if percent != shown["percent"]:   # a redraw per percent, not per chunk
            shown["percent"] = percent
            bar.progress(percent / 100, text=f"{plain(name)}: {done / 1e6:,.1f} of {total / 1e6:,.1f} MB")

    try:
        download(plan, progress)
    except DownloadError as exc:
        bar.empty()
        st.error(plain(str(exc)))
        return False
    bar.empty()
    return True


def offer(plan: DownloadPlan) -> None:
    """The summary; then either the reason it will not be downloaded or the Download button."""
    st.caption("  \n".join(plain(line) for line in plan.summary()))
    if plan.problem:
        st.error(plain(plan.problem))
        return
    if not st.button(f"Download {plan.new_bytes / 1e6:,.1f} MB", key="get_model_go", type="primary",
                     icon=":material/download:", width="stretch"):
        return
    if not download_with_bar(plan):
        return
    label = f"🤗 {plan.repo_id}" + (f" @ {plan.revision}" if plan.key != plan.repo_id else "")
    st.session_state.setdefault("extra_models", {})[plan.key] = label
    st.session_state.pop(PLAN, None)
    st.session_state[DONE] = plan.key
    st.rerun()   # the picker above this box lists the new model on the next run


def choose_model(key: str) -> None:
    """The sidebar's model picker shows the downloaded model (a callback: before the picker is drawn)."""
    st.session_state["model"] = key
