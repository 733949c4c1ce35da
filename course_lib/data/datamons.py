"""The Datamons: the course's cast of cartoon creatures, drawn by code.

Why drawn: the attacks of the course try to rebuild a person's portrait from a classifier; cartoon creatures let us
do that without a photo of any real person, and every reconstruction can be scored against the true traits of the
identity it tried to recover. An identity is a fixed combination of traits (body, colour, pattern, eyes, head,
mouth, accessory); a portrait varies what a photo varies (pose, scale, position, expression, lighting, background).

The renderer is vectorised: every shape is a signed distance field evaluated on broadcast coordinate grids for a
whole batch of portraits at once (no per-pixel or per-portrait Python loop), then alpha-composited with
antialiased edges. No drawing library rasterises SDFs on numpy batches, hence the hand-written primitives below.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

# Bump when a change to the drawing should make shipped checkpoints stale: it enters their data identity exactly
# (course_lib.data.identity), while the pixels themselves are compared within a tolerance, since they differ in
# their last bits between CPUs.
RENDERER_VERSION = 1

# --- identities ---------------------------------------------------------------------------------------------------

TRAITS: dict[str, tuple[str, ...]] = {
    "body": ("round", "tall", "wide", "pear", "square"),
    "colour": ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink"),
    "pattern": ("plain", "spots", "stripes", "belly"),
    "eyes": ("round", "cyclops", "sleepy", "tiny"),
    "head": ("none", "cat ears", "bunny ears", "horns", "antenna", "tuft"),
    "mouth": ("smile", "open", "fangs", "beak"),
    "accessory": ("none", "glasses", "bowtie", "scarf", "medal"),
}

NAMED: tuple[str, ...] = (
    "Streamèche", "Realticèle", "DS-Li", "FastFeu", "Prototys", "SciProduce", "Securti", "Securalto",
    "SciProdaffe", "Buildy", "ML-Li", "AI-Li", "Productor", "SciProdank", "Securmax",
)

# The named cast, in NAMED order. Families share traits on purpose (the Li are green pears, the Secur are blue,
# the SciProd are wide or purple), so raw pixels confuse relatives while a CNN can still tell them apart:
# any two named identities differ in at least three traits (a test checks it).
_NAMED_TRAITS: tuple[tuple[str, ...], ...] = (
    # body     colour    pattern    eyes       head          mouth    accessory
    ("round", "blue", "stripes", "round", "tuft", "smile", "scarf"),          # Streamèche
    ("tall", "yellow", "plain", "sleepy", "antenna", "open", "glasses"),     # Realticèle
    ("pear", "green", "spots", "round", "cat ears", "smile", "glasses"),     # DS-Li
    ("round", "red", "stripes", "round", "horns", "fangs", "none"),          # FastFeu
    ("square", "yellow", "plain", "tiny", "antenna", "smile", "bowtie"),     # Prototys
    ("wide", "purple", "belly", "round", "bunny ears", "open", "glasses"),   # SciProduce
    ("square", "blue", "plain", "sleepy", "horns", "fangs", "medal"),        # Securti
    ("tall", "blue", "belly", "sleepy", "cat ears", "smile", "medal"),       # Securalto
    ("tall", "orange", "spots", "round", "horns", "beak", "bowtie"),         # SciProdaffe
    ("square", "orange", "stripes", "tiny", "none", "open", "scarf"),        # Buildy
    ("pear", "green", "belly", "cyclops", "antenna", "smile", "none"),       # ML-Li
    ("pear", "teal", "stripes", "cyclops", "tuft", "beak", "none"),          # AI-Li
    ("wide", "purple", "stripes", "tiny", "horns", "smile", "bowtie"),       # Productor
    ("wide", "pink", "belly", "sleepy", "bunny ears", "beak", "medal"),      # SciProdank
    ("square", "blue", "spots", "round", "cat ears", "fangs", "scarf"),      # Securmax
)


@dataclass(frozen=True)
class Identity:
    """A Datamon identity: a name and one value for every trait in ``TRAITS``."""

    name: str
    traits: Mapping[str, str]

    def __post_init__(self) -> None:
        if set(self.traits) != set(TRAITS):
            raise ValueError(f"identity {self.name!r} must give exactly the traits {', '.join(TRAITS)}")
        for trait, value in self.traits.items():
            if value not in TRAITS[trait]:
                raise ValueError(
                    f"identity {self.name!r}: {trait} {value!r} is not one of {', '.join(TRAITS[trait])}"
                )

    def code(self) -> tuple[int, ...]:
        """The trait values as indices into ``TRAITS`` (in ``TRAITS`` order)."""
        return tuple(TRAITS[t].index(self.traits[t]) for t in TRAITS)


def _identity(name: str, values: Sequence[str]) -> Identity:
    return Identity(name, dict(zip(TRAITS, values)))


def named_identities() -> list[Identity]:
    """The 15 named Datamons, the private cast; label i is ``NAMED[i]``."""
    return [_identity(name, values) for name, values in zip(NAMED, _NAMED_TRAITS)]


def pairwise_shared_traits() -> np.ndarray:
    """(15, 15) number of traits each pair of named Datamons shares (the diagonal is len(TRAITS))."""
    codes = np.array([i.code() for i in named_identities()])
    return (codes[:, None, :] == codes[None, :, :]).sum(axis=2)


def public_identities(n: int = 200, seed: int = 0) -> list[Identity]:
    """``n`` anonymous identities drawn from the same trait space, for an attacker's public data.

    Each differs from every named Datamon in at least two traits, so the public set never contains (or nearly
    contains) a private identity; all are distinct.
    """
    _require_count("n", n)
    named = np.array([i.code() for i in named_identities()])
    sizes = [len(values) for values in TRAITS.values()]
    space = int(np.prod(sizes))
    if n > space // 2:
        raise ValueError(f"n={n} public identities is too many: the trait space holds {space} combinations")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xDA7A]))
    chosen: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(chosen) < n:
        draws = np.stack([rng.integers(0, k, size=2 * n) for k in sizes], axis=1)
        far = (draws[:, None, :] != named[None, :, :]).sum(axis=2).min(axis=1) >= 2
        for code in map(tuple, draws[far]):
            if code not in seen and len(chosen) < n:
                seen.add(code)
                chosen.append(code)
    return [
        _identity(f"public-{k:03d}", [TRAITS[t][v] for t, v in zip(TRAITS, code)]) for k, code in enumerate(chosen)
    ]


_PHRASES = {
    "pattern": {"plain": "", "spots": "with spots", "stripes": "with stripes", "belly": "with a pale belly"},
    "eyes": {"round": "two round eyes", "cyclops": "one big eye", "sleepy": "sleepy eyes", "tiny": "tiny bead eyes"},
    "head": {"none": "", "cat ears": "cat ears", "bunny ears": "bunny ears", "horns": "horns",
             "antenna": "an antenna", "tuft": "a tuft of hair"},
    "mouth": {"smile": "a smile", "open": "an open mouth", "fangs": "fangs", "beak": "a beak"},
    "accessory": {"none": "", "glasses": "glasses", "bowtie": "a bow tie", "scarf": "a scarf", "medal": "a medal"},
}


def describe(identity: Identity) -> str:
    """One sentence naming an identity's traits, e.g. for notebook captions."""
    t = identity.traits
    parts = [_PHRASES["eyes"][t["eyes"]], _PHRASES["head"][t["head"]], _PHRASES["mouth"][t["mouth"]],
             _PHRASES["accessory"][t["accessory"]]]
    parts = [p for p in parts if p]
    listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    pattern = _PHRASES["pattern"][t["pattern"]]
    shape = "pear-shaped" if t["body"] == "pear" else t["body"]
    body = f"a {shape} {t['colour']} Datamon" + (f" {pattern}" if pattern else "")
    return f"{identity.name}: {body}, {listed}."


