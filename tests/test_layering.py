"""The dependency arrows point one way: pages -> viz -> core, pages -> models -> core."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {
    "core": {"streamlit", "plotly", "tokenizers", "models", "viz", "pages", "app", "transformers"},
    "models": {"streamlit", "plotly", "viz", "pages", "app", "transformers"},  # transformers: tests only
    "viz": {"streamlit", "models", "pages", "app"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_downward(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no Python files"
    bad = {str(f.relative_to(ROOT)): sorted(imported_roots(f) & FORBIDDEN[package]) for f in files}
    assert not {f: b for f, b in bad.items() if b}


def test_no_user_text_as_html():
    offenders = [str(p.relative_to(ROOT)) for p in list(ROOT.glob("pages/*.py")) + [ROOT / "app.py"]
                 if "unsafe_allow_html=True" in p.read_text()]
    assert not offenders


def _pages_imports(path: Path) -> set[str]:
    """The pages._x helper modules a file imports (from pages._x import …, from pages import _x)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "pages":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pages._"):
            found.add(node.module.split(".")[1])
    return found


@pytest.mark.parametrize("page", sorted(p.name for p in (ROOT / "pages").glob("[a-z]*.py")))
def test_every_page_loads_the_shared_frame_module(page):
    """pages/_shared.py sets torch's threads once and sends a fresh server's first request for a
    page (a shared link) through app.py's navigation; a page that skips it opens without the frame."""
    seen, todo = set(), {page.removesuffix(".py")}
    while todo:
        name = todo.pop()
        seen.add(name)
        todo |= _pages_imports(ROOT / "pages" / f"{name}.py") - seen
    assert "_shared" in seen, f"pages/{page} does not import pages._shared (directly or through a helper)"
