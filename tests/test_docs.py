"""The docs site cannot drift from the code: the generated pages are what `docs/gen_pages.py`
writes from the checks' docstrings and cases, the nav lists every page, and the site builds."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from maskcheck.checks import all_checks

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MKDOCS_YML = ROOT / "mkdocs.yml"
STALE = "is out of date: run `python docs/gen_pages.py` and commit the result"


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_pages", DOCS / "gen_pages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_check_pages_match_the_generator(gen: ModuleType, tmp_path: Path) -> None:
    gen.generate(tmp_path, examples=False, pictures=False, mkdocs_yml=None)
    fresh = {p.name: read(p) for p in (tmp_path / "checks").glob("*.md")}
    committed = {p.name: read(p) for p in (DOCS / "checks").glob("*.md")}
    assert sorted(fresh) == sorted(committed), f"docs/checks/ {STALE}"
    assert len(fresh) == len(all_checks()) + 1  # one page per check and the catalogue
    for name, text in fresh.items():
        assert committed[name] == text, f"docs/checks/{name} {STALE}"


def test_each_page_carries_the_docstring_and_the_cases(gen: ModuleType) -> None:
    for check in all_checks():
        page = read(DOCS / "checks" / f"{check.code}.md")
        assert page.startswith(f"# {check.code} {check.name}\n")
        for title, body in check.doc_sections().items():
            assert f"## {title}\n\n{body}\n" in page
        firing, quiet = page.split("**Fires on**")[1].split("**Quiet on**")
        for case in check.INVALID:
            assert f"- {case.name}" in firing
        for case in check.VALID:
            assert f"- {case.name}" in quiet.split("## ")[0]
    catalogue = read(DOCS / "checks" / "index.md")
    for check in all_checks():
        assert (
            f"| [{check.code}]({check.code}.md) | `{check.name}` | {check.severity} | {check.summary} |"
            in catalogue
        )


def nav_pages() -> list[str]:
    return re.findall(r"^\s*-\s+(?:[^:\n]+:\s+)?([\w./-]+\.md)\s*$", read(MKDOCS_YML), flags=re.M)


def test_the_nav_lists_every_page_once(gen: ModuleType) -> None:
    text = read(MKDOCS_YML)
    assert gen.update_nav(text, all_checks()) == text, f"the nav in mkdocs.yml {STALE}"
    pages = nav_pages()
    assert len(pages) == len(set(pages))
    on_disk = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))
    assert sorted(pages) == on_disk


def committed_outputs(page: str) -> dict[str, str]:
    """What each example printed, as captured in docs/examples.md."""
    outputs = {}
    for name, block in re.findall(
        r'```python title="examples/([\w]+\.py)"\n.*?\n```\n\n\?\?\? example "What it prints"\n\n    ```text\n(.*?)\n    ```\n',
        page,
        flags=re.S,
    ):
        outputs[name] = "\n".join(line[4:] for line in block.splitlines())
    return outputs


def test_examples_page_matches_the_scripts(gen: ModuleType) -> None:
    """Docstrings, code and layout are current; only the captured output is taken as committed."""
    page = read(DOCS / "examples.md")
    outputs = committed_outputs(page)
    names = [p.name for p in gen.example_files()]
    assert sorted(outputs) == sorted(names), f"docs/examples.md {STALE}"
    assert gen.examples_page(outputs) == page, f"docs/examples.md {STALE}"
    for name in names:
        assert "maskcheck report" in outputs[name]  # every example printed its reports


def test_hand_written_pages() -> None:
    assert read(DOCS / "changelog.md").strip() == '--8<-- "CHANGELOG.md"'
    assert (ROOT / "CHANGELOG.md").exists()
    performance = read(DOCS / "performance.md")
    for heading in ("## Data checks", "## Audit overhead", "## Results"):
        assert heading in performance
    for picture in re.findall(r"\]\((img/[\w.-]+\.svg)\)", read(DOCS / "pictures.md")):
        assert (DOCS / picture).exists()


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "checks" / "MC101" / "index.html").exists()
