"""Write the regression data sets the tests and benchmarks use (committed; run again to check).

- diabetes.csv: scikit-learn's diabetes data, unscaled (442 rows, 10 numbers; target `progression`,
  a disease progression score one year after baseline). BSD licence, bundled with scikit-learn.
- cars.csv: the Vega cars data (406 rows; target `mpg`, eight of them missing; `origin` is text:
  USA, Europe, Japan; `horsepower` has missing values), from the `vega_datasets` package (BSD).

Usage: python regression_fixtures.py OUT_DIR [VEGA_CARS_JSON]
"""
import csv
import json
import sys

from sklearn.datasets import load_diabetes

out = sys.argv[1]
d = load_diabetes(scaled=False)
names = ["age", "sex", "bmi", "bp", "tc", "ldl", "hdl", "tch", "ltg", "glu"]
with open(f"{out}/diabetes.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(names + ["progression"])
    for row, y in zip(d.data, d.target):
        w.writerow([f"{v:g}" for v in row] + [f"{y:g}"])

if len(sys.argv) > 2:
    cars = json.load(open(sys.argv[2]))
    cols = [("cylinders", "Cylinders"), ("displacement", "Displacement"),
            ("horsepower", "Horsepower"), ("weight", "Weight_in_lbs"),
            ("acceleration", "Acceleration")]
    with open(f"{out}/cars.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([c for c, _ in cols] + ["year", "origin", "mpg"])
        for c in cars:
            cells = ["" if c[k] is None else f"{c[k]:g}" for _, k in cols]
            mpg = "" if c["Miles_per_Gallon"] is None else f"{c['Miles_per_Gallon']:g}"
            w.writerow(cells + [c["Year"][:4], c["Origin"], mpg])
