"""artstyle.analysis."""
