"""Tracks tables, fusion events and napari's Tracks layer data from tracked labels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import TemsegError
from ..instances import label_stats


def frame_table(t: int, labels: np.ndarray) -> pd.DataFrame:
    """One row per particle in one tracked frame: frame, track_id, y, x, area (pixels)."""
    area, cy, cx = label_stats(labels)
    ids = np.nonzero(area)[0][1:]
    return pd.DataFrame(
        {"frame": t, "track_id": ids.astype(np.int64), "y": cy[ids], "x": cx[ids], "area": area[ids].astype(np.int64)}
    )


def tracks_table(labels: np.ndarray) -> pd.DataFrame:
    """Rows for every particle in every frame of a (T, Y, X) tracked stack."""
    tables = [frame_table(t, np.asarray(labels[t])) for t in range(labels.shape[0])]
    return pd.concat(tables, ignore_index=True) if tables else frame_table(0, np.zeros((1, 1), int))


def lineage_graph(events: list[dict]) -> dict[int, list[int]]:
    """napari Tracks `graph`: {child: [parents]} for every fusion event."""
    return {int(e["child"]): [int(p) for p in e["parents"]] for e in events}


def napari_tracks_data(table: pd.DataFrame) -> np.ndarray:
    """(N, 4) array of track_id, t, y, x sorted by track then time, as napari's Tracks layer wants."""
    data = table[["track_id", "frame", "y", "x"]].to_numpy(dtype=float)
    order = np.lexsort((data[:, 1], data[:, 0]))
    return data[order]


#: How sure a fusion's onset is: the first frame of contact lies in [earliest, latest] (the
#: frame after the parents were last seen apart; the first frame of the merge that lasted).
ONSET_COLUMNS = ("onset_earliest", "onset_latest")


def events_table(events: list[dict]) -> pd.DataFrame:
    """events.csv layout: frame, child, parents (joined by ';'), and the onset window
    (`ONSET_COLUMNS`; empty for events that have none, such as hand-made ones)."""
    onset = {c: pd.array([e.get(c) for e in events], dtype="Int64") for c in ONSET_COLUMNS}
    return pd.DataFrame(
        {
            "frame": [int(e["frame"]) for e in events],
            "child": [int(e["child"]) for e in events],
            "parents": [";".join(str(int(p)) for p in e["parents"]) for e in events],
            **onset,
        },
        columns=["frame", "child", "parents", *ONSET_COLUMNS],
    )


def parse_events(table: pd.DataFrame, source: str = "events table") -> list[dict]:
    """Inverse of `events_table`; a row that is not frame, child and parents (IDs joined by
    ';') as integers is an error naming its row."""
    missing = {"frame", "child", "parents"} - set(table.columns)
    if missing:
        raise TemsegError(f"{source}: needs columns frame, parents, child; missing {', '.join(sorted(missing))}")
    events = []
    for row, r in enumerate(table.itertuples(), start=2):  # row 1 is the header
        try:
            event = {"frame": int(r.frame), "child": int(r.child),
                     "parents": [int(p) for p in str(r.parents).split(";")]}
            event.update({c: int(getattr(r, c)) for c in ONSET_COLUMNS if not pd.isna(getattr(r, c, None))})
            events.append(event)
        except (TypeError, ValueError):
            raise TemsegError(
                f"{source}, row {row}: frame, child and parents must be whole numbers (parents joined by ';'), "
                f"not {r.frame!r}, {r.child!r}, {r.parents!r}"
            ) from None
    return events
