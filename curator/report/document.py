"""The report as a document: sections of paragraphs, tables and figures, written out as one self-contained HTML
file (figures inline as base64 PNG, no network) and as Markdown (figures beside it in `report_files/`).

The content is built elsewhere (curator.report.sections); this module only lays it out.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

FIGURES_FOLDER = "report_files"


def counted(n: int, noun: str) -> str:
    """A count and its noun, in the plural where it is not one: "1 user", "2 users" (`noun` singular)."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass
class Figure:
    name: str  # file name stem, unique in the report
    png: bytes
    caption: str


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[str | Table | Figure] = field(default_factory=list)  # paragraphs, tables, figures in order

    def text(self, paragraph: str) -> None:
        self.blocks.append(paragraph)

    def table(self, header: list[str], rows: list[list], caption: str = "") -> None:
        self.blocks.append(Table(header, [[str(cell) for cell in row] for row in rows], caption))

    def figure(self, name: str, png: bytes, caption: str) -> None:
        self.blocks.append(Figure(name, png, caption))


STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d2330; max-width: 1080px;
       margin: 0 auto; padding: 24px 32px 64px; background: #fbfbfd; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; margin: 36px 0 8px; border-bottom: 1px solid #dde1ea;
padding-bottom: 4px; } .sub { color: #5a6375; margin: 0 0 16px; }
nav { background: #eef1f7; border-radius: 8px; padding: 8px 14px; margin: 12px 0 20px; font-size: 14px; }
nav a { margin-right: 14px; color: #2a4fb5; text-decoration: none; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; background: white; }
th, td { border: 1px solid #dde1ea; padding: 4px 10px; text-align: left; vertical-align: top; white-space: nowrap; }
td:last-child { white-space: normal; }
th { background: #eef1f7; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.cap { color: #5a6375; margin: 12px 0 0; font-size: 14px; }
figure { display: inline-block; margin: 8px 16px 16px 0; vertical-align: top; }
figure img { max-width: 500px; border: 1px solid #dde1ea; background: white; }
figcaption { color: #5a6375; font-size: 13px; max-width: 500px; }
"""


def _is_number(cell: str) -> bool:
    return (
        bool(cell)
        and cell.replace(",", "")
        .replace(".", "")
        .replace("-", "")
        .replace("±", "")
        .replace(" ", "")
        .replace("+", "")
        .replace("%", "")
        .isdigit()
    )


def to_html(title: str, subtitle: str, sections: list[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1><p class='sub'>{html.escape(subtitle)}</p>",
        "<nav>" + "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections) + "</nav>",
    ]
    for section in sections:
        parts.append(f'<section id="{section.anchor}"><h2>{html.escape(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, str):
                parts.append(f"<p>{html.escape(block)}</p>")
            elif isinstance(block, Table):
                parts.append(_html_table(block))
            else:
                data = base64.b64encode(block.png).decode("ascii")
                parts.append(
                    f'<figure><img alt="{html.escape(block.caption)}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(block.caption)}</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _html_table(table: Table) -> str:
    rows = [f"<p class='cap'>{html.escape(table.caption)}</p>"] if table.caption else []
    rows.append("<table>")
    rows.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.header) + "</tr>")
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if _is_number(c) else f"<td>{html.escape(c)}</td>" for c in row
        )
        rows.append(f"<tr>{cells}</tr>")
    rows.append("</table>")
    return "\n".join(rows)


def to_markdown(title: str, subtitle: str, sections: list[Section]) -> str:
    lines = [f"# {title}", "", subtitle, ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, str):
                lines += [block, ""]
            elif isinstance(block, Table):
                if block.caption:
                    lines += [f"*{block.caption}*", ""]
                lines.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
                lines.append("|" + "---|" * len(block.header))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
                lines.append("")
            else:
                lines += [f"![{block.caption}]({FIGURES_FOLDER}/{block.name}.png)", "", f"*{block.caption}*", ""]
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def figures(sections: list[Section]) -> list[Figure]:
    return [block for section in sections for block in section.blocks if isinstance(block, Figure)]


def write_files(folder: Path, title: str, subtitle: str, sections: list[Section]) -> tuple[Path, Path]:
    """report.html and report.md (with its figures in report_files/) in `folder`."""
    from curator.data.atomic import atomic_write_file

    figure_folder = folder / FIGURES_FOLDER
    figure_folder.mkdir(exist_ok=True)
    for figure in figures(sections):
        atomic_write_file(figure_folder / f"{figure.name}.png", lambda path, png=figure.png: path.write_bytes(png))
    page, markdown = to_html(title, subtitle, sections), to_markdown(title, subtitle, sections)
    html_file, md_file = folder / "report.html", folder / "report.md"
    atomic_write_file(html_file, lambda path: path.write_text(page, encoding="utf-8"))
    atomic_write_file(md_file, lambda path: path.write_text(markdown, encoding="utf-8"))
    return html_file, md_file