def trait_table(identities: Sequence[Identity]) -> list[dict[str, str]]:
    """One row per identity (``name`` then every trait), ready for a pandas DataFrame or an HTML table."""
    return [{"name": i.name, **{t: i.traits[t] for t in TRAITS}} for i in identities]


# --- portraits and splits -----------------------------------------------------------------------------------------

@dataclass
class Portraits:
    """A batch of rendered portraits, identity-major (all portraits of ``names[0]`` first).

    ``images`` float32 (n, size, size, 3) in [0, 1]; ``labels`` int64 (n,) index into ``names``; ``traits`` int64
    (n, len(TRAITS)) value indices in ``TRAITS`` order; ``names`` the identity names.
    """

    images: np.ndarray
    labels: np.ndarray
    traits: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Splits:
    """The course's three data sets, all from ``make_splits``."""

    private_train: Portraits
    private_test: Portraits
    public: Portraits


def make_splits(*, size: int = 64, train_per_identity: int, test_per_identity: int, n_public: int = 200,
                public_per_identity: int, seed: int = 0) -> Splits:
    """Private train/test portraits of the 15 named Datamons and public portraits of ``n_public`` others.

    Each split is rendered with its own seed derived from ``seed``, so no portrait appears in two splits.
    """
    _require_count("train_per_identity", train_per_identity)
    _require_count("test_per_identity", test_per_identity)
    _require_count("public_per_identity", public_per_identity)
    train_seed, test_seed, public_seed, identity_seed = (
        int(s) for s in np.random.SeedSequence([seed, 0x5A17]).generate_state(4)
    )
    named = named_identities()
    return Splits(
        private_train=render(named, train_per_identity, size=size, seed=train_seed),
        private_test=render(named, test_per_identity, size=size, seed=test_seed),
        public=render(public_identities(n_public, seed=identity_seed), public_per_identity, size=size,
                      seed=public_seed),
    )


def render(identities: Sequence[Identity], per_identity: int, *, size: int = 64, seed: int = 0) -> Portraits:
    """Draw ``per_identity`` portraits of each identity; the same arguments always give the same pixels."""
    identities = _check_render_args(identities, per_identity, size, seed)
    images, labels, traits = _render(identities, per_identity, int(size), int(seed))
    return Portraits(images=images, labels=labels, traits=traits, names=[i.name for i in identities])


