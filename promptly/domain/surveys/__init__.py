"""The survey after a visit."""
