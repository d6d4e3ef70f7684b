"""What the Google Sheets tests share: the spreadsheet they write to, and a plain query of the test database."""

from typing import Any

import psycopg
from psycopg.rows import dict_row

SHEET_ID = "1sheet-of-calls-0123456789abcdefghijklmnop"
HEADER = ["Call id", "From", "Status"]


def query(database_url: str, sql: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()