def _check_render_args(identities: Sequence[Identity], per_identity: int, size: int, seed: int) -> list[Identity]:
    identities = list(identities)
    if not identities or not all(isinstance(i, Identity) for i in identities):
        raise ValueError("render needs a non-empty list of Identity objects (see named_identities())")
    _require_count("per_identity", per_identity)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size must be an integer of at least 16 pixels (64 by default, 32 on request), got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return identities


def creature_masks(identities: Sequence[Identity], per_identity: int, *, size: int = 64, seed: int = 0) -> np.ndarray:
    """bool (n, size, size): the pixels the creature covers in ``render(identities, per_identity, size, seed)``.

    Each portrait is drawn twice in the same pose, once on a black and once on a white flat background without
    sensor noise; the pixels that do not change are the creature's. Used to place the auxiliary-knowledge masks
    on the creature (``course_lib.data.corruptions``) and to measure how much of it they hide.
    """
    identities = _check_render_args(identities, per_identity, size, seed)
    dark, _, _ = _render(identities, per_identity, int(size), int(seed), flat_background=0.0)
    light, _, _ = _render(identities, per_identity, int(size), int(seed), flat_background=1.0)
    return np.abs(dark - light).max(axis=3) < 0.05


def _render(identities: list[Identity], per_identity: int, size: int, seed: int,
            flat_background: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, labels, traits); ``flat_background`` replaces the background and removes noise (creature_masks)."""
    codes = np.array([i.code() for i in identities], dtype=np.int64)
    labels = np.repeat(np.arange(len(identities), dtype=np.int64), per_identity)
    traits = codes[labels]
    rng = np.random.default_rng(seed)  # not keyed on size: a seed gives the same poses at 32 and 64
    nuisance = _draw_nuisance(rng, len(labels))
    if flat_background is not None:
        nuisance["background"] = np.full_like(nuisance["background"], flat_background)
        nuisance["noise"] = np.zeros_like(nuisance["noise"])
    images = np.empty((len(labels), size, size, 3), dtype=np.float32)
    for start in range(0, len(labels), _CHUNK):
        part = slice(start, start + _CHUNK)
        planar = _render_chunk(traits[part], {k: v[part] for k, v in nuisance.items()}, size, rng)
        for c in range(3):  # channel by channel: a strided copy this way is ~10x faster than moveaxis
            images[part, :, :, c] = planar[c]
    return images, labels, traits


def _require_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


# --- nuisance: what changes from one photo of a Datamon to the next -----------------------------------------------

def _draw_nuisance(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Per-portrait pose, framing, expression, lighting and background, drawn for the whole batch up front."""
    u = lambda lo, hi, *shape: rng.uniform(lo, hi, size=(n, *shape)).astype(np.float32)  # noqa: E731
    # background: a smooth random field mixing two pastel colours, set at a 4 x 4 grid of control points
    pair = u(0.2, 1.0, 2, 3)
    pair += (1.0 - pair) * u(0.0, 0.6, 2, 1)  # towards pastel
    mix = u(0.0, 1.0, 1, _BG_NODES, _BG_NODES)
    background = pair[:, 0, :, None, None] + mix * (pair[:, 1] - pair[:, 0])[:, :, None, None]
    background += u(-0.08, 0.08, 3, _BG_NODES, _BG_NODES)
    angle = u(0.0, 2 * np.pi)
    return {
        "rotation": np.deg2rad(rng.normal(0.0, 8.0, size=n).clip(-20, 20)).astype(np.float32),
        "scale": u(0.78, 1.1),
        "shift": u(-0.22, 0.22, 2),
        "mouth_open": u(0.0, 1.0),
        "eye_open": np.where(rng.random(n) < 0.15, u(0.1, 0.4), u(0.75, 1.0)).astype(np.float32),
        "gaze": u(-1.0, 1.0, 2),
        "brightness": u(0.7, 1.15),
        "contrast": u(0.65, 1.15),
        "cast": u(-0.07, 0.07, 3),
        "warmth": u(-0.1, 0.1),  # white balance: warm light boosts red and dims blue
        "light": np.stack([np.cos(angle), np.sin(angle)], axis=1) * u(0.0, 0.25, 1),
        "background": np.clip(background, 0.0, 1.0),
        "noise": u(0.0, 0.035),
    }


# --- drawing: signed distance fields on a batch -------------------------------------------------------------------

_BG_NODES = 4  # background control points per side
_CHUNK = 128  # portraits per chunk: keeps each (chunk, size, size) float32 plane in cache

