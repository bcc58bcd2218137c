"""Bulk import: read (CSV/XLSX -> rows), prepare (map, clean, validate), run (the paced job)."""
