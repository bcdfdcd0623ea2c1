"""A markdown table the benchmark scripts print row by row (so a long run shows progress)
and may also write to a file."""

from __future__ import annotations


class MarkdownTable:
    def __init__(self, *header_lines: str) -> None:
        self.lines = list(header_lines)
        print("\n".join(self.lines), flush=True)

    def add(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)

    def write(self, path: str | None) -> None:
        """Write the table to `path` (nothing when None)."""
        if path:
            with open(path, "w") as fh:
                fh.write("\n".join(self.lines) + "\n")