_COLOURS = np.array([
    (0.92, 0.26, 0.26), (0.98, 0.55, 0.14), (0.98, 0.88, 0.30), (0.48, 0.80, 0.32),
    (0.22, 0.76, 0.70), (0.33, 0.55, 0.96), (0.63, 0.42, 0.88), (0.98, 0.56, 0.76),
], dtype=np.float32)
_INK = np.array((0.13, 0.10, 0.16), dtype=np.float32)
_WHITE = np.array((1.0, 1.0, 1.0), dtype=np.float32)
_MOUTH = np.array((0.50, 0.10, 0.16), dtype=np.float32)
_TONGUE = np.array((0.98, 0.45, 0.55), dtype=np.float32)
_BLUSH = np.array((1.0, 0.45, 0.55), dtype=np.float32)
_IVORY = np.array((0.98, 0.94, 0.80), dtype=np.float32)
_BEAK = np.array((1.0, 0.72, 0.15), dtype=np.float32)
_GOLD = np.array((0.98, 0.78, 0.18), dtype=np.float32)
_SCARF = np.array((0.85, 0.18, 0.28), dtype=np.float32)
_BOWTIE = np.array((0.80, 0.12, 0.45), dtype=np.float32)
_RIBBON = np.array((0.20, 0.35, 0.85), dtype=np.float32)

# body: half width, half height, corner radius, taper (widening towards the feet)
_BODY = np.array([(0.48, 0.48, 0.48, 0.0), (0.38, 0.56, 0.38, 0.0), (0.62, 0.42, 0.42, 0.0),
                  (0.46, 0.52, 0.46, 0.5), (0.48, 0.46, 0.16, 0.0)], dtype=np.float32)
# eyes: half distance apart, radius, pupil radius, how far the lid stays open (1 = fully), white shown (0/1)
_EYES = np.array([(0.19, 0.12, 0.065, 1.0, 1.0), (0.0, 0.18, 0.085, 1.0, 1.0), (0.19, 0.12, 0.07, 0.5, 1.0),
                  (0.17, 0.06, 0.06, 1.0, 0.0)], dtype=np.float32)
_BODY_Y = 0.16  # body centre, below the image centre to leave room for ears
_OUTLINE = 0.045  # ink line width, in creature units (the image spans 2)
_TRAIT_INDEX = {t: k for k, t in enumerate(TRAITS)}


class _Canvas:
    """A batch of portraits being drawn: creature coordinates of every pixel, pixel size, per-portrait parameters
    and the planar RGB image (3, n, h, w) (planar so that every numpy loop runs along a contiguous image row)."""

    def __init__(self, x, y, inv_px, image, params, grid):
        self.x, self.y, self.inv_px, self.image, self.p, self.grid = x, y, inv_px, image, params, grid

    def subset(self, index: np.ndarray) -> "_Canvas":
        return _Canvas(self.x[index], self.y[index], self.inv_px[index], np.ascontiguousarray(self.image[:, index]),
                       {k: v[index] for k, v in self.p.items()}, self.grid)

    def window(self, cx, cy, half: float) -> "_Canvas":
        """The same canvas cropped, per portrait, to the pixels around creature point (cx, cy) that hold a disk of
        radius ``half``: a part (the face, the ears, ...) then costs its own area, not the whole image's.
        Paint on the result, then ``put_back``."""
        p, (n, size) = self.p, self.image.shape[1:3]
        side = 2 * (int(np.ceil(half * float(p["scale"].max()) * size / 2)) + 2)
        if side >= size:
            return self
        cos, sin, scale = p["cs"] * p["scale"], p["ss"] * p["scale"], p["scale"]
        centre_x = p["tx"] + scale * (cos * cx - sin * cy)  # creature -> image coordinates
        centre_y = p["ty"] + scale * (sin * cx + cos * cy)
        corner = lambda c: np.clip(np.floor((c.reshape(n) + 1) / 2 * size - 0.5).astype(np.int64)  # noqa: E731
                                   - side // 2 + 1, 0, size - side)
        top, left = corner(centre_y), corner(centre_x)
        steps = np.arange(side)
        dx = self.grid[left[:, None] + steps][:, None, :] - p["tx"]
        dy = self.grid[top[:, None] + steps][:, :, None] - p["ty"]
        where = (np.arange(n), top, left)
        params = dict(p)
        if "inside" in p:
            params["inside"] = _tiles(p["inside"], side)[where]
        sub = _Canvas(dx * p["cs"] + dy * p["ss"], dy * p["cs"] - dx * p["ss"], self.inv_px,
                      np.ascontiguousarray(_tiles(self.image, side)[(slice(None),) + where]), params, self.grid)
        sub._home = (self, where, side)
        return sub

    def put_back(self) -> None:
        """Write a window's pixels back into the canvas it was cut from."""
        home = getattr(self, "_home", None)
        if home is not None:
            canvas, where, side = home
            _tiles(canvas.image, side, writeable=True)[(slice(None),) + where] = self.image

    def alpha(self, d: np.ndarray, grow: float = 0.0) -> np.ndarray:
        """Antialiased coverage of the region d < -grow: a one-pixel ramp across the edge."""
        a = (d + grow) * self.inv_px
        np.subtract(0.5, a, out=a)
        np.maximum(a, 0.0, out=a)
        return np.minimum(a, 1.0, out=a)

    def paint(self, alpha: np.ndarray, colour: np.ndarray) -> None:
        """Alpha-composite ``colour``, shared (3,) or per portrait (n, 3, 1, 1), over the image."""
        for c in range(3):
            plane = self.image[c]
            plane += alpha * ((colour[c] if colour.ndim == 1 else colour[:, c]) - plane)

    def paint_outlined(self, d: np.ndarray, colour: np.ndarray, width: float = _OUTLINE) -> None:
        """A filled shape with an ink outline: the cartoon look."""
        self.paint(self.alpha(d), _INK)
        self.paint(self.alpha(d, width), colour)


def _tiles(planes: np.ndarray, side: int, writeable: bool = False) -> np.ndarray:
    """View of every side x side tile of (..., n, h, w) images: [..., i, top, left] is portrait i's tile there.
    Fancy-indexing it copies whole tile rows at once, much faster than gathering pixel by pixel."""
    return np.lib.stride_tricks.sliding_window_view(planes, (side, side), axis=(-2, -1), writeable=writeable)


def _windowed(canvas: _Canvas, cx, cy, half: float, painter: Callable[[_Canvas], None]) -> None:
    """Run ``painter`` on the window of ``canvas`` around creature point (cx, cy) and write the pixels back."""
    window = canvas.window(cx, cy, half)
    painter(window)
    window.put_back()


def _circle(x, y, cx, cy, r):
    return np.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def _ellipse(x, y, cx, cy, rx, ry):
    """Approximate signed distance to an ellipse (exact on circles, good enough for one-pixel antialiasing)."""
    return (np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) - 1.0) * np.minimum(rx, ry)


