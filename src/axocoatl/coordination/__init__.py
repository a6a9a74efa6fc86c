"""coordination layer."""
