"""A corpus of hostile upload files, made on demand (never committed as big binaries).

Each is small on the wire and enormous, or slow, once opened naively.
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Callable

_CONTENT_TYPES = (b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package'
                  b'/2006/content-types"><Default Extension="rels" ContentType="application/'
                  b'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
                  b'ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
                  b'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
                  b'sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType='
                  b'"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                  b'</Types>')
_RELS = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
         b'2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
         b'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
         b'</Relationships>')
_WORKBOOK = (b'<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
             b'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/'
             b'2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets>'
             b'</workbook>')
_WORKBOOK_RELS = (b'<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                  b'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
                  b'openxmlformats.org/officeDocument/2006/relationships/worksheet" Target='
                  b'"worksheets/sheet1.xml"/></Relationships>')


def workbook(sheet_xml: bytes) -> bytes:
    """A minimal .xlsx around one sheet's XML, deflated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES)
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", _WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return buffer.getvalue()


def _sheet(dimension: str, cells: list[tuple[str, int, str]], padding: bytes = b"") -> bytes:
    rows = "".join(f'<row r="{row}"><c r="{col}{row}" t="inlineStr"><is><t>{text}</t></is></c>'
                   f"</row>" for col, row, text in cells)
    return (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
            b'spreadsheetml/2006/main"><dimension ref="' + dimension.encode() + b'"/>'
            b"<sheetData>" + rows.encode() + padding + b"</sheetData></worksheet>")


# Each file's maker, by name: a test module that only lists the names (to parametrize its
# tests) makes none; deflating the zip bomb's 150 MB alone takes most of a second.
MAKERS: dict[str, Callable[[], bytes]] = {
    # Issue 11's 1.6 KB workbook that aborted the whole server: a sheet claiming every cell.
    "sheet claiming A1:XFD1048576": lambda: workbook(_sheet(
        "A1:XFD1048576", [("A", 1, "First name"), ("XFD", 1048576, "x")])),
    # Two million rows declared, two cells present.
    "sheet spanning A1:Z2000000": lambda: workbook(_sheet(
        "A1:Z2000000", [("A", 1, "Email"), ("Z", 2000000, "x")])),
    # The same, without the dimension element to give it away.
    "far cell without a dimension": lambda: workbook(_sheet(
        "A1", [("A", 1, "Email"), ("B", 2, "a@b.co"), ("ZZ", 900000, "x")]).replace(
        b'<dimension ref="A1"/>', b"")),
    # 150 MB of XML packed into a few hundred KB.
    "zip bomb": lambda: workbook(_sheet("A1:A2", [("A", 1, "Email"), ("A", 2, "a@b.co")],
                                        padding=b" " * 150_000_000)),
    "40,003 columns": lambda: (",".join(f"c{i}" for i in range(40_003)) + "\n"
                               + ",".join("x" for _ in range(40_003)) + "\n").encode(),
    "a million blank rows": lambda: (b"First name,Last name,Email\nA,B,a@b.co\n"
                                     + b"\n" * 1_000_000),
    "a 1 MB cell": lambda: b"First name,Last name,Email\n" + b"A" * 1_000_000 + b",B,a@b.co\n",
}


@functools.cache
def hostile(name: str) -> bytes:
    """The file called `name` in MAKERS, made once per process."""
    return MAKERS[name]()


def corpus() -> dict[str, bytes]:
    return {name: hostile(name) for name in MAKERS}


def utf16_files() -> dict[str, bytes]:
    text = "First name\tLast name\tEmail\nZoë\tMüller\tzoe@example.com\nJosé\tNuñez\tjose@example.com\n"
    comma = text.replace("\t", ",")
    return {
        "Excel's Unicode Text (UTF-16 LE with BOM, tabs)": b"\xff\xfe" + text.encode("utf-16-le"),
        "UTF-16 BE with BOM, commas": b"\xfe\xff" + comma.encode("utf-16-be"),
        "UTF-16 LE without BOM, tabs": text.encode("utf-16-le"),
    }
