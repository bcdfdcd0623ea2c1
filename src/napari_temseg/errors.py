"""The one exception type users see: it says what went wrong and what to do."""


class TemsegError(Exception):
    """An error caused by the user's input or environment, with a message fit to print.

    The CLI prints these as one line without a traceback; widgets show them in
    a notification. Anything else escaping the core is a bug.
    """
