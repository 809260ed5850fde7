"""Runs and data files -> the parts of the report's sections: one module per kind of result."""
