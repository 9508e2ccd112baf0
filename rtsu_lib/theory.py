"""An explicit two-layer RTSU network that fits any finite two-class set (universal fitting).

The construction, for points X with labels y in {0, 1} (class 1 is "positive"):
  1. Split the positives into groups whose convex hulls hold no negative point (greedy, each
     candidate checked with a linear program). Every group's hull is an intersection of
     half-spaces {x : w_f . x + b_f <= 0}, one per facet f.
  2. Layer 1, one RTSU per facet: z_f = w_f . x + b_f, then R(theta_f) k(z_f) + s_f. Its first
     coordinate before rotation, max(z_f, 0), is the distance-like amount by which x lies outside
     facet f: 0 for the whole group, > 0 on some facet for every negative point.
  3. Layer 2, one RTSU per group: v_g = eps - sum_f max(z_f, 0) (a linear map of layer 1's
     output once the fixed rotation and shift are undone), then k(v_g). max(v_g, 0) = eps on
     the group and 0 on every negative.
  4. Output: sum_g max(v_g, 0) - eps / 2 is > 0 on every positive and < 0 on every negative,
     so the layer-2 images of the two classes are linearly separable.
``linearly_separable`` checks that last claim (and that the input was not separable) with
``scipy.optimize.linprog``: a feasibility problem, with no tuned tolerance.
"""

from dataclasses import dataclass

import numpy as np
import torch

from .activations import RTSU

SEPARATION_MARGIN = 1.0


# --- small 2-D data sets ---------------------------------------------------------------------------

def two_moons(n=120, noise=0.08, seed=0):
    rng = np.random.default_rng(seed)
    half = n // 2
    angles = rng.uniform(0, np.pi, n)
    upper = np.c_[np.cos(angles[:half]), np.sin(angles[:half])]
    lower = np.c_[1 - np.cos(angles[half:]), 0.5 - np.sin(angles[half:])]
    x = np.r_[upper, lower] + rng.normal(0, noise, (n, 2))
    return x, np.r_[np.zeros(half, int), np.ones(n - half, int)]


def xor(n=80, noise=0.15, seed=0):
    rng = np.random.default_rng(seed)
    corners = np.array([[0, 0], [1, 1], [0, 1], [1, 0]], float)
    which = np.arange(n) % 4
    return corners[which] + rng.normal(0, noise, (n, 2)), (which >= 2).astype(int)


def circles(n=120, noise=0.05, factor=0.45, seed=0):
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * np.pi, n)
    radius = np.where(np.arange(n) % 2 == 0, 1.0, factor)
    x = np.c_[np.cos(angles), np.sin(angles)] * radius[:, None] + rng.normal(0, noise, (n, 2))
    return x, (np.arange(n) % 2 == 1).astype(int)


def random_labels_2d(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, 2)), rng.permutation(np.arange(n) % 2)


DATASETS_2D = {"two_moons": two_moons, "xor": xor, "circles": circles, "random_labels": random_labels_2d}


def make_2d_dataset(name, seed=0, **options):
    if name not in DATASETS_2D:
        raise ValueError(f"unknown 2-D data set {name!r}; choose one of {sorted(DATASETS_2D)}")
    return DATASETS_2D[name](seed=seed, **options)


# --- linear programs -------------------------------------------------------------------------------

def linearly_separable(x, y) -> bool:
    """True when some (w, b) gives w . x + b >= 1 on class 1 and <= -1 on class 0 (an LP is feasible).

    Any strict separation can be scaled to margin 1, so feasibility is exactly separability.
    """
    from scipy.optimize import linprog

    x = np.asarray(x, float)
    signs = np.where(np.asarray(y) == 1, 1.0, -1.0)
    # variables (w, b); constraint -sign * (w . x + b) <= -1
    a_ub = -signs[:, None] * np.c_[x, np.ones(len(x))]
    # NOTE: HiGHS's default can end "unknown" on some infeasible (inseparable) sets; its interior
    # point method then decides.
    for method in ("highs", "highs-ipm"):
        result = linprog(np.zeros(x.shape[1] + 1), A_ub=a_ub, b_ub=-np.full(len(x), SEPARATION_MARGIN),
                         bounds=[(None, None)] * (x.shape[1] + 1), method=method)
        if result.status in (0, 2):
            break
    if result.status not in (0, 2):
        raise RuntimeError(f"linprog could not decide separability: {result.message}")
    return result.status == 0


def in_convex_hull(point, points) -> bool:
    """True when ``point`` is a convex combination of ``points`` (an LP is feasible)."""
    from scipy.optimize import linprog

    points = np.asarray(points, float)
    a_eq = np.r_[points.T, np.ones((1, len(points)))]
    b_eq = np.r_[np.asarray(point, float), 1.0]
    result = linprog(np.zeros(len(points)), A_eq=a_eq, b_eq=b_eq, bounds=[(0, None)] * len(points), method="highs")
    return result.status == 0


# --- the construction ------------------------------------------------------------------------------

