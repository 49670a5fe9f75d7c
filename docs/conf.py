"""Sphinx configuration for the uge documentation."""

from __future__ import annotations

import os
import sys
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).parent
# Document the source tree of this checkout (also works without installing uge).
sys.path.insert(0, str(HERE.parent / "src"))

# -- Project -------------------------------------------------------------------
project = "uge"
author = "the uge developers"
copyright = "2026, the uge developers"
try:
    release = version("uge")
except PackageNotFoundError:  # pragma: no cover
    release = "0.1.0"
version = ".".join(release.split(".")[:2])

# sphinx-autodoc-typehints calls a Sphinx API deprecated for Sphinx 10: Python-level noise
# (not a Sphinx warning), silenced so that the build log stays readable.
warnings.filterwarnings("ignore", message=r".*_RstSnippetParser\.set_application.*")

# -- General -------------------------------------------------------------------
extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx_autodoc_typehints",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
master_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
default_role = "literal"

# -- MyST / MyST-NB --------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "amsmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"  # notebooks are shown as committed, never executed on build
nb_merge_streams = True

# -- Autodoc / autosummary / napoleon ----------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_member_order = "groupwise"
autodoc_typehints = "none"  # types are rendered by sphinx_autodoc_typehints
autodoc_mock_imports: list[str] = []
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_include_init_with_doc = False
napoleon_use_rtype = True
napoleon_use_param = True
typehints_defaults = "comma"
always_document_param_types = False
typehints_use_signature = False
nitpicky = False


def _scvi_members() -> list[str]:
    """Members UGE inherits from scvi-tools' base classes: left to scvi-tools' docs."""
    from scvi.model.base import BaseModelClass, UnsupervisedTrainingMixin

    return sorted(set(dir(BaseModelClass)) | set(dir(UnsupervisedTrainingMixin)))


# the class template lists UGE's own methods and those of its mixins (predict_labels,
# map_genes, load_query_data, ...), not scvi-tools' base-class members
autosummary_context = {"scvi_members": _scvi_members()}

# -- Intersphinx -------------------------------------------------------------------
# The build must work without internet (CI, air-gapped machines): UGE_DOCS_OFFLINE=1
# disables all inventories, so no fetch is attempted and no warning is raised.
if os.environ.get("UGE_DOCS_OFFLINE", "") in ("1", "true", "True", "yes"):
    intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
else:
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "pandas": ("https://pandas.pydata.org/docs/", None),
        "anndata": ("https://anndata.readthedocs.io/en/stable/", None),
        "scanpy": ("https://scanpy.readthedocs.io/en/stable/", None),
        "scvi-tools": ("https://docs.scvi-tools.org/en/stable/", None),
        "torch": ("https://docs.pytorch.org/docs/stable/", None),
    }
intersphinx_timeout = 10

# -- HTML --------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "uge"
html_static_path: list[str] = []
html_theme_options = {"navigation_with_keys": False}
