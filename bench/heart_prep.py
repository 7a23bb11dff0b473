"""The peers' preprocessing of heart-shaped data, as mlinfra's: columns, imputation, encoding."""
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

categorical = [1, 2, 5, 6, 8, 10, 11, 12]
numeric = [0, 3, 4, 7, 9]
# Logistic regression: median-imputed, standardised numbers; one-hot categories.
lr_prep = ColumnTransformer([
    ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
    ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                      ("onehot", OneHotEncoder(handle_unknown="ignore"))]), categorical),
])
# Trees: imputed raw values.
tree_prep = ColumnTransformer([
    ("num", SimpleImputer(strategy="median"), numeric),
    ("cat", SimpleImputer(strategy="most_frequent"), categorical),
])
