"""Names shared by every layer: the version, registry keys, output keys, normalisation."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("uge")
except PackageNotFoundError:  # pragma: no cover
    VERSION = "0.0.0"

# scvi-tools registry keys of the fields UGE registers beside scvi's own
SPECIES_KEY = "species"
CONDITION_KEY = "condition"

# expression is log-normalised as log1p(counts per TARGET_SUM) wherever uge normalises
TARGET_SUM = 1e4

# reactome columns are "<label>SEP<condition>"
SEP = "|"

# keys uge writes into a user's AnnData (the table in docs/api.md lists them all)
LATENT_KEY = "X_uge"
UNS_KEY = "uge"
