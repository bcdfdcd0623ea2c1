"""The one exception type users see: it says what went wrong and what to do."""


class TemsegError(Exception):
    """An error caused by the user's input or environment, with a message fit to print.

    The CLI prints these as one line without a traceback; widgets show them in
    a notification. Anything else escaping the core is a bug.
    """


def short_reason(err: BaseException, limit: int = 160) -> str:
    """A library's exception in a few words for a one-line message: its type and the first
    line of its text (readers' messages run on with tracebacks or install advice)."""
    first = (str(err).strip().splitlines() or [""])[0][:limit]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
