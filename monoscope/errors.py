"""The one exception type users see: a single line that says what was expected."""


class MonoscopeError(Exception):
    """Bad input or state at a boundary. The CLI prints it on one line and exits 2."""
