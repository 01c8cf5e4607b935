"""Build examples/listing/catalog.csv from ../shared/data (see LICENSE.md beside it).

PYTHONPATH=src python examples/listing/build_catalog.py   # from the repository root
"""

from __future__ import annotations

import json
from pathlib import Path

from pasar.apps.listing.catalog import write_catalog
from pasar.data.catalogs import abo_rows, retail_rows

SHARED = Path("../shared/data")
OUT = Path("examples/listing/catalog.csv")

if __name__ == "__main__":
    db = json.loads((SHARED / "retail" / "db.json").read_text())
    rows = abo_rows(SHARED / "images" / "aws_product_samples") + retail_rows(db)
    n = write_catalog(rows, OUT)
    print(f"{n} items -> {OUT}")
