"""Names of column types and problem types."""

NUMERICAL = "numerical"
CATEGORICAL = "categorical"
TEXT = "text"
IMAGE = "image_path"
IGNORE = "null"
COLUMN_TYPES = (NUMERICAL, CATEGORICAL, TEXT, IMAGE, IGNORE)
COLUMN_TYPE_ALIASES = {"image": IMAGE, "ignore": IGNORE, "drop": IGNORE, "numeric": NUMERICAL, "category": CATEGORICAL}

BINARY = "binary"
MULTICLASS = "multiclass"
REGRESSION = "regression"
PROBLEM_TYPES = (BINARY, MULTICLASS, REGRESSION)
CLASSIFICATION = (BINARY, MULTICLASS)
