"""Errors that the command line turns into one clear line and exit code 2."""


class ArtstyleError(Exception):
    """Bad input or usage: the message names the file or key and says what to do.

    The CLI prints ``error: <message>`` on stderr and exits with code 2.
    Anything else that escapes is an internal error (exit code 1).
    """
