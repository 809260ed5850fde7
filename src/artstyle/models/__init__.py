"""artstyle.models."""
