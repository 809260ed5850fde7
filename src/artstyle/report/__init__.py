"""artstyle.report."""
