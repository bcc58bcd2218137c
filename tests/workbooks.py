"""Reading what an exported workbook really holds: formulas, links, filters, typed cells."""

from __future__ import annotations

import io
import re
import zipfile


def part(workbook: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        return archive.read(name).decode()


def sheet_xml(workbook: bytes, number: int = 1) -> str:
    return part(workbook, f"xl/worksheets/sheet{number}.xml")


def formulas(workbook: bytes) -> list[str]:
    """Every formula in every sheet (an <f> element): a string cell is never one."""
    found: list[str] = []
    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/sheet"):
                found += re.findall(r"<f>(.*?)</f>", archive.read(name).decode())
    return found


def hyperlinks(workbook: bytes) -> list[str]:
    """The targets of the first sheet's hyperlinks."""
    with zipfile.ZipFile(io.BytesIO(workbook)) as archive:
        names = [n for n in archive.namelist() if n.endswith("sheet1.xml.rels")]
        if not names:
            return []
        return re.findall(r'Target="([^"]*)" TargetMode="External"',
                          archive.read(names[0]).decode())


def column_widths(workbook: bytes, number: int = 1) -> dict[int, float]:
    """{column index from 0: width in characters} as the sheet sets them."""
    return {int(m.group(1)) - 1: float(m.group(2)) for m in re.finditer(
        r'<col min="(\d+)" max="\d+" width="([\d.]+)"', sheet_xml(workbook, number))}
