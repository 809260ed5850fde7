"""artstyle.generate."""
