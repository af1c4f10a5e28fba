"""The command's data files, under their public path; the code is :mod:`gaussmix.files.tables`."""

from gaussmix.files.tables import STDIN, DataFileWarning, Table, read_table, write_table

__all__ = ["STDIN", "DataFileWarning", "Table", "read_table", "write_table"]
