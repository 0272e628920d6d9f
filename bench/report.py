"""Update one generated section of BENCHMARKS.md, keeping the others and the commentary.

The document is a `# ` title and its lead, then `## ` sections, one per benchmark program,
each cut into `### ` subsections. A program regenerates only its own section (or one of its
subsections); a `### Reading ...` subsection of that section is hand-written commentary
and stays, after the regenerated tables. Headings inside fenced code blocks are not expected.
"""

from __future__ import annotations

from pathlib import Path

TITLE = "# Benchmarks\n"
SECTION = "## "
SUBSECTION = "### "
COMMENTARY = "### Reading"


def _cut(lines: list[str], marker: str) -> list[list[str]]:
    """`lines` cut before each line starting with `marker`: the lead, then one part per heading."""
    parts: list[list[str]] = [[]]
    for line in lines:
        if line.startswith(marker):
            parts.append([])
        parts[-1].append(line)
    return parts


def _glue(parts: list[list[str]]) -> list[str]:
    """`parts` without their trailing blank lines, empty ones dropped, one blank line between."""
    out: list[str] = []
    for part in parts:
        end = len(part)
        while end and not part[end - 1].strip():
            end -= 1
        if end:
            out += [*([""] if out else []), *part[:end]]
    return out


def _lines(text: str, marker: str) -> list[str]:
    """`text` as lines, checked to start with a `marker` heading."""
    lines = text.strip("\n").split("\n")
    if not lines[0].startswith(marker):
        raise ValueError(f"expected a {marker.strip()} heading first, got {lines[0]!r}")
    return lines


def replace_section(doc: str, body: str, match: str | None = None) -> str:
    """`doc` with its `## ` section headed `match...` set to `body` (or added), commentary kept."""
    new = _lines(body, SECTION)
    key = match or new[0]
    parts = _cut(doc.strip("\n").split("\n"), SECTION)
    at = next((i for i in range(1, len(parts)) if parts[i][0].startswith(key)), None)
    if at is None:
        parts.append(new)
    else:
        headings = {line for line in new if line.startswith(SUBSECTION)}
        old = _cut(parts[at], SUBSECTION)[1:]
        kept = [s for s in old if s[0].startswith(COMMENTARY) and s[0] not in headings]
        parts[at] = _glue([new, *kept])
    return "\n".join(_glue(parts)) + "\n"


def replace_subsection(doc: str, section: str, body: str, intro: str = "") -> str:
    """`doc` with `body`'s `### ` subsection of `section...` replaced (added before commentary)."""
    new = _lines(body, SUBSECTION)
    parts = _cut(doc.strip("\n").split("\n"), SECTION)
    old = next((p for p in parts[1:] if p[0].startswith(section)), [section, "", intro])
    lead, *subs = _cut(old, SUBSECTION)
    subs = [s for s in subs if not s[0].startswith(COMMENTARY)]  # replace_section keeps them
    at = next((i for i, s in enumerate(subs) if s[0] == new[0]), len(subs))
    subs[at : at + 1] = [new]
    return replace_section(doc, "\n".join(_glue([lead, *subs])), section)


def read_report(path: Path) -> str:
    """The text of the report at `path`, or a bare title when there is no such file."""
    return path.read_text() if path.is_file() else TITLE
