"""Sphinx configuration: MyST markdown, the furo theme, math as MathML, nothing fetched at view time."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))
# The diagnoses page and the screenshots run the self-tests' mutant table (test data, kept in tests/).
sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "selftest"))

project = "verigrad"
author = "verigrad contributors"
copyright = "2026, verigrad contributors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxarg.ext",
    "verigrad_docs",
]

myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
html_math_renderer = "mathml"

exclude_patterns = ["_build", "_generated"]
html_theme = "furo"
html_title = "verigrad"
html_static_path = ["_static"]
html_css_files = ["verigrad.css"]
html_show_sourcelink = False
html_copy_source = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}

# A guide page another branch has not merged yet is not an error: the glob toctrees pick them up when they land.
suppress_warnings = ["toc.empty_glob"]
