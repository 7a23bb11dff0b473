"""Write the regression data sets the tests and benchmarks use (committed; run again to check).

- diabetes.csv: scikit-learn's diabetes data, unscaled (442 rows, 10 numbers; target `progression`,
  a disease progression score one year after baseline). BSD licence, bundled with scikit-learn.
- cars.csv: the Vega cars data (406 rows; target `mpg`, eight of them missing; `origin` is text:
  USA, Europe, Japan; `horsepower` has missing values), from the `vega_datasets` package (BSD).
- seattle.csv: Seattle's daily weather 2012-2015 from the same package (1461 rows; target
  `temp_max`; `weather` is text: drizzle, rain, sun, snow, fog; the date as `month`).

- friedman.csv: Friedman's regression problem #1 (scikit-learn's `make_friedman1`, 3000 rows,
  seed 0, noise 1.0): `y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 + 10 x4 + 5 x5 + noise`, five of the
  ten features pure noise; large enough that a 90% interval's coverage of its holdout is measured
  to about 1%.

Usage: python regression_fixtures.py OUT_DIR [VEGA_DATA_DIR]
(`pip download vega_datasets==0.9.0`, unzip, and pass its `vega_datasets/_data`.)
"""
import csv
import json
import sys

from sklearn.datasets import load_diabetes, make_friedman1

out = sys.argv[1]
d = load_diabetes(scaled=False)
names = ["age", "sex", "bmi", "bp", "tc", "ldl", "hdl", "tch", "ltg", "glu"]
with open(f"{out}/diabetes.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(names + ["progression"])
    for row, y in zip(d.data, d.target):
        w.writerow([f"{v:g}" for v in row] + [f"{y:g}"])

x, y = make_friedman1(n_samples=3000, n_features=10, noise=1.0, random_state=0)
with open(f"{out}/friedman.csv", "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow([f"x{i + 1}" for i in range(10)] + ["y"])
    for row, t in zip(x, y):
        w.writerow([f"{v:.4f}" for v in row] + [f"{t:.4f}"])

if len(sys.argv) > 2:
    vega = sys.argv[2]
    with open(f"{vega}/seattle-weather.csv") as f, open(f"{out}/seattle.csv", "w", newline="") as o:
        w = csv.writer(o, lineterminator="\n")
        w.writerow(["month", "precipitation", "temp_min", "wind", "weather", "temp_max"])
        for r in csv.DictReader(f):
            w.writerow([int(r["date"][5:7]), r["precipitation"], r["temp_min"], r["wind"],
                        r["weather"], r["temp_max"]])
    cars = json.load(open(f"{vega}/cars.json"))
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
