"""The peers' preprocessing of heart-shaped data, as mlinfra's: columns, imputation, encoding."""
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def preps(categorical, numeric):
    """For linear models: median-imputed, standardised numbers and one-hot categories; for trees:
    imputed raw values."""
    linear = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]), numeric),
        ("cat", Pipeline([("impute", SimpleImputer(strategy="most_frequent")),
                          ("onehot", OneHotEncoder(handle_unknown="ignore"))]), categorical),
    ])
    trees = ColumnTransformer([
        ("num", SimpleImputer(strategy="median"), numeric),
        ("cat", SimpleImputer(strategy="most_frequent"), categorical),
    ])
    return linear, trees


# The 13 features of the heart data, `num` the label.
lr_prep, tree_prep = preps(categorical=[1, 2, 5, 6, 8, 10, 11, 12], numeric=[0, 3, 4, 7, 9])
# The regression of `chol` (column 4, removed): the other 12 features and `num` (a number).
reg_linear_prep, reg_tree_prep = preps(categorical=[1, 2, 4, 5, 7, 9, 10, 11], numeric=[0, 3, 6, 8, 12])
