"""The text table `python -m training evaluate` prints: heading lines, then one row per figure
in three columns (the metric, the model's figure, what to read it against)."""

from __future__ import annotations

Row = tuple[str, str, str]


def metric_table(heading: list[str], titles: Row, rows: list[Row], align: str = ">") -> str:
    """Columns as wide as their longest cell; `align` the second column's ("<" or ">")."""
    w0 = max(len(r[0]) for r in [*rows, titles])
    w1 = max(len(r[1]) for r in [*rows, titles])
    lines = [
        *heading,
        "",
        f"{titles[0]:<{w0}}  {titles[1]:{align}{w1}}  {titles[2]}",
        f"{'-' * w0}  {'-' * w1}  {'-' * len(titles[2])}",
    ]
    lines += [f"{a:<{w0}}  {b:{align}{w1}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
