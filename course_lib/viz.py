"""Pictures and tables every notebook uses: image grids, curves, simple tables.

Plotting is matplotlib; tables are rendered to HTML in Jupyter and to aligned text elsewhere (no pandas needed).
Each function returns what it drew, so a notebook can add to it and a test can check it.
"""
from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

import numpy as np


def _as_displayable(images: np.ndarray) -> np.ndarray:
    """(n, h, w), (n, h, w, 1) or (n, h, w, 3) -> (n, h, w) or (n, h, w, 3), clipped to [0, 1]."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 2:
        images = images[None]
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(f"images must be (n, h, w), (n, h, w, 1) or (n, h, w, 3), got shape {images.shape}")
    return np.clip(images, 0.0, 1.0)


def image_grid(
    images: np.ndarray,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    ax: Any = None,
    *,
    cell_size: float = 1.3,
    suptitle: str | None = None,
) -> list:
    """Show images in a grid (grey or colour), one optional title each; returns the list of image axes.

    With ``ax`` the grid is drawn inside that axes' place in its figure (so it can sit next to a plot);
    without it a new figure is made.
    """
    import matplotlib.pyplot as plt

    images = _as_displayable(images)
    n = len(images)
    if n == 0:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != n:
        raise ValueError(f"got {n} images but {len(titles)} titles")
    if not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive integer, got {ncols!r}")
    ncols = min(int(ncols), n)
    nrows = int(np.ceil(n / ncols))
    if ax is None:
        fig = plt.figure(figsize=(cell_size * ncols, cell_size * nrows + (0.3 if titles is not None else 0)))
        grid = fig.add_gridspec(nrows, ncols)
    else:
        fig = ax.figure
        grid = ax.get_subplotspec().subgridspec(nrows, ncols)
        ax.remove()
    axes = []
    for i in range(n):
        cell = fig.add_subplot(grid[i // ncols, i % ncols])
        cell.imshow(images[i], cmap="gray" if images.ndim == 3 else None, vmin=0.0, vmax=1.0)
        cell.set_xticks([])
        cell.set_yticks([])
        if titles is not None:
            cell.set_title(str(titles[i]), fontsize=8)
        axes.append(cell)
    if suptitle:
        fig.suptitle(suptitle)
    return axes


def plot_curves(
    curves: Mapping[str, Sequence[Mapping[str, float]]],
    x: str,
    y: str,
    ax: Any = None,
    *,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    logx: bool = False,
    hline: float | None = None,
    hline_label: str | None = None,
) -> Any:
    """One line per named curve, each a list of points like ``[{"eps": 0.1, "acc": 0.9}, ...]`` (the shape results
    are recorded in); ``x`` and ``y`` name the keys to plot. Returns the axes."""
    import matplotlib.pyplot as plt

    if not curves:
        raise ValueError("plot_curves needs at least one curve")
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for name, points in curves.items():
        missing = [k for k in (x, y) if any(k not in p for p in points)]
        if missing:
            raise ValueError(f"curve '{name}' has points without the key(s) {missing}")
        ax.plot([p[x] for p in points], [p[y] for p in points], marker="o", label=name)
    if hline is not None:
        ax.axhline(hline, color="grey", linestyle="--", linewidth=1, label=hline_label)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or y)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_roc(rocs: Mapping[str, tuple[np.ndarray, np.ndarray]], ax: Any = None, *, title: str | None = None) -> Any:
    """ROC curves ``{name: (fpr, tpr)}`` with the chance diagonal; the usual picture of a membership attack."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    for name, (fpr, tpr) in rocs.items():
        ax.plot(fpr, tpr, label=name)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def _cell(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False or value is None:
        return "no" if value is False else ""
    if isinstance(value, (float, np.floating)):
        return f"{value:.3g}"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    return str(value)


def table_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as an aligned plain-text table (booleans as yes/no, big integers with separators)."""
    if not rows:
        raise ValueError("a table needs at least one row")
    columns = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def table_html(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """The same table as HTML, for Jupyter."""
    if not rows:
        raise ValueError("a table needs at least one row")
    columns = list(columns) if columns is not None else list(dict.fromkeys(k for row in rows for k in row))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(row.get(c)))}</td>" for c in columns) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def show_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Display rows of dicts as a table (HTML in Jupyter, text otherwise) and return the text version."""
    text = table_text(rows, columns)
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:  # pragma: no cover - IPython ships with Jupyter
        print(text)
        return text
    if get_ipython() is not None:
        display(HTML(table_html(rows, columns)))
    else:
        print(text)
    return text


ACCESS_COLUMNS = ("architecture", "weights", "gradients", "queries", "data")


def access_rows(accesses: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Turn ``{attack name: access dict}`` (what each attack function reported it used) into table rows with the
    white-box / black-box columns; an attack that did not report a column did not need it. An access dict may
    name its "box" itself (poisoning is neither: it acts on the training data)."""
    rows = []
    for name, access in accesses.items():
        unknown = set(access) - set(ACCESS_COLUMNS) - {"box"}
        if unknown:
            raise ValueError(f"attack '{name}' reports unknown access kinds {sorted(unknown)}; use {ACCESS_COLUMNS}")
        row = {"attack": name}
        row.update({c: access.get(c, False) for c in ACCESS_COLUMNS})
        row["box"] = access.get("box") or ("white" if row["weights"] or row["gradients"] else "black")
        rows.append(row)
    return rows


# Short trait labels for the marks under a reconstruction (seven traits must fit under a 32-pixel thumbnail).
_TRAIT_ABBREVIATIONS = {"body": "bod", "colour": "col", "pattern": "pat", "eyes": "eye", "head": "hd",
                        "mouth": "mth", "accessory": "acc"}


def trait_marks(hits: Sequence[bool], trait_names: Sequence[str], per_line: int = 4) -> str:
    """'bod✓ col✓ pat✗ eye✓ ...' over a few lines: which traits a reconstruction carries (✓) or misses (✗)."""
    if len(hits) != len(trait_names):
        raise ValueError(f"got {len(hits)} trait hits for {len(trait_names)} traits")
    marks = [f"{_TRAIT_ABBREVIATIONS.get(t, t[:3])}{'✓' if hit else '✗'}" for t, hit in zip(trait_names, hits)]
    return "\n".join(" ".join(marks[i : i + per_line]) for i in range(0, len(marks), per_line))


def identity_grid(
    columns: Sequence[tuple[str, np.ndarray]],
    names: Sequence[str],
    predicted: Sequence[int],
    trait_hits: np.ndarray | None = None,
    trait_names: Sequence[str] | None = None,
    *,
    per_row: int = 5,
    cell_size: float = 1.25,
    suptitle: str | None = None,
) -> Any:
    """Every identity side by side: one image per column (e.g. private | rebuilt), the judge's verdict and traits.

    ``columns``: (label, images) pairs, images (n_ids, h, w, c) in identity order; the verdict sits under the last.
    ``predicted``: the judge's top-1 label index per identity; ``trait_hits`` (n_ids, n_traits) booleans.
    Identities are laid out ``per_row`` to a row, so all of them fit on one figure. Returns the figure.
    """
    import matplotlib.pyplot as plt

    n_ids = len(names)
    if not columns:
        raise ValueError("identity_grid needs at least one column of images")
    shown = [(label, _as_displayable(images)) for label, images in columns]
    for label, images in shown:
        if len(images) != n_ids:
            raise ValueError(f"column {label!r} has {len(images)} images for {n_ids} identities")
    if len(predicted) != n_ids:
        raise ValueError(f"got {len(predicted)} predictions for {n_ids} identities")
    if trait_hits is not None and (trait_names is None or np.shape(trait_hits) != (n_ids, len(trait_names))):
        raise ValueError("trait_hits must be (n_identities, n_traits) and come with trait_names")
    per_row = max(1, min(int(per_row), n_ids))
    n_blocks = int(np.ceil(n_ids / per_row))
    k = len(shown)
    caption_height = 0.55 if trait_hits is not None else 0.3
    fig = plt.figure(figsize=(cell_size * k * per_row + 0.2 * per_row,
                              n_blocks * (cell_size + caption_height + 0.25)))
    grid = fig.add_gridspec(n_blocks, per_row * k, wspace=0.05, hspace=0.9 if trait_hits is not None else 0.5)
    for i in range(n_ids):
        block, slot = divmod(i, per_row)
        right = predicted[i] == i
        for j, (label, images) in enumerate(shown):
            cell = fig.add_subplot(grid[block, slot * k + j])
            cell.imshow(images[i], cmap="gray" if images.ndim == 3 else None, vmin=0.0, vmax=1.0)
            cell.set_xticks([])
            cell.set_yticks([])
            cell.set_title(f"{names[i]}\n{label}" if j == 0 else f"\n{label}", fontsize=7)
            if j == k - 1:
                verdict = f"judge: {names[predicted[i]]} {'✓' if right else '✗'}"
                if trait_hits is not None:
                    verdict += "\n" + trait_marks(trait_hits[i], trait_names)
                cell.set_xlabel(verdict, fontsize=6, color="black" if right else "firebrick")
                for spine in cell.spines.values():
                    spine.set_edgecolor("seagreen" if right else "firebrick")
                    spine.set_linewidth(2)
    if suptitle:
        fig.suptitle(suptitle)
    return fig
