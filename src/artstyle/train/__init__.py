"""artstyle.train."""
