"""The documentation stays short, linked and true to the code it describes."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from pydantic import Field

from imdb_sentiment.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = [README, ROOT / "bench" / "README.md", *sorted(DOCS.glob("*.md"))]
README_MAX_LINES = 300

# Pages written on other branches and linked from here before they land. A link to one of these
# may dangle only while the page is missing; once it exists, drop it from this set.
_FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_MAKE = re.compile(r"(?:^|[\s;&|(])make[ \t]+([a-z][a-z0-9-]*)", re.MULTILINE)
_TARGET = re.compile(r"^([a-z][a-z0-9-]*)\s*:(?!=)", re.MULTILINE)
# Committed files and folders a page may name in inline code; each must exist.
_SOURCE_PATH = re.compile(
    r"^(?:src|app|stages|tests|bench|tools|infra|docs|metrics|\.github|\.ci)/[\w./-]*$"
)


def _settings_table_tool():
    spec = importlib.util.spec_from_file_location(
        "settings_table", ROOT / "tools" / "settings_table.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prose(text: str) -> str:
    """The text without code blocks and inline code."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _code(text: str) -> str:
    """Only the code: fenced blocks and inline code spans."""
    blocks = [match.group(0) for match in _FENCE.finditer(text)]
    spans = _INLINE_CODE.findall(_FENCE.sub("", text))
    return "\n".join(blocks + [span.strip("`") for span in spans])


def _relative_links(page: Path) -> list[str]:
    targets = _LINK.findall(_prose(page.read_text()))
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]


def _makefile_targets() -> set[str]:
    return set(_TARGET.findall((ROOT / "Makefile").read_text()))


def test_readme_is_a_short_front_door() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


def test_docs_has_the_pages_the_readme_points_to() -> None:
    linked = {(README.parent / t.split("#")[0]).resolve() for t in _relative_links(README)}
    pages = {p.resolve() for p in DOCS.glob("*.md")}
    assert len(pages) >= 5
    assert (DOCS / "index.md").resolve() in linked


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file(page: Path) -> None:
    missing = []
    for target in _relative_links(page):
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_every_docs_page_is_linked_from_the_index() -> None:
    index = DOCS / "index.md"
    linked = {(DOCS / t.split("#")[0]).resolve() for t in _relative_links(index)}
    orphans = [p.name for p in DOCS.glob("*.md") if p != index and p.resolve() not in linked]
    assert not orphans, f"docs/index.md does not link {orphans}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_docs_describe_the_project_not_its_history(page: Path) -> None:
    prose = _prose(page.read_text())
    dated = [
        *re.findall(r"\bissues?\s+#?\d+", prose, re.IGNORECASE),
        *re.findall(r"\bsessions?\b(?! Manager)", prose, re.IGNORECASE),
        *re.findall(r"\b\d{1,2}:\d{2}(?:-\d{1,2}:\d{2})? UTC\b", prose),
    ]
    assert not dated, f"{page.relative_to(ROOT)}: {dated}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_make_target_mentioned_exists(page: Path) -> None:
    mentioned = set(_MAKE.findall(_code(page.read_text())))
    unknown = sorted(mentioned - _makefile_targets())
    assert not unknown, f"{page.relative_to(ROOT)} mentions unknown make targets: {unknown}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_project_path_named_exists(page: Path) -> None:
    spans = _INLINE_CODE.findall(_FENCE.sub("", page.read_text()))
    named = {span.strip("`").split("::")[0] for span in spans}
    paths = {name for name in named if _SOURCE_PATH.match(name)}
    missing = sorted(name for name in paths if not (ROOT / name).exists())
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_readme_quickstart_keeps_the_two_commands() -> None:
    readme = README.read_text()
    assert "IMDB_ARCHIVE=../shared/data/aclImdb_v1_labeled.tar.gz make pipeline" in readme
    assert re.search(r"^make test\s", readme, re.MULTILINE)
    assert "make serve" in readme and "curl" in readme and "imdb-sentiment predict" in readme


def test_make_help_lists_each_target_once() -> None:
    described = re.findall(
        r"^([a-z][a-z0-9-]*)\s*:[^\n#]*##", (ROOT / "Makefile").read_text(), re.MULTILINE
    )
    repeated = sorted({name for name in described if described.count(name) > 1})
    assert not repeated, f"make help would list {repeated} more than once"


def test_configuration_table_is_the_settings_class() -> None:
    tool = _settings_table_tool()
    assert tool.documented_table() == tool.render(), (
        "docs/configuration.md disagrees with Settings: run `python tools/settings_table.py --write`"
    )


def test_configuration_table_changes_when_a_setting_is_added() -> None:
    tool = _settings_table_tool()

    class MoreSettings(Settings):
        shadow_fraction: float = Field(default=0.0, ge=0, le=1, description="Share shadowed")

    table = tool.render(MoreSettings)
    assert "| `IMDB_SENTIMENT_SHADOW_FRACTION` | float >= 0, <= 1 | `0.0` | Share shadowed |" in (
        table
    )
    assert table != tool.documented_table()


def test_every_setting_has_a_description_for_the_table() -> None:
    undescribed = [name for name, field in Settings.model_fields.items() if not field.description]
    assert not undescribed


def test_variables_documented_outside_settings_are_read_by_the_code() -> None:
    tool = _settings_table_tool()
    sources = "\n".join(
        path.read_text()
        for folder in ("src", "app", "stages")
        for path in (ROOT / folder).rglob("*.py")
    )
    unread = [v.name for v in tool.OTHER_VARIABLES if v.name not in sources]
    assert not unread, f"documented in docs/configuration.md but read nowhere: {unread}"
