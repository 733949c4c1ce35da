"""The Datamons: the course's cast of cartoon creatures, drawn by code.

Why drawn: the attacks of the course try to rebuild a person's portrait from a classifier; cartoon creatures let us
do that without a photo of any real person, and every reconstruction can be scored against the true traits of the
identity it tried to recover. An identity is a fixed combination of traits (body, colour, pattern, eyes, head,
mouth, accessory); a portrait varies what a photo varies (pose, scale, position, expression, lighting, background).

The renderer is vectorised: every shape is a signed distance field evaluated on broadcast coordinate grids for a
whole batch of portraits at once (no per-pixel or per-portrait Python loop), then alpha-composited with
antialiased edges. No drawing library rasterises SDFs on numpy batches, hence the hand-written primitives below.
Each part is drawn only in a window around it, cut per portrait from the frame (the mouth costs a mouth's area, not
a portrait's); a window holds every pixel its part can touch, so the pixels are those of drawing on whole frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

# Bump when a change to the drawing should make shipped checkpoints stale: it enters their data identity exactly
# (course_lib.data.identity), while the pixels themselves are compared within a tolerance, since they differ in
# their last bits between CPUs.
RENDERER_VERSION = 2  # 2: eyes never blink, mouths never shut (each made a trait unreadable: see _open_eyes)

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
    codes = trait_codes(named_identities())
    return len(TRAITS) - trait_distances(codes, codes)


def trait_codes(identities: Sequence[Identity]) -> np.ndarray:
    """(n, 7) trait indices of ``identities``, in ``TRAITS`` order."""
    return np.array([i.code() for i in identities], dtype=np.int64).reshape(-1, len(TRAITS))


def identities_of_codes(codes: np.ndarray, prefix: str = "design",
                        names: Sequence[str] | None = None) -> list[Identity]:
    """The ``Identity`` of each row of trait indices (``trait_codes``' inverse), to render it; named ``names`` when
    given, else ``"<prefix> <row>"``."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != len(TRAITS):
        raise ValueError(f"designs must be (n, {len(TRAITS)}) trait indices, got shape {codes.shape}")
    names = [f"{prefix} {k}" for k in range(len(codes))] if names is None else list(names)
    if len(names) != len(codes):  # zip would drop the designs left without a name
        raise ValueError(f"{len(names)} names for {len(codes)} designs: give one name per design")
    values = list(TRAITS.items())
    return [Identity(name, {t: v[int(c)] for (t, v), c in zip(values, code)}) for name, code in zip(names, codes)]


def trait_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)): in how many traits each code of ``a`` differs from each code of ``b``."""
    return (np.asarray(a)[:, None, :] != np.asarray(b)[None, :, :]).sum(axis=2)


def split_seeds(seed: int = 0) -> tuple[int, int, int, int]:
    """The seeds ``make_splits`` derives from its ``seed``: private train, private test, public portraits and the
    draw of the public identities."""
    train_seed, test_seed, public_seed, identity_seed = (
        int(s) for s in np.random.SeedSequence([seed, 0x5A17]).generate_state(4))
    return train_seed, test_seed, public_seed, identity_seed


# The trait codes the public identities are drawn away from: the first named cast, frozen here, so that a change of
# the cast leaves the public portraits (and every GAN and trait judge trained on them) as they are. The cast in use
# must still differ from every public identity of every profile in at least two traits (tests/test_datamons.py).
_PUBLIC_AVOIDS: tuple[tuple[int, ...], ...] = (
    (0, 5, 2, 0, 5, 0, 3), (1, 2, 0, 2, 4, 1, 1), (3, 3, 1, 0, 1, 0, 1), (0, 0, 2, 0, 3, 2, 0), (4, 2, 0, 3, 4, 0, 2),
    (2, 6, 3, 0, 2, 1, 1), (4, 5, 0, 2, 3, 2, 4), (1, 5, 3, 2, 1, 0, 4), (1, 1, 1, 0, 3, 3, 2), (4, 1, 2, 3, 0, 1, 3),
    (3, 3, 3, 1, 4, 0, 0), (3, 4, 2, 1, 5, 3, 0), (2, 6, 2, 3, 3, 0, 2), (2, 7, 3, 2, 2, 3, 4), (4, 5, 1, 0, 1, 2, 3),
)


def public_identities(n: int = 200, seed: int = 0) -> list[Identity]:
    """``n`` anonymous identities drawn from the same trait space, for an attacker's public data.

    Each differs from every named Datamon in at least two traits, so the public set never contains (or nearly
    contains) a private identity; all are distinct. They are drawn away from the first cast (``_PUBLIC_AVOIDS``).
    """
    _require_count("n", n)
    named = np.array(_PUBLIC_AVOIDS, dtype=np.int64)
    sizes = [len(values) for values in TRAITS.values()]
    space = int(np.prod(sizes))
    if n > space // 2:
        raise ValueError(f"n={n} public identities is too many: the trait space holds {space} combinations")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0xDA7A]))
    chosen: list[tuple[int, ...]] = []
    seen: set[tuple[int, ...]] = set()
    while len(chosen) < n:
        draws = np.stack([rng.integers(0, k, size=2 * n) for k in sizes], axis=1)
        far = trait_distances(draws, named).min(axis=1) >= 2
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
    train_seed, test_seed, public_seed, identity_seed = split_seeds(seed)
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
    codes = trait_codes(identities)
    labels = np.repeat(np.arange(len(identities), dtype=np.int64), per_identity)
    traits = codes[labels]
    rng = np.random.default_rng(seed)  # not keyed on size: a seed gives the same poses at 32 and 64
    nuisance = _draw_nuisance(rng, len(labels))
    if flat_background is not None:
        nuisance["background"] = np.full_like(nuisance["background"], flat_background)
        nuisance["noise"] = np.zeros_like(nuisance["noise"])
    images = np.empty((len(labels), size, size, 3), dtype=np.float32)
    chunk = max(1, _CHUNK_PIXELS // (size * size))  # portraits drawn at once (the pixels do not depend on it)
    for start in range(0, len(labels), chunk):
        part = slice(start, start + chunk)
        _render_chunk(traits[part], {k: v[part] for k, v in nuisance.items()}, size, rng, images[part])
    return images, labels, traits


def _require_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


# --- nuisance: what changes from one photo of a Datamon to the next -----------------------------------------------

def _open_eyes(rng: np.random.Generator, n: int, u: Callable[..., np.ndarray]) -> np.ndarray:
    """Eye openness 0.75-1. Renderer 1 shut 15 % of eyes to 0.1-0.4, which drew a blinking round eye where a sleepy
    one's lid sits (and a mouth open 0-0.3 hid its kind): no judge could read those traits, so renderer 2 dropped
    both. The blink's draws are still made, so every other nuisance of a portrait is the one renderer 1 drew."""
    rng.random(n)
    u(0.1, 0.4)
    return u(0.75, 1.0)


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
        "mouth_open": u(0.3, 1.0),
        "eye_open": _open_eyes(rng, n, u),
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
_CHUNK_PIXELS = 64 * 64 * 64  # pixels per chunk of portraits: a float32 plane of 1 MB stays in a core's cache

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
    and the planar RGB image (3, n, h, w) (planar so that every numpy loop runs along a contiguous image row).
    ``inside`` is the body's coverage less its outline, once the body is drawn (it clips patterns and the cheeks)."""

    def __init__(self, x, y, inv_px, image, params, grid):
        """``x`` and ``y`` may be a function giving both, called on first use (windows compute their own)."""
        self._x, self._y, self.inv_px, self.image, self.p, self.grid = x, y, inv_px, image, params, grid
        self._home = None  # where a window or subset was cut from: (canvas, where, (h, w) or None for a subset, ...)
        self._inside = None

    @property
    def x(self) -> np.ndarray:
        if callable(self._x):
            self._x, self._y = self._x()
        return self._x

    @property
    def y(self) -> np.ndarray:
        if callable(self._x):
            self._x, self._y = self._x()
        return self._y

    @property
    def inside(self) -> np.ndarray:
        if self._inside is None and self._home is not None:  # cut from the home canvas on first use only
            canvas, where, shape = self._home[:3]
            self._inside = canvas.inside[where] if shape is None else _tiles(canvas.inside, *shape)[where]
        return self._inside

    def subset(self, index: np.ndarray) -> "_Canvas":
        """The portraits ``index`` on their own (whole frames); paint on it, then ``put_back``."""
        sub = _Canvas(self.x[index], self.y[index], self.inv_px[index], np.take(self.image, index, axis=1),
                      {k: v[index] for k, v in self.p.items()}, self.grid)
        sub._home = (self, index, None)
        return sub

    def window(self, box: "_Box", index: np.ndarray | None = None) -> "_Canvas":
        """The portraits ``index`` (all by default), each cropped to the pixels that can hold ``box``: a part (an
        ear, the mouth, ...) then costs its own area, not the whole image's. Paint on the result, then ``put_back``.

        The crop is one size for the whole batch (the largest any of its portraits needs) and placed per portrait;
        pixels are computed exactly as on the whole frame, so a crop that holds every pixel a part touches changes
        no pixel (``_WINDOWS = False`` draws on whole frames to check it)."""
        p, size = self.p, self.image.shape[2]
        cx, cy, ax, ay, kx, ky = box(p)
        if index is not None:
            p = {k: v[index] for k, v in p.items()}
            cx, cy, ax, ay, kx, ky = (v if np.ndim(v) == 0 else v[index] for v in (cx, cy, ax, ay, kx, ky))
        n, scale, cos, sin = len(p["scale"]), p["scale"], p["cos"], p["sin"]
        c, s = np.abs(cos), np.abs(sin)
        # half extents in pixels of the rotated box, grown by k half-pixel antialiasing ramps (k > 1 where a shape's
        # approximate distance runs slower than the true one: thin ellipses, sharp corners), then 2 pixels more
        px = scale * (size / 2)
        w = min(2 * int(np.ceil(np.max(px * (ax * c + ay * s) + 0.5 * (kx * c + ky * s)))) + 4, size)
        h = min(2 * int(np.ceil(np.max(px * (ax * s + ay * c) + 0.5 * (kx * s + ky * c)))) + 4, size)
        if not _WINDOWS or (w == size and h == size):
            return self if index is None else self.subset(index)
        # the pixel nearest the box centre, then the corner of a crop around it (inside the frame)
        centre = np.concatenate([p["tx"] + scale * (cos * cx - sin * cy), p["ty"] + scale * (sin * cx + cos * cy)],
                                axis=1).reshape(n, 2)
        corner = np.floor((centre + 1) * (size / 2) - 0.5).astype(np.int64) - [w // 2 - 1, h // 2 - 1]
        np.clip(corner, 0, [size - w, size - h], out=corner)
        left, top = corner[:, 0], corner[:, 1]
        dx = self.grid[left[:, None] + np.arange(w)][:, None, :] - p["tx"]
        dy = self.grid[top[:, None] + np.arange(h)][:, :, None] - p["ty"]
        where = (np.arange(n) if index is None else index, top, left)
        tiles = _tiles(self.image, h, w, writeable=True)
        image = np.empty((3, n, h, w), dtype=self.image.dtype)
        for ch in range(3):  # channel by channel: each gather then writes one contiguous block
            image[ch] = tiles[ch][where]
        sub = _Canvas(dx * p["cs"] + dy * p["ss"], dy * p["cs"] - dx * p["ss"], self.inv_px if index is None
                      else self.inv_px[index], image, p, self.grid)
        sub._home = (self, where, (h, w), tiles)
        return sub

    def put_back(self) -> None:
        """Write a window's or subset's pixels back into the canvas it was cut from."""
        if self._home is None:
            return
        if self._home[2] is None:
            canvas, index, _ = self._home
            canvas.image[:, index] = self.image
            return
        _, where, _, tiles = self._home
        for ch in range(3):
            tiles[ch][where] = self.image[ch]

    def alpha(self, d: np.ndarray, grow: float = 0.0) -> np.ndarray:
        """Antialiased coverage of the region d < -grow: a one-pixel ramp across the edge."""
        if grow:
            a = d + grow
            a *= self.inv_px
        else:  # d + 0.0 would only turn -0.0 into +0.0, which the product and 0.5 - a below make no matter
            a = d * self.inv_px
        np.subtract(0.5, a, out=a)
        np.maximum(a, 0.0, out=a)
        return np.minimum(a, 1.0, out=a)

    def paint(self, alpha: np.ndarray, colour: np.ndarray) -> None:
        """Alpha-composite ``colour``, shared (3,) or per portrait (n, 3, 1, 1), over the image."""
        image = self.image
        if alpha.shape != image.shape[1:]:  # a broadcast coverage: the plain way
            for c in range(3):
                plane = image[c]
                plane += alpha * ((colour[c] if colour.ndim == 1 else colour[:, c]) - plane)
            return
        # plane += alpha * (colour - plane), with the same roundings (in alpha's precision if it is float64, as
        # numpy's promotion does) and without a temporary per operation
        diff = np.empty_like(image[0])
        step = diff if alpha.dtype == diff.dtype else np.empty(alpha.shape, np.result_type(alpha, diff))
        for c in range(3):
            plane = image[c]
            np.subtract(colour[c] if colour.ndim == 1 else colour[:, c], plane, out=diff)
            np.multiply(alpha, diff, out=step)
            np.add(plane, step, out=plane)

    def paint_outlined(self, d: np.ndarray, colour: np.ndarray, width: float = _OUTLINE) -> None:
        """A filled shape with an ink outline: the cartoon look."""
        self.paint(self.alpha(d), _INK)
        self.paint(self.alpha(d, width), colour)


# Where a part can paint (the _..._BOX functions at the end): from the canvas parameters, the creature-space box
# centre (cx, cy), half extents (ax, ay) and ramp factors (kx, ky), each a number or a per-portrait (n, 1, 1) array.
_Box = Callable[[Mapping[str, np.ndarray]], tuple]
_WINDOWS = True  # False: draw every part on whole frames (slow; the windows must not change a pixel)


def _tiles(planes: np.ndarray, h: int, w: int, writeable: bool = False) -> np.ndarray:
    """View of every h x w tile of (..., n, H, W) images: [..., i, top, left] is portrait i's tile there.
    Fancy-indexing it copies whole tile rows at once, much faster than gathering pixel by pixel.
    (numpy's sliding_window_view, without its checks: it is called for every window.)"""
    *lead, rows, cols = planes.shape
    return np.lib.stride_tricks.as_strided(planes, (*lead, rows - h + 1, cols - w + 1, h, w),
                                           planes.strides + planes.strides[-2:], writeable=writeable)


def _windowed(canvas: _Canvas, box: _Box, painter: Callable[[_Canvas], None], index: np.ndarray | None = None) -> None:
    """Run ``painter`` on the window of ``canvas`` (portraits ``index``) that holds ``box``; write the pixels back."""
    window = canvas.window(box, index)
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


def _by_value(canvas: _Canvas, trait: str, painters: Mapping[str, tuple[Callable[[_Canvas], None], _Box]]) -> None:
    """Run each trait value's painter, in the window of its box, on just the portraits that have that value."""
    values = canvas.p["traits"][:, _TRAIT_INDEX[trait]]
    for k, name in enumerate(TRAITS[trait]):
        if name not in painters:
            continue
        index = np.flatnonzero(values == k)
        if len(index) == 0:
            continue
        painter, box = painters[name]
        _windowed(canvas, box, painter, None if len(index) == len(values) else index)


def _render_chunk(traits: np.ndarray, nuisance: Mapping[str, np.ndarray], size: int,
                  rng: np.random.Generator, out: np.ndarray) -> None:
    """Draw one chunk of portraits into ``out`` (n, size, size, 3); drawing is planar, (3, n, size, size)."""
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

    def coordinates():  # of every pixel, only if a part needs the whole frame (windows compute their own)
        dx, dy = gx - tx, gy - ty
        return dx * cs + dy * ss, dy * cs - dx * ss

    body = _BODY[traits[:, 0]]
    eyes = _EYES[traits[:, 3]]
    params = {
        "traits": traits, "tx": tx, "ty": ty, "cs": cs, "ss": ss, "scale": scale,
        "cos": col(np.cos(nuisance["rotation"])), "sin": col(np.sin(nuisance["rotation"])),  # to place windows
        "hx": col(body[:, 0]), "hy": col(body[:, 1]), "r": col(body[:, 2]), "taper": col(body[:, 3]),
        "top": col(_BODY_Y - body[:, 1]),
        "colour": _COLOURS[traits[:, 1]].reshape(n, 3, 1, 1),
        "ex": col(eyes[:, 0]), "er": col(eyes[:, 1]), "pr": col(eyes[:, 2]),
        "lid": col(eyes[:, 3] * nuisance["eye_open"]), "white": eyes[:, 4].reshape(n, 1, 1, 1),
        "gx": col(nuisance["gaze"][:, 0]), "gy": col(nuisance["gaze"][:, 1]),
        "mouth": col(nuisance["mouth_open"]),
    }
    canvas = _Canvas(coordinates, None, size / 2.0 * scale, image, params, grid)
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
        if c != 1:  # green's white-balance factor is exactly 1
            plane *= col(1.0 + (1 - c) * nuisance["warmth"])
        plane += noise
        np.maximum(plane, 0.0, out=plane)
        np.minimum(plane, 1.0, out=plane)
        out[..., c] = plane  # a strided copy is ~4x faster than a ufunc writing there (or than moveaxis)
        if c < 2:
            noise -= col(nuisance["brightness"] * (0.5 - 0.5 * nuisance["contrast"]) + nuisance["cast"][:, c])


def _interpolation_matrix(size: int) -> np.ndarray:
    """(size, _BG_NODES) weights of linear interpolation from evenly spread control points to pixel centres."""
    position = ((np.arange(size) + 0.5) / size) * (_BG_NODES - 1)
    weights = np.maximum(0.0, 1.0 - np.abs(position[:, None] - np.arange(_BG_NODES)[None, :]))
    return weights.astype(np.float32)


def _draw_creature(cv: _Canvas) -> None:
    """Paint back to front. Every part is drawn in its own window (see ``_Canvas.window``), so it costs its own
    area; every box holds its part at any pose (tests check that windows change no pixel)."""
    # behind the body: ears and the antenna's stalk, the shadow and the feet
    _by_value(cv, "head", {"cat ears": (_cat_ears, _CAT_EARS_BOX), "bunny ears": (_bunny_ears, _BUNNY_EARS_BOX),
                           "antenna": (_antenna, _ANTENNA_BOX)})
    _windowed(cv, _SHADOW_BOX, _shadow)
    _windowed(cv, _FEET_BOX, _feet)

    # the body; "inside" (the body less its outline) clips the patterns, the shine and the cheeks
    body = cv.window(_BODY_BOX)
    inside = _body(body)
    body.put_back()
    if body is not cv:
        inside, window = np.zeros(cv.image.shape[1:], dtype=inside.dtype), inside
        _tiles(inside, *body._home[2], writeable=True)[body._home[1]] = window
    cv._inside = inside

    _by_value(cv, "pattern", {"spots": (_spots, _INSIDE_BOX), "stripes": (_stripes, _INSIDE_BOX),
                              "belly": (_belly, _BELLY_BOX)})
    _by_value(cv, "head", {"tuft": (_tuft, _TUFT_BOX), "antenna": (_antenna_ball, _ANTENNA_BALL_BOX),
                           "horns": (_horns, _HORNS_BOX)})
    # the face
    _windowed(cv, _SHINE_BOX, _shine)
    _windowed(cv, _CHEEKS_BOX, _cheeks)
    _windowed(cv, _EYES_BOX, _draw_eyes)
    _by_value(cv, "mouth", {"smile": (_smile, _SMILE_BOX), "open": (_open_mouth, _OPEN_MOUTH_BOX),
                            "fangs": (_fangs, _FANGS_BOX), "beak": (_beak, _BEAK_BOX)})
    _by_value(cv, "accessory", {"glasses": (_glasses, _GLASSES_BOX)})
    _by_value(cv, "accessory", {"bowtie": (_bowtie, _BOWTIE_BOX), "medal": (_medal, _MEDAL_BOX),
                                "scarf": (_scarf, _SCARF_BOX)})


def _body(cv: _Canvas) -> np.ndarray:
    """The body, a rounded box tapered for pears; returns its coverage less the outline (which clips patterns)."""
    x, y, p = cv.x, cv.y, cv.p
    if p["taper"].any():
        bx = np.abs(x) / (1.0 + p["taper"] * (y - _BODY_Y))
    else:  # no pear here: the divisor would be exactly 1
        bx = np.abs(x)
    qx = bx - (p["hx"] - p["r"])
    qy = np.abs(y - _BODY_Y) - (p["hy"] - p["r"])
    d_body = np.sqrt(np.maximum(qx, 0.0) ** 2 + np.maximum(qy, 0.0) ** 2) + np.minimum(np.maximum(qx, qy), 0.0) - p["r"]
    inside = cv.alpha(d_body, _OUTLINE)
    cv.paint(cv.alpha(d_body), _INK)  # paint_outlined, keeping the fill's coverage
    cv.paint(inside, p["colour"])
    return inside


def _shadow(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y, cv.p
    cv.paint(cv.alpha(_ellipse(x, y, 0.0, _BODY_Y + p["hy"] + 0.06, p["hx"] * 0.9, 0.09)) * 0.25, _INK)


def _feet(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y, cv.p
    cv.paint_outlined(_ellipse(np.abs(x), y, 0.2, _BODY_Y + p["hy"] - 0.02, 0.13, 0.08), p["colour"] * 0.72)


def _shine(cv: _Canvas) -> None:
    """A glossy highlight: every Datamon has one (and rosy cheeks)."""
    x, y, p = cv.x, cv.y, cv.p
    cv.paint(cv.alpha(_ellipse(x, y, -p["hx"] * 0.45, p["top"] + 0.16, 0.11, 0.07)) * 0.35 * cv.inside, _WHITE)


def _cheeks(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y, cv.p
    cv.paint(cv.alpha(_ellipse(np.abs(x), y, 0.32, _BODY_Y + 0.06, 0.08, 0.045)) * 0.45 * cv.inside, _BLUSH)


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
    cv.paint(cv.alpha(d) * cv.inside, p["colour"] * 0.55)


def _stripes(cv: _Canvas) -> None:
    x, y, p = cv.x, cv.y - _BODY_Y, cv.p
    band = np.abs((y * 4.0 + 0.2) % 1.0 - 0.5) - 0.16  # in band units; one band every 0.25
    sides = p["hx"] * 0.62 - np.abs(x) + np.abs(y) * 0.25
    d = np.maximum(band / 4.0, sides)
    cv.paint(cv.alpha(d) * cv.inside, p["colour"] * 0.62)


def _belly(cv: _Canvas) -> None:
    p = cv.p
    d = _ellipse(cv.x, cv.y, 0.0, _BODY_Y + p["hy"] * 0.62, p["hx"] * 0.62, p["hy"] * 0.45)
    cv.paint(cv.alpha(d) * cv.inside, p["colour"] * 0.45 + 0.55)


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



# --- windows: where each part can paint -----------------------------------------------------------------------------
# A box is the creature-space rectangle, centre (cx, cy) and half extents (ax, ay), outside which a part leaves
# every pixel alone when drawn sharp; (kx, ky) say how many half-pixel antialiasing ramps its edges can reach
# beyond it (1 for a true distance; more for approximate ones: an ellipse of radii rx >= ry reaches rx / ry ramps
# along x, a polygon's corner 1 / sin(half its angle)). Numbers may depend on the portrait (body, eyes). Each was
# checked by drawing the part alone on a fine grid for every body, eyes, mouth opening and lid, with ramps of up to
# 0.08 (16 pixels at the smallest scale): the k found plus at least 0.3; windows then add 2 pixels on every side.

_EYE_Y = _BODY_Y - 0.1
_BODY_BOX = lambda p: (0.0, _BODY_Y, p["hx"] * (1.0 + p["taper"] * p["hy"]), p["hy"], 1.3, 1.3)  # noqa: E731
_INSIDE_BOX = lambda p: (0.0, _BODY_Y, p["hx"] * (1.0 + p["taper"] * p["hy"]) - _OUTLINE, p["hy"] - _OUTLINE,  # noqa
                         1.3, 1.3)  # where the body less its outline is: patterns
_BELLY_BOX = lambda p: (0.0, _BODY_Y + 0.585 * p["hy"] - 0.0225, 0.62 * p["hx"], 0.415 * p["hy"] - 0.0225,  # noqa
                        2.4, 1.4)  # the belly ellipse, clipped to the inside at the bottom
_CAT_EARS_BOX = lambda p: (0.0, p["top"] - 0.12, p["hx"] * 0.95, 0.24, 1.6, 5.0)  # noqa: E731
_BUNNY_EARS_BOX = lambda p: (0.0, p["top"] - 0.2, 0.3, 0.3, 1.4, 3.8)  # noqa: E731
_ANTENNA_BOX = lambda p: (0.0, p["top"] - 0.1, 0.02, 0.2, 1.3, 1.3)  # noqa: E731
_SHADOW_BOX = lambda p: (0.0, _BODY_Y + p["hy"] + 0.06, p["hx"] * 0.9, 0.09, p["hx"] * 10.0 + 0.3, 1.3)  # noqa
_FEET_BOX = lambda p: (0.0, _BODY_Y + p["hy"] - 0.02, 0.33, 0.08, 2.0, 1.3)  # noqa: E731
_TUFT_BOX = lambda p: (0.0, p["top"] - 0.08, 0.16, 0.155, 1.8, 3.0)  # noqa: E731
_ANTENNA_BALL_BOX = lambda p: (0.0, p["top"] - 0.33, 0.075, 0.075, 1.3, 1.3)  # noqa: E731
_HORNS_BOX = lambda p: (0.0, p["top"] - 0.055, 0.35, 0.16, 1.6, 3.1)  # noqa: E731
_SHINE_BOX = lambda p: (-p["hx"] * 0.45, p["top"] + 0.16, 0.11, 0.07, 1.9, 1.3)  # noqa: E731
_CHEEKS_BOX = lambda p: (0.0, _BODY_Y + 0.06, 0.4, 0.045, 2.1, 1.3)  # noqa: E731
_EYES_BOX = lambda p: (0.0, _EYE_Y, p["ex"] + p["er"] + 0.01, p["er"] + 0.01, 1.3, 1.3)  # noqa: E731
_SMILE_BOX = lambda p: (0.0, _MOUTH_Y + 0.05, 0.12, 0.05, 6.3, 1.3)  # noqa: E731
_OPEN_MOUTH_BOX = lambda p: (0.0, _MOUTH_Y + 0.066, 0.085, 0.11, 2.7, 1.6)  # noqa: E731
_FANGS_BOX = lambda p: (0.0, _MOUTH_Y + 0.0475, 0.15, 0.0525, 5.3, 2.5)  # noqa: E731
_BEAK_BOX = lambda p: (0.0, _MOUTH_Y + 0.015, 0.15, 0.115, 3.6, 1.5)  # noqa: E731
_GLASSES_BOX = lambda p: (0.0, _EYE_Y, p["ex"] + p["er"] + 0.072, p["er"] + 0.072, 1.3, 1.3)  # noqa: E731
_BOWTIE_BOX = lambda p: (0.0, _BODY_Y + 0.3, 0.14, 0.08, 1.3, 2.0)  # noqa: E731
_MEDAL_BOX = lambda p: (0.0, _BODY_Y + 0.3125, 0.2, 0.1525, 2.9, 1.3)  # noqa: E731
_SCARF_BOX = lambda p: (0.0, _BODY_Y + 0.34, p["hx"] * 1.02, 0.16, 1.3, 1.3)  # noqa: E731

__all__ = [
    "NAMED", "TRAITS", "Identity", "Portraits", "Splits", "named_identities", "public_identities", "render",
    "make_splits", "describe", "trait_table", "pairwise_shared_traits", "trait_codes", "trait_distances", "split_seeds",
]
