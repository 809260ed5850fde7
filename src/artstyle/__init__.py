"""artstyle."""