def _polygon(x, y, edges):
    """Convex polygon as the max of half-plane distances; ``edges`` are (nx, ny, offset) with unit normals."""
    d = None
    for nx, ny, off in edges:
        e = x * nx + y * ny - off
        d = e if d is None else np.maximum(d, e)
    return d


def _triangle(ax, ay, bx, by, cx, cy):
    """Half-plane edges of triangle abc (any orientation)."""
    pts = [(ax, ay), (bx, by), (cx, cy)]
    gx, gy = (ax + bx + cx) / 3, (ay + by + cy) / 3
    edges = []
    for (px, py), (qx, qy) in zip(pts, pts[1:] + pts[:1]):
        nx, ny = qy - py, px - qx
        norm = np.hypot(nx, ny)
        nx, ny = nx / norm, ny / norm
        off = nx * px + ny * py
        if nx * gx + ny * gy > off:  # make the normal point outwards
            nx, ny, off = -nx, -ny, -off
        edges.append((nx, ny, off))
    return edges


def _rotate(x, y, cx, cy, degrees):
    a = np.deg2rad(degrees)
    dx, dy = x - cx, y - cy
    return dx * np.cos(a) + dy * np.sin(a), -dx * np.sin(a) + dy * np.cos(a)


def _by_value(canvas: _Canvas, trait: str, painters: Mapping[str, Callable[[_Canvas], None]]) -> None:
    """Run each trait value's painter on just the portraits that have that value (one gather per value)."""
    values = canvas.p["traits"][:, _TRAIT_INDEX[trait]]
    for k, name in enumerate(TRAITS[trait]):
        painter = painters.get(name)
        if painter is None:
            continue
        index = np.flatnonzero(values == k)
        if len(index) == 0:
            continue
        if len(index) == len(values):
            painter(canvas)
            continue
        sub = canvas.subset(index)
        painter(sub)
        canvas.image[:, index] = sub.image


