"""Write a CSV file as Parquet with pyarrow, as a user's pandas or pyarrow job would.

Usage: python to_parquet.py IN.csv OUT.parquet [CODEC] [EXTRA]
CODEC: snappy (pyarrow's default), zstd, gzip or none. EXTRA adds a column mlinfra does not
take: `timestamp` (a column `seen_at` of timestamps) or `struct` (a column `point` of structs).
"""
import datetime
import sys

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

src, dst = sys.argv[1], sys.argv[2]
codec = sys.argv[3] if len(sys.argv) > 3 else "snappy"
extra = sys.argv[4] if len(sys.argv) > 4 else ""
table = pacsv.read_csv(src)
n = table.num_rows
if extra == "timestamp":
    start = datetime.datetime(2026, 1, 1)
    table = table.append_column("seen_at", pa.array([start + datetime.timedelta(hours=i) for i in range(n)]))
elif extra == "struct":
    table = table.append_column("point", pa.array([{"x": i, "y": -i} for i in range(n)]))
pq.write_table(table, dst, compression=codec)
