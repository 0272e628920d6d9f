"""bench/report.py: one benchmark's section of BENCHMARKS.md replaced, everything else kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.report import TITLE, read_report, replace_section, replace_subsection

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]

DOC = """# Benchmarks

## Alpha, 10 people

Written by alpha.

### Table one

| a |
|---|
| 1 |

### Reading this run (commentary, not generated)

* alpha is fine.

## Beta

Beta's intro.

### First

| b |
|---|
| 2 |

### Second

| c |
|---|
| 3 |

### Reading (commentary, not generated)

Beta by hand.
"""

ALPHA = """## Alpha, 20 people

Written by alpha again.

### Table one

| a |
|---|
| 9 |

### Table two

| z |
|---|
| 8 |
"""


def _section(doc: str, start: str) -> str:
    """The `## ` section of `doc` whose heading starts with `start`, without its commentary."""
    section = doc[doc.index("\n" + start) + 1 :].split("\n## ", 1)[0]
    return section.split("\n### Reading", 1)[0]


def test_replace_section_keeps_other_sections_and_commentary() -> None:
    out = replace_section(DOC, ALPHA, "## Alpha")
    alpha, beta = out.split("\n## Beta\n")
    assert alpha == (
        "# Benchmarks\n\n"
        + ALPHA
        + "\n### Reading this run (commentary, not generated)\n\n* alpha is fine.\n"
    )
    assert beta == DOC.split("\n## Beta\n")[1]


def test_replace_section_without_match_uses_the_heading() -> None:
    body = "## Beta\n\n### Only\n\n| x |\n"
    out = replace_section(DOC, body)
    assert out.endswith(
        "## Beta\n\n### Only\n\n| x |\n\n### Reading (commentary, not generated)\n\nBeta by hand.\n"
    )
    assert "### First" not in out and "### Second" not in out and "Beta's intro." not in out
    assert out.startswith(DOC.split("## Beta")[0])


def test_replace_section_appends_a_new_section() -> None:
    body = "## Gamma\n\nNew.\n"
    out = replace_section(DOC, body)
    assert out == DOC + "\n" + body
    assert replace_section(TITLE, body) == "# Benchmarks\n\n## Gamma\n\nNew.\n"


def test_replace_section_is_idempotent() -> None:
    once = replace_section(DOC, ALPHA, "## Alpha")
    assert replace_section(once, ALPHA, "## Alpha") == once
    assert replace_section(once, _section(once, "## Alpha"), "## Alpha") == once


def test_replace_section_rejects_a_body_without_its_heading() -> None:
    with pytest.raises(ValueError, match="## heading"):
        replace_section(DOC, "### Table one\n")


def test_replace_subsection_keeps_the_rest_of_the_section() -> None:
    body = "### First\n\n| b |\n|---|\n| 7 |\n"
    out = replace_subsection(DOC, "## Beta", body)
    assert out == DOC.replace("| 2 |", "| 7 |")
    assert replace_subsection(out, "## Beta", body) == out


def test_replace_subsection_adds_new_ones_before_the_commentary() -> None:
    out = replace_subsection(DOC, "## Beta", "### Third\n\nthree\n")
    assert out == DOC.replace("| 3 |\n\n### Reading", "| 3 |\n\n### Third\n\nthree\n\n### Reading")


def test_replace_subsection_adds_a_missing_section_with_its_intro() -> None:
    out = replace_subsection(DOC, "## Gamma", "### One\n\n1\n", "Gamma's intro.")
    assert out == DOC + "\n## Gamma\n\nGamma's intro.\n\n### One\n\n1\n"


def test_read_report(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    assert read_report(path) == TITLE
    path.write_text(DOC)
    assert read_report(path) == DOC


@pytest.mark.parametrize(
    "heading", ["## Discover and search", "## Swipes", "## Embedding job throughput"]
)
def test_the_real_report_survives_its_own_sections(heading: str) -> None:
    doc = (ROOT / "BENCHMARKS.md").read_text()
    section = _section(doc, heading)
    assert section.startswith(heading) and "### " in section
    assert replace_section(doc, section, heading) == doc
    if heading == "## Embedding job throughput":
        for title in ("### Profile texts", "### Short sentences (headlines)"):
            sub = title + section.split(title, 1)[1].split("\n### ", 1)[0]
            assert replace_subsection(doc, heading, sub) == doc
