"""Writes the messy sample files in this folder (committed; rerun to regenerate)."""

from pathlib import Path

import xlsxwriter

HERE = Path(__file__).parent

(HERE / "bom_semicolons.csv").write_bytes("\ufeff".encode() + (
    "First Name;Last Name;E-mail;NPI;Phone\r\n"
    "Zoë;Müller;zoe.muller@example.com;1245319599;+49 30 901820\r\n"
    "Jane;Smith;jane.smith@example.com;1234567893;+1 (415) 555-2671\r\n").encode())

(HERE / "windows1252.csv").write_bytes((
    "first_name,last_name,email,therapy license\r\n"
    "Zoë,Müller,zoe.muller@example.com,Psychologue diplômée\r\n"
    "François,Dubé,francois.dube@example.com,LCSW\r\n").encode("cp1252"))

(HERE / "blank_lines_extra_columns.tsv").write_bytes(
    b"\n"
    b"Given name\tSurname\tEmail Address\tDepartment\tNote identifier\n"
    b"Ann\tLee\tann.lee@example.com\tIntake\tDr. + last name\n"
    b"\n"
    b"\t\t\t\t\n"
    b"Bo\tKim\tbo.kim@example.com\tAdults\tpeer support specialist\n")

(HERE / "missing_required.csv").write_bytes(
    b"First Name,Email\nJane,jane@example.com\n")

(HERE / "duplicates_and_errors.csv").write_bytes(
    b"First name,Last name,Email,NPI,Your reference\n"
    b"Ok,Person,ok@example.com,1234567893,emp-1\n"
    b"Same,Email,OK@example.com,,emp-2\n"
    b"Same,Reference,other@example.com,,EMP-1\n"
    b"Bad,Npi,bad.npi@example.com,1234567890,\n"
    b",Nofirst,nofirst@example.com,,\n")

(HERE / "not_a_spreadsheet.csv").write_bytes(bytes(range(256)) * 4)

with xlsxwriter.Workbook(str(HERE / "excel_mangled.xlsx")) as book:
    sheet = book.add_worksheet("Providers")
    sheet.write_row(0, 0, ["Given name", "Surname", "Email Address", "NPI", "Mobile",
                           "Country code", "Start date"])
    sheet.write_row(1, 0, ["Jane", "Smith", "jane.smith@example.com"])
    sheet.write_number(1, 3, 1234567893)  # Excel keeps it as 1234567893.0
    sheet.write_number(1, 4, 4155552671)
    sheet.write_number(1, 5, 1)
    sheet.write_datetime(1, 6, __import__("datetime").datetime(2026, 1, 5),
                         book.add_format({"num_format": "yyyy-mm-dd"}))
    sheet.write_row(3, 0, ["Ravi", "Patel", "ravi.patel@example.com"])  # row 3 left blank
