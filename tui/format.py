"""Text forms of durations, sizes, statuses and edges on screen."""

from __future__ import annotations

from tui.model import Status

STATUS_ICONS = {
    Status.WAITING: "○",
    Status.RUNNING: "●",
    Status.CACHED: "✔",
    Status.DONE: "✔",
    Status.FAILED: "✘",
    Status.PAUSED: "‖",
    Status.STOPPED: "■",
    Status.NOT_NEEDED: "⊘",
}

EDGE_GLYPHS = {"from": "━━", "copy": "══", "mount": "┄┄"}
EDGE_WORDS = {"from": "FROM", "copy": "COPY --from", "mount": "RUN --mount from"}

BREAKPOINT_MARK = "●"


def status_class(status: Status) -> str:
    """Return the dash-prefixed CSS class of a status, such as `-not-needed`."""
    return "-" + status.value.replace(" ", "-")


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_size(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(value) < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def short_image(image: str | None) -> str:
    return image[:12] if image else ""


def shorten(text: str, width: int) -> str:
    """Cut `text` to `width` characters with an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
