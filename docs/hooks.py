"""MkDocs hook: serve BENCHMARKS.md and the figures it shows, which live outside ``docs/``.

The pages link ``../BENCHMARKS.md`` and ``../bench/results/*.png`` so that they work on a code
host without building. The site gets the same files: ``on_files`` adds ``BENCHMARKS.md`` and
every ``bench/results/`` file that a page or BENCHMARKS.md links (read from the repository root,
not copied into ``docs/``), and ``on_page_markdown`` rewrites a page's links to them to the
site's copy. A link to any other file outside ``docs/`` stays as it is, so strict mode still
reports it.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"(\]\()([^)\s#]+)(#[^)\s]*)?(\))")
RESULTS = re.compile(r"bench/results/[\w.\-]+")


def mirrored() -> list[str]:
    """Repository-relative paths the site serves from outside ``docs/``."""
    text = (ROOT / "BENCHMARKS.md").read_text()
    text += "".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
    return ["BENCHMARKS.md"] + sorted(p for p in set(RESULTS.findall(text)) if (ROOT / p).is_file())


def on_files(files, config):
    for rel in mirrored():
        files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown, page, config, files):
    if Path(page.file.abs_src_path).resolve().is_relative_to(ROOT / "docs") is False:
        return markdown  # BENCHMARKS.md itself: its links are already relative to the root
    served = set(mirrored())
    here = posixpath.dirname(page.file.src_uri)

    def rewrite(m: re.Match) -> str:
        target = m.group(2)
        if "://" in target:
            return m.group(0)
        rel = posixpath.normpath(posixpath.join("docs", here, target))
        if rel not in served:
            return m.group(0)
        new = posixpath.relpath(rel, here or ".")
        return f"{m.group(1)}{new}{m.group(3) or ''}{m.group(4)}"

    return LINK.sub(rewrite, markdown)
