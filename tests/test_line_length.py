"""Every line of the project's Python is at most 120 characters (the developers' guide), so a file reads
side by side with another and in a review without scrolling sideways. A line that is nothing but a URL
(a comment or a string) may be longer: cutting an address breaks it."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 120
# Folders that are not the project's own code (environments, caches, build outputs).
SKIP = {".venv", "venv", ".git", "node_modules", "__pycache__", "build", "dist", ".pytest_cache"}
ONLY_A_URL = re.compile(r"""^\s*(#\s*)?["']?<?https?://\S+>?["']?,?\s*$""")


def python_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if not SKIP & set(p.relative_to(ROOT).parts))


def test_every_python_line_is_at_most_120_characters():
    files = python_files()
    assert len(files) > 100 and ROOT / "app.py" in files      # the walk found the project, not an empty folder
    long = [f"{path.relative_to(ROOT)}:{number}: {len(line)} characters"
            for path in files
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
            if len(line) > LIMIT and not ONLY_A_URL.match(line)]
    assert not long, "lines over 120 characters (wrap them):\n" + "\n".join(long)


def test_a_long_url_alone_on_its_line_is_allowed_and_nothing_else_is():
    url = "https://example.org/" + "a" * 120
    assert ONLY_A_URL.match(f"# {url}") and ONLY_A_URL.match(f'    "{url}",')
    assert not ONLY_A_URL.match(f"x = 1  # see {url}")
