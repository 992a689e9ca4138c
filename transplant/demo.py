"""The transplant part of the demo bank (issue 12): filled in as the app is built."""


def load(ctx: dict) -> None:
    return None