def convex_groups(positives, negatives) -> list[np.ndarray]:
    """Greedy split of the positives into groups whose (slightly inflated) hulls hold no negative.

    Each point joins the first group that stays clean with it, or starts a new one; a single
    point is always clean, so the split always exists. (``in_convex_hull`` is the LP form of
    the same test; the facet form used here is faster.)
    """
    groups: list[list[int]] = []
    for index in np.argsort(positives[:, 0], kind="stable"):
        for group in groups:
            w, b = hull_halfspaces(_inflate(positives[group + [index]], negatives))
            if not np.any(np.all(negatives @ w.T + b <= 0, axis=1)):
                group.append(index)
                break
        else:
            groups.append([index])
    return [np.array(group) for group in groups]


def _inflate(points, negatives):
    """Corners of small squares around each point, smaller than half the gap to the nearest negative.

    Inflating makes every hull two-dimensional (a single point or a segment has no facets) while
    keeping each original point strictly inside its group's hull.
    """
    gap = np.min(np.linalg.norm(points[:, None] - negatives[None], axis=-1))
    radius = gap / 4
    offsets = np.array([[-1, -1], [-1, 1], [1, -1], [1, 1]]) * radius
    return (points[:, None, :] + offsets[None]).reshape(-1, 2)


def hull_halfspaces(points) -> tuple[np.ndarray, np.ndarray]:
    """Facets (w, b) of the convex hull of 2-D ``points``: w . x + b <= 0 inside, w of unit length."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(points)
    return hull.equations[:, :2], hull.equations[:, 2]


@dataclass
class TwoLayerRTSU:
    """The fitted network: layer 1 (facets), layer 2 (groups), output (w, b)."""

    facet_w: np.ndarray          # (F, 2)
    facet_b: np.ndarray          # (F,)
    facet_group: np.ndarray      # (F,) the group each facet belongs to
    layer1: RTSU                 # F units
    layer2: RTSU                 # G units (angle 0, no shift)
    eps: float
    groups: list

    def layer1_map(self, x) -> np.ndarray:
        """(N, 2) inputs -> (N, 2F) outputs of the first RTSU layer."""
        z = torch.as_tensor(np.asarray(x, float) @ self.facet_w.T + self.facet_b, dtype=torch.float32)
        return self.layer1(z).double().numpy()

    def outside_amounts(self, h1) -> np.ndarray:
        """Undo layer 1's fixed rotation and shift (a linear map the next layer absorbs): max(z_f, 0)."""
        f = len(self.facet_b)
        theta = self.layer1.theta.double().numpy()
        y1 = h1[:, :f] - self.layer1.shift[0].double().numpy()
        y2 = h1[:, f:] - self.layer1.shift[1].double().numpy()
        # y = R(theta) (p, n)  =>  p = cos(theta) y1 + sin(theta) y2
        return np.cos(theta) * y1 + np.sin(theta) * y2

    def layer2_map(self, x) -> np.ndarray:
        """(N, 2) inputs -> (N, 2G) outputs of the second RTSU layer."""
        outside = self.outside_amounts(self.layer1_map(x))
        per_group = np.stack([outside[:, self.facet_group == g].sum(1) for g in range(len(self.groups))], 1)
        v = torch.as_tensor(self.eps - per_group, dtype=torch.float32)
        return self.layer2(v).double().numpy()

    def scores(self, x) -> np.ndarray:
        g = len(self.groups)
        return self.layer2_map(x)[:, :g].sum(1) - self.eps / 2


def build_two_layer_rtsu(x, y, seed=0) -> TwoLayerRTSU:
    """Construct the network above for a 2-D set; layer-1 angles and shifts are random (seeded).

    Any fixed angle and shift work, because the next layer can undo them exactly.
    """
    x, y = np.asarray(x, float), np.asarray(y)
    positives, negatives = x[y == 1], x[y == 0]
    if len(positives) == 0 or len(negatives) == 0:
        raise ValueError("both classes need at least one point")
    groups = convex_groups(positives, negatives)
    ws, bs, owners = [], [], []
    for g, members in enumerate(groups):
        w, b = hull_halfspaces(_inflate(positives[members], negatives))
        ws.append(w)
        bs.append(b)
        owners.append(np.full(len(b), g))
    facet_w, facet_b, facet_group = np.concatenate(ws), np.concatenate(bs), np.concatenate(owners)

    # the smallest amount by which a negative point lies outside each group's hull sets eps
    outside = np.maximum(negatives @ facet_w.T + facet_b, 0)
    per_group = np.stack([outside[:, facet_group == g].sum(1) for g in range(len(groups))], 1)
    eps = float(per_group.min()) / 2
    generator = torch.Generator().manual_seed(seed)
    layer1 = RTSU(len(facet_b), init="uniform", generator=generator)
    layer2 = RTSU.from_parameters(np.zeros(len(groups)), np.zeros(len(groups)), np.zeros(len(groups)))
    return TwoLayerRTSU(facet_w, facet_b, facet_group, layer1, layer2, eps, groups)
