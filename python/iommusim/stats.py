"""Statistics as tables."""
from __future__ import annotations

from typing import Any, Dict, List, Mapping


def stats_rows(stats: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """One row per statistic: group, kind ('counter' or 'histogram'), name, field, value."""
    rows: List[Dict[str, Any]] = []
    for group, g in stats.get("groups", {}).items():
        for name, v in g.get("counters", {}).items():
            rows.append({"group": group, "kind": "counter", "name": name, "field": "value", "value": v})
        for name, h in g.get("histograms", {}).items():
            for field, v in h.items():
                rows.append({"group": group, "kind": "histogram", "name": name, "field": field, "value": v})
    return rows


def stats_frame(stats: Mapping[str, Any]) -> Any:
    """A pandas DataFrame of :func:`stats_rows` (pandas is python3-pandas on Debian)."""
    import pandas as pd

    return pd.DataFrame(stats_rows(stats), columns=["group", "kind", "name", "field", "value"])
