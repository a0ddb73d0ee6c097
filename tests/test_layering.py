"""The dependency arrows point one way: pages -> ui -> {viz, jobs} ; jobs -> {models, training, analysis};
{viz, models, training} -> analysis -> core.

core imports none of the others and no Streamlit, Plotly or tokenizers; analysis (what is computed
from a trace) imports only core; models, training and analysis never import Streamlit; no page script imports another
page script (or anything from pages/); and no import cycle among the project's modules, checked
on the real import graph, not by eye.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "analysis", "models", "training", "jobs", "viz", "ui", "pages")
# What each layer may not import (project layers above it, and libraries it must not need).
FORBIDDEN = {
    "core": {"streamlit", "plotly", "tokenizers", "transformers", "analysis", "models", "jobs", "training", "viz", "ui",
             "pages", "app"},
    "analysis": {"streamlit", "plotly", "tokenizers", "transformers", "models", "jobs", "training", "viz", "ui",
                 "pages", "app"},
    # transformers: tests only
    "models": {"streamlit", "plotly", "transformers", "training", "jobs", "viz", "ui", "pages", "app"},
    "training": {"streamlit", "plotly", "transformers", "models", "jobs", "viz", "ui", "pages", "app"},
    # jobs: corpus jobs (Ray or in-process) load models by name and run analysis; no page code.
    "jobs": {"streamlit", "plotly", "transformers", "viz", "ui", "pages", "app"},
    "viz": {"streamlit", "models", "jobs", "training", "ui", "pages", "app"},
    "ui": {"pages", "app"},
    "pages": {"pages", "app"},
}


def project_files() -> list[Path]:
    files = [ROOT / "app.py"]
    for package in PACKAGES:
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, absolute names, relative imports resolved; imports inside
    functions count too (a hidden import is still an arrow)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)   # `from pkg import submodule`
    return found


def test_every_layer_has_files():
    for package in PACKAGES:
        assert list((ROOT / package).glob("*.py")), f"{package}/ has no Python files"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downward(package):
    bad = {}
    for f in sorted((ROOT / package).rglob("*.py")):
        roots = {m.split(".")[0] for m in imported_modules(f)}
        if roots & FORBIDDEN[package]:
            bad[str(f.relative_to(ROOT))] = sorted(roots & FORBIDDEN[package])
    assert not bad


def test_pages_hold_only_page_scripts():
    """No helper modules hide in pages/: Streamlit's old pages-folder mode would list them as pages."""
    helpers = [p.name for p in (ROOT / "pages").glob("*.py") if p.name.startswith("_")]
    assert not helpers


def test_no_import_cycles():
    modules = {module_name(f): f for f in project_files()}
    graph = {name: sorted(m for m in imported_modules(path) if m in modules and m != name)
             for name, path in modules.items()}
    # A package's __init__ importing its own submodules is not a cycle of concepts; edges
    # from a submodule up into its own package's __init__ would make one, so they count.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in graph[node]:
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_user_text_as_html():
    offenders = [str(p.relative_to(ROOT)) for p in project_files()
                 if p.parts[-2] in ("pages", "ui") or p.name == "app.py"
                 if "unsafe_allow_html=True" in p.read_text()]
    assert not offenders


def test_importing_ui_does_no_work():
    """ui modules define things; start-up is ui.frame.start(), called by app.py (no st.* at import)."""
    for f in sorted((ROOT / "ui").glob("*.py")):
        tree = ast.parse(f.read_text(), filename=str(f))
        calls = [node for node in tree.body if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)]
        assert not calls, f"{f.name} runs code at import time (line {calls[0].lineno})"


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "pages").glob("*.py")))
def test_every_page_starts_inside_the_frame(page):
    """A page's first Streamlit step is ui.frame.require_frame(): a fresh server's first request
    for a page (a shared link) is sent through app.py instead of running the page alone."""
    tree = ast.parse((ROOT / "pages" / page).read_text())
    calls = [node.value for node in tree.body if isinstance(node, (ast.Expr, ast.Assign))
             and isinstance(node.value, ast.Call)]          # require_frame() or PAGE = require_frame()
    assert calls, f"pages/{page} makes no calls"
    first = calls[0].func
    assert isinstance(first, ast.Name) and first.id == "require_frame", \
        f"pages/{page} does not call require_frame() before anything else"


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "pages").glob("*.py")))
def test_every_page_takes_its_title_from_one_place(page):
    """Titles and introductions live in ui/intros.py, side by side, and the frame writes them: a page
    script never writes its own title (the first words a newcomer reads are edited in one file)."""
    from ui.intros import HEADERS

    assert page.removesuffix(".py") in HEADERS, f"pages/{page} has no title in ui/intros.py"
    source = (ROOT / "pages" / page).read_text()
    assert "st.title(" not in source, f"pages/{page} writes its own title: put it in ui/intros.py"


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "pages").glob("*.py")))
def test_pages_are_short(page):
    lines = len((ROOT / "pages" / page).read_text().splitlines())
    assert lines <= 150, f"pages/{page} has {lines} lines; move what it computes into ui/ or the objects it shows"


def test_server_settings_keep_visitors_away_from_internals():
    """Tracebacks stay in the server log; a personal run listens on localhost; uploads are capped
    by Streamlit itself at the app's own limit (1 MB), not at its 200 MB default."""
    import tomllib

    settings = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert settings["client"]["showErrorDetails"] == "none"
    assert settings["server"]["address"] == "localhost"
    assert settings["server"]["maxUploadSize"] == 1
    assert settings["client"]["showSidebarNavigation"] is False   # no raw pages/ file list on a cold start


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "pages").glob("*.py")))
def test_no_page_hands_a_widget_a_function_of_its_own(page):
    """Streamlit keeps a widget's format_func after the widget is gone (token pickers are keyed per
    sentence), and a lambda or function written in a page holds the page's whole namespace — a
    trace and its figures — alive with it: a served app grew by ~185 MB per new sentence. Pages pass
    bound methods of small data (labels.__getitem__, dict.get) or helpers from ui/ instead."""
    tree = ast.parse((ROOT / "pages" / page).read_text())
    own = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    bad = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.keyword) and node.arg == "format_func"
           and (isinstance(node.value, ast.Lambda) or (isinstance(node.value, ast.Name) and node.value.id in own))]
    assert not bad, f"pages/{page}: format_func is a page-level function at line(s) {bad}"


def test_core_holds_only_the_transformer_and_its_trace():
    """A learner who opens core/ reads the model, as in nanoGPT's model.py; what is computed from a
    trace lives in analysis/, app logic (quiz questions) with the app."""
    transformer = {"__init__", "attention", "blocks", "budget", "config", "embeddings", "model", "norms",
                   "rotary", "seq2seq", "trace"}
    extra = sorted(p.stem for p in (ROOT / "core").glob("*.py") if p.stem not in transformer)
    assert not extra, f"core/ holds analysis or app logic: {extra}"