def _render_chunk(traits: np.ndarray, nuisance: Mapping[str, np.ndarray], size: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Draw one chunk of portraits; returns the planar image (3, n, size, size)."""
    n = len(traits)
    grid = ((np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0)
    gx, gy = grid[None, None, :], grid[None, :, None]
    col = lambda a: np.asarray(a, dtype=np.float32).reshape(n, 1, 1)  # noqa: E731  per-portrait scalar

    # background: the control points, bilinearly interpolated to every pixel by two small matrix products
    spread = _interpolation_matrix(size)
    image = np.ascontiguousarray(spread @ np.moveaxis(nuisance["background"], 1, 0) @ spread.T, dtype=np.float32)

    # pose and framing: creature coordinates of every pixel
    scale = col(nuisance["scale"])
    cs, ss = col(np.cos(nuisance["rotation"])) / scale, col(np.sin(nuisance["rotation"])) / scale
    tx, ty = col(nuisance["shift"][:, 0]), col(nuisance["shift"][:, 1])
    dx, dy = gx - tx, gy - ty
    x, y = dx * cs + dy * ss, dy * cs - dx * ss
    body = _BODY[traits[:, 0]]
    eyes = _EYES[traits[:, 3]]
    params = {
        "traits": traits, "tx": tx, "ty": ty, "cs": cs, "ss": ss, "scale": scale,
        "hx": col(body[:, 0]), "hy": col(body[:, 1]), "r": col(body[:, 2]), "taper": col(body[:, 3]),
        "top": col(_BODY_Y - body[:, 1]),
        "colour": _COLOURS[traits[:, 1]].reshape(n, 3, 1, 1),
        "ex": col(eyes[:, 0]), "er": col(eyes[:, 1]), "pr": col(eyes[:, 2]),
        "lid": col(eyes[:, 3] * nuisance["eye_open"]), "white": eyes[:, 4].reshape(n, 1, 1, 1),
        "gx": col(nuisance["gaze"][:, 0]), "gy": col(nuisance["gaze"][:, 1]),
        "mouth": col(nuisance["mouth_open"]),
    }
    canvas = _Canvas(x, y, size / 2.0 * scale, image, params, grid)
    _draw_creature(canvas)

    # lighting: contrast, brightness with a directional falloff, colour cast, sensor noise
    gain = gx * col(nuisance["light"][:, 0]) + gy * col(nuisance["light"][:, 1])
    gain += 1.0
    gain *= col(nuisance["brightness"] * nuisance["contrast"])
    noise = rng.standard_normal((n, size, size), dtype=np.float32)
    noise *= col(nuisance["noise"])
    for c in range(3):
        noise += col(nuisance["brightness"] * (0.5 - 0.5 * nuisance["contrast"]) + nuisance["cast"][:, c])
        plane = image[c]
        plane *= gain
        plane *= col(1.0 + (1 - c) * nuisance["warmth"])
        plane += noise
        np.maximum(plane, 0.0, out=plane)
        np.minimum(plane, 1.0, out=plane)
        noise -= col(nuisance["brightness"] * (0.5 - 0.5 * nuisance["contrast"]) + nuisance["cast"][:, c])
    return image


def _interpolation_matrix(size: int) -> np.ndarray:
    """(size, _BG_NODES) weights of linear interpolation from evenly spread control points to pixel centres."""
    position = ((np.arange(size) + 0.5) / size) * (_BG_NODES - 1)
    weights = np.maximum(0.0, 1.0 - np.abs(position[:, None] - np.arange(_BG_NODES)[None, :]))
    return weights.astype(np.float32)


def _draw_creature(cv: _Canvas) -> None:
    """Paint back to front. Parts are grouped into windows (ears, feet, face, chest) so each group costs its own
    area; every window is large enough to hold its parts at any pose (a test checks windows change no pixel)."""
    top = cv.p["top"]
    # behind the body: ears and the antenna's stalk, the shadow and the feet
    _windowed(cv, 0.0, top - 0.12, 0.72,
              lambda w: _by_value(w, "head", {"cat ears": _cat_ears, "bunny ears": _bunny_ears, "antenna": _antenna}))
    _windowed(cv, 0.0, _BODY_Y + 0.46, 0.66, _feet)

    # the body: a rounded box, tapered for pears
    x, y, p = cv.x, cv.y, cv.p
    bx = np.abs(x) / (1.0 + p["taper"] * (y - _BODY_Y))
    qx = bx - (p["hx"] - p["r"])
    qy = np.abs(y - _BODY_Y) - (p["hy"] - p["r"])
    d_body = np.sqrt(np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2) + np.minimum(np.maximum(qx, qy), 0.0) - p["r"]
    cv.paint_outlined(d_body, p["colour"])
    cv.p = {**p, "inside": cv.alpha(d_body, _OUTLINE)}

    _by_value(cv, "pattern", {"spots": _spots, "stripes": _stripes, "belly": _belly})
    _windowed(cv, 0.0, top - 0.1, 0.46,
              lambda w: _by_value(w, "head", {"tuft": _tuft, "antenna": _antenna_ball, "horns": _horns}))
    _windowed(cv, 0.0, _BODY_Y - 0.04, 0.55, _face)
    _windowed(cv, 0.0, _BODY_Y + 0.32, 0.32, lambda w: _by_value(w, "accessory", {"bowtie": _bowtie, "medal": _medal}))
    _by_value(cv, "accessory", {"scarf": _scarf})


def _face(cv: _Canvas) -> None:
    _cheeks_and_shine(cv)
    _draw_eyes(cv)
    _by_value(cv, "mouth", {"smile": _smile, "open": _open_mouth, "fangs": _fangs, "beak": _beak})
    _by_value(cv, "accessory", {"glasses": _glasses})


def _feet(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y, cv.p
    cv.paint(cv.alpha(_ellipse(x, y, 0.0, _BODY_Y + p["hy"] + 0.06, p["hx"] * 0.9, 0.09)) * 0.25, _INK)
    cv.paint_outlined(_ellipse(np.abs(x), y, 0.2, _BODY_Y + p["hy"] - 0.02, 0.13, 0.08), p["colour"] * 0.72)


def _cheeks_and_shine(cv: _Canvas) -> None:
    """A glossy highlight and rosy cheeks: every Datamon has them."""
    x, y, p = cv.x, cv.y, cv.p
    cv.paint(cv.alpha(_ellipse(x, y, -p["hx"] * 0.45, p["top"] + 0.16, 0.11, 0.07)) * 0.35 * p["inside"], _WHITE)
    cv.paint(cv.alpha(_ellipse(np.abs(x), y, 0.32, _BODY_Y + 0.06, 0.08, 0.045)) * 0.45 * p["inside"], _BLUSH)


def _draw_eyes(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y, cv.p
    ey = _BODY_Y - 0.1
    ex, er = p["ex"], p["er"]
    side = np.sign(x)
    d_eye = np.sqrt((np.abs(x) - ex) ** 2 + (y - ey) ** 2) - er
    # whites (tiny bead eyes have none: their "white" is ink)
    white = _WHITE.reshape(1, 3, 1, 1) * p["white"] + _INK.reshape(1, 3, 1, 1) * (1 - p["white"])
    cv.paint_outlined(d_eye, white, width=0.03)
    # pupil follows the gaze, inside the eye
    look = (er - p["pr"]) * 0.6
    pupil = np.sqrt((x - side * ex - p["gx"] * look) ** 2 + (y - ey - p["gy"] * look) ** 2) - p["pr"]
    cv.paint(cv.alpha(pupil), _INK)
    glint = _circle(x - side * ex - p["gx"] * look, y - ey - p["gy"] * look, -p["pr"] * 0.35, -p["pr"] * 0.4,
                    p["pr"] * 0.4)
    cv.paint(cv.alpha(glint), _WHITE)
    # eyelid: body colour above a line that falls as the eye closes
    lid_line = ey - er + 2 * er * (1 - p["lid"])
    in_eye = cv.alpha(d_eye, -0.01)
    cv.paint(cv.alpha(y - lid_line) * in_eye, p["colour"] * 0.9)
    cv.paint(cv.alpha(np.abs(y - lid_line) - 0.012) * in_eye * (p["lid"] < 0.98), _INK)


# head parts (ears and the antenna stalk go behind the body; horns, tuft and the antenna ball in front) -------------

def _cat_ears(cv: _Canvas) -> None:
    """Ears placed in proportion to the body's half width (approximate distances, exact enough for the edges)."""
    width = cv.p["hx"]
    ax, y = np.abs(cv.x) / width, cv.y - cv.p["top"]
    outer = _polygon(ax, y, _triangle(0.25, 0.12, 0.95, 0.12, 0.85, -0.36))
    cv.paint_outlined(outer * width, cv.p["colour"])
    inner = _polygon(ax, y, _triangle(0.42, 0.12, 0.83, 0.12, 0.78, -0.22))
    cv.paint(cv.alpha(inner * width), _TONGUE)


def _bunny_ears(cv: _Canvas) -> None:
    u, v = _rotate(np.abs(cv.x), cv.y - cv.p["top"], 0.17, -0.2, -14)
    cv.paint_outlined(_ellipse(u, v, 0.0, 0.0, 0.1, 0.3), cv.p["colour"])
    cv.paint(cv.alpha(_ellipse(u, v, 0.0, 0.02, 0.05, 0.22)), _TONGUE)


def _horns(cv: _Canvas) -> None:
    ax, y = np.abs(cv.x), cv.y - cv.p["top"]
    u, v = _rotate(ax, y, 0.22, 0.06, 25)
    d = np.maximum(_polygon(u, v, _triangle(-0.1, 0.0, 0.1, 0.0, 0.0, -0.3)), _ellipse(u, v, 0.0, -0.02, 0.1, 0.3))
    cv.paint_outlined(d, _IVORY, width=0.035)
    cv.paint(cv.alpha(np.maximum(d + 0.04, np.abs(v + 0.02) - 0.025)), _IVORY * 0.75)


def _antenna(cv: _Canvas) -> None:
    y = cv.y - cv.p["top"]
    stalk = np.maximum(np.abs(cv.x) - 0.02, np.maximum(y - 0.1, -0.3 - y))
    cv.paint(cv.alpha(stalk), _INK)


def _antenna_ball(cv: _Canvas) -> None:
    cv.paint_outlined(_circle(cv.x, cv.y - cv.p["top"], 0.0, -0.33, 0.075), _GOLD, width=0.035)


def _tuft(cv: _Canvas) -> None:
    y = cv.y - cv.p["top"]
    d = None
    for angle, cx in ((-28, -0.07), (0, 0.0), (28, 0.07)):
        u, v = _rotate(cv.x, y, cx, -0.08, angle)
        leaf = _ellipse(u, v, 0.0, 0.0, 0.055, 0.15)
        d = leaf if d is None else np.minimum(d, leaf)
    cv.paint_outlined(d, cv.p["colour"] * 0.72, width=0.035)


# body patterns (clipped to the body) -----------------------------------------------------------------------------

def _spots(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y - _BODY_Y, cv.p
    d = np.minimum(np.minimum(_circle(x, y, -0.38, 0.1, 0.12), _circle(x, y, 0.36, 0.24, 0.13)),
                   np.minimum(_circle(x, y, 0.34, -0.2, 0.09), _circle(x, y, -0.24, 0.4, 0.09)))
    d = np.minimum(d, _circle(x, y, -0.18, -0.36, 0.08))
    cv.paint(cv.alpha(d) * p["inside"], p["colour"] * 0.55)


def _stripes(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y - _BODY_Y, cv.p
    band = np.abs((y * 4.0 + 0.2) % 1.0 - 0.5) - 0.16  # in band units; one band every 0.25
    sides = p["hx"] * 0.62 - np.abs(x) + np.abs(y) * 0.25
    d = np.maximum(band / 4.0, sides)
    cv.paint(cv.alpha(d) * p["inside"], p["colour"] * 0.62)


def _belly(cv: _Canvas) -> None:
    p = cv.p
    d = _ellipse(cv.x, cv.y, 0.0, _BODY_Y + p["hy"] * 0.62, p["hx"] * 0.62, p["hy"] * 0.45)
    cv.paint(cv.alpha(d) * p["inside"], p["colour"] * 0.45 + 0.55)


# mouths (openness is the expression) -----------------------------------------------------------------------------

_MOUTH_Y = _BODY_Y + 0.09


def _smile(cv: _Canvas) -> None:
    x, y, h = cv.x, cv.y - _MOUTH_Y, 0.02 + 0.08 * cv.p["mouth"]
    d = np.maximum(_ellipse(x, y, 0.0, 0.0, 0.12, h), -y)
    cv.paint_outlined(d, _MOUTH, width=0.03)


def _open_mouth(cv: _Canvas) -> None:
    x, y, h = cv.x, cv.y - _MOUTH_Y, 0.035 + 0.075 * cv.p["mouth"]
    d = _ellipse(x, y, 0.0, h * 0.6, 0.085, h)
    cv.paint_outlined(d, _MOUTH, width=0.03)
    tongue = np.maximum(_ellipse(x, y, 0.0, h * 1.4, 0.06, h * 0.6), d + 0.03)
    cv.paint(cv.alpha(tongue), _TONGUE)


def _fangs(cv: _Canvas) -> None:
    x, y, h = cv.x, cv.y - _MOUTH_Y, 0.03 + 0.07 * cv.p["mouth"]
    d = np.maximum(_ellipse(x, y, 0.0, 0.0, 0.15, h), -y)
    cv.paint_outlined(d, _MOUTH, width=0.03)
    fang = _polygon(np.abs(x), y, _triangle(0.04, -0.005, 0.11, -0.005, 0.075, 0.075))
    cv.paint_outlined(fang, _WHITE, width=0.02)


def _beak(cv: _Canvas) -> None:
    x, y, gap = np.abs(cv.x), cv.y - _MOUTH_Y, 0.05 * cv.p["mouth"]
    upper = _polygon(x, y, _triangle(0.0, -0.1, 0.15, 0.0, -0.15, 0.0))
    cv.paint_outlined(upper, _BEAK, width=0.03)
    lower = _polygon(x, y - gap, _triangle(0.0, 0.08, 0.12, 0.0, -0.12, 0.0))
    cv.paint_outlined(lower, _BEAK * 0.85, width=0.03)


# accessories -----------------------------------------------------------------------------------------------------

def _glasses(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y, cv.p
    ey = _BODY_Y - 0.1
    ring = np.abs(np.sqrt((np.abs(x) - p["ex"]) ** 2 + (y - ey) ** 2) - (p["er"] + 0.05)) - 0.022
    bridge = np.maximum(np.abs(y - ey + 0.02) - 0.02, np.abs(x) - p["ex"] + p["er"])
    cv.paint(cv.alpha(np.minimum(ring, bridge)), _INK)


def _bowtie(cv: _Canvas) -> None:
    x, y = np.abs(cv.x), cv.y - (_BODY_Y + 0.3)
    wing = _polygon(x, y, _triangle(0.0, 0.0, 0.14, -0.08, 0.14, 0.08))
    cv.paint_outlined(wing, _BOWTIE, width=0.03)
    cv.paint_outlined(_circle(x, y, 0.0, 0.0, 0.035), _BOWTIE * 0.8, width=0.025)


def _scarf(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y - (_BODY_Y + 0.24), cv.p
    band = np.maximum(np.abs(y) - 0.06, np.abs(x) - p["hx"] * 1.02)
    tail = np.maximum(np.abs(x - 0.16) - 0.055, np.maximum(-y, y - 0.26))
    cv.paint_outlined(np.minimum(band, tail), _SCARF, width=0.03)
    cv.paint(cv.alpha(np.abs(y - 0.17) - 0.015) * cv.alpha(np.abs(x - 0.16) - 0.05), _WHITE)


def _medal(cv: _Canvas) -> None:
    x, y = cv.x, cv.y - (_BODY_Y + 0.2)
    ribbon = _polygon(np.abs(x), y, _triangle(0.0, 0.14, 0.12, -0.04, 0.2, -0.04))
    cv.paint_outlined(ribbon, _RIBBON, width=0.025)
    cv.paint_outlined(_circle(x, y, 0.0, 0.19, 0.075), _GOLD, width=0.03)
    cv.paint(cv.alpha(_circle(x, y, -0.02, 0.17, 0.02)), _WHITE)


__all__ = [
    "NAMED", "TRAITS", "Identity", "Portraits", "Splits", "named_identities", "public_identities", "render",
    "make_splits", "describe", "trait_table", "pairwise_shared_traits",
]
