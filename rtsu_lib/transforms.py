"""The paper's generating functions, by name from one registry, batched in torch.

Conventions, for every transform:
  - layout (B, C, H, W); values in the space of the variant before normalisation
    (pixels in [0, 1] for image variants); normalise after transforming;
  - the image centre, about which affine maps and rotations turn, is ((H - 1) / 2, (W - 1) / 2),
    15.5 for a 32-pixel axis; a matrix maps output (row, col) coordinates to input ones, as
    ``scipy.ndimage.affine_transform`` does; samples that fall outside the image are 0;
  - random parameters are drawn by ``sample(batch, generator)`` and used by ``apply(x, params)``,
    so a draw can be replayed or inspected; the input is never changed in place;
  - ``strength`` scales the paper's setting (1.0); 0 is the identity.
Each transform also has ``reference(image, params_of_that_image)``: the paper's per-image scipy
call on one (C, H, W) numpy image, kept to check the torch path.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

AFFINE_SCALE_STD = 0.3
SMOOTHING_SIGMA = 0.5
SMOOTHING_TRUNCATE = 4.0  # scipy's default
NOISE_HALF_WIDTH = 0.02
COMPOSITE_NOISE_HALF_WIDTH = 0.01
WARP_TOLERANCE = 1e-6  # pixels: a sample point this close outside the image still counts as inside
OUTSIDE = -4.0  # a normalised coordinate whose bilinear taps are all in the zero padding


class Transform:
    name = ""

    def __init__(self, strength: float = 1.0):
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 10:
            raise ValueError(f"strength={strength!r} is not allowed: must be a number in [0, 10] (1 is the paper's)")
        self.strength = float(strength)

    def sample(self, batch: int, generator: torch.Generator) -> dict:
        return {}

    def apply(self, x: torch.Tensor, params: dict) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(x, self.sample(len(x), generator))

    def reference(self, image: np.ndarray, params: dict) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(strength={self.strength})"


# --- geometric transforms: a 2 x 2 matrix per image ------------------------------------------------

def rotation_matrices(angles: torch.Tensor) -> torch.Tensor:
    cos, sin = torch.cos(angles), torch.sin(angles)
    return torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)


def warp(x: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """Bilinear resampling: output pixel o reads input at M (o - c) + c, zero outside the image.

    Matches ``scipy.ndimage.affine_transform(order=1, mode="constant")``: a sample point
    outside [0, n - 1] on either axis gives 0 rather than a blend with the border.
    Each coordinate is one broadcast sum of a per-row and a per-column term (no tiny batched matmuls).
    """
    batch, _, height, width = x.shape
    matrices = matrices.to(x.device, x.dtype)
    grid = torch.empty(batch, height, width, 2, dtype=x.dtype, device=x.device)
    for axis, size in ((0, height), (1, width)):  # input row, then input column, in pixels
        row_term = matrices[:, axis, 0].view(-1, 1, 1) * _centred(height, x).view(1, -1, 1) + (size - 1) / 2
        col_term = matrices[:, axis, 1].view(-1, 1, 1) * _centred(width, x).view(1, 1, -1)
        torch.add(row_term, col_term, out=grid[..., 1 - axis])  # grid_sample wants (x=col, y=row)
    last = grid.new_tensor([width - 1, height - 1])
    inside = ((grid >= -WARP_TOLERANCE) & (grid <= last + WARP_TOLERANCE)).all(-1)
    # [-1, 1] with align_corners=True: -1 is pixel 0, 1 is pixel n - 1; outside points read only zero padding
    grid = grid / last * 2 - 1
    grid.masked_fill_(~inside.unsqueeze(-1), OUTSIDE)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _centred(size, like):
    return torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2


def reference_warp(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    from scipy.ndimage import affine_transform

    centre = (np.array(image.shape[1:]) - 1) / 2
    offset = centre - matrix @ centre
    return np.stack([affine_transform(channel, matrix, offset=offset, order=1, mode="constant", cval=0.0)
                     for channel in image])


class Affine(Transform):
    """Scale by diag(1 + N(0, 0.3 s), 1 + N(0, 0.3 s)) and rotate by an angle ~ U(-180 s, 180 s) degrees.

    The matrix R(angle) diag(scales) is applied to every channel about the image centre.
    The paper calls scipy's affine_transform at its default spline order 3; this is order 1
    (bilinear), the order that ``grid_sample`` can reproduce.
    """

    name = "affine"

    def sample(self, batch, generator):
        scales = 1 + torch.randn(batch, 2, generator=generator, dtype=torch.float64) * AFFINE_SCALE_STD * self.strength
        angles = (torch.rand(batch, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi * self.strength
        return {"matrix": rotation_matrices(angles) @ torch.diag_embed(scales)}

    def apply(self, x, params):
        return warp(x, params["matrix"].to(x.device))

    def reference(self, image, params):
        return reference_warp(image, params["matrix"])


class Rotation(Affine):
    """Rotate about the centre by an angle ~ U(-180 s, 180 s) degrees (bilinear, zeros outside)."""

    name = "rotation"

    def sample(self, batch, generator):
        angles = (torch.rand(batch, generator=generator, dtype=torch.float64) * 2 - 1) * math.pi * self.strength
        return {"matrix": rotation_matrices(angles)}


class Flip(Transform):
    """Mirror left-right. ``strength`` is the share of images flipped, capped at 1 (all of them)."""

    name = "flip"

    def sample(self, batch, generator):
        return {"flip": torch.rand(batch, generator=generator) < min(self.strength, 1.0)}

    def apply(self, x, params):
        flip = params["flip"].to(x.device).view(-1, 1, 1, 1)
        return torch.where(flip, x.flip(-1), x)

    def reference(self, image, params):
        return np.ascontiguousarray(image[:, :, ::-1]) if params["flip"] else image.copy()


# --- smoothing -------------------------------------------------------------------------------------

def gaussian_kernel(sigma: float, truncate: float = SMOOTHING_TRUNCATE) -> torch.Tensor:
    """The 1-D kernel scipy.ndimage.gaussian_filter uses (radius int(truncate * sigma + 0.5))."""
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def _symmetric_indices(size: int, radius: int) -> torch.Tensor:
    """Indices that pad an axis half-sample symmetrically (scipy's ``reflect``: d c b a | a b c d)."""
    index = torch.arange(-radius, size + radius)
    index = torch.where(index < 0, -index - 1, index)
    index = torch.where(index >= size, 2 * size - index - 1, index)
    return index.clamp(0, size - 1)


def smoothing_matrix(size: int, sigma: float) -> torch.Tensor:
    """(size, size) float64 matrix of scipy's 1-D Gaussian filter with ``reflect`` borders."""
    kernel = gaussian_kernel(sigma)
    padded = _symmetric_indices(size, (len(kernel) - 1) // 2)
    matrix = torch.zeros(size, size, dtype=torch.float64)
    for row in range(size):
        matrix[row].index_add_(0, padded[row:row + len(kernel)], kernel)
    return matrix


class Smoothing(Transform):
    """Gaussian filter with sigma (0.5 s, 0.5 s) on the two spatial axes, never across channels."""

    name = "smoothing"

    def apply(self, x, params):
        sigma = SMOOTHING_SIGMA * self.strength
        if sigma == 0:
            return x.clone()
        # separable and linear along each axis: out = A_rows x A_cols^T, two small matmuls per image
        rows = smoothing_matrix(x.shape[-2], sigma).to(x.device, x.dtype)
        cols = smoothing_matrix(x.shape[-1], sigma).to(x.device, x.dtype)
        return rows @ x @ cols.T

    def reference(self, image, params):
        from scipy.ndimage import gaussian_filter

        sigma = SMOOTHING_SIGMA * self.strength
        # the paper's call on an (H, W, C) image: sigma 0 on the channel axis
        return gaussian_filter(image.transpose(1, 2, 0), sigma=(sigma, sigma, 0), mode="reflect").transpose(2, 0, 1)


# --- permutation and noise ------------------------------------------------------------------------

class Shuffle(Transform):
    """A fresh random permutation of all C*H*W values of each image.

    ``strength`` below 1 permutes only that share of the positions (chosen at random) among
    themselves; 1 or more permutes all of them.
    """

    name = "shuffle"

    def sample(self, batch, generator):
        size = 3 * 32 * 32
        permutations = torch.rand(batch, size, generator=generator).argsort(1)
        moved = round(min(self.strength, 1.0) * size)
        if moved < size:  # keep positions outside a random subset where they are
            chosen = torch.rand(batch, size, generator=generator).argsort(1)[:, :moved]
            targets = torch.gather(chosen, 1, torch.rand(batch, moved, generator=generator).argsort(1))
            permutations = torch.arange(size).repeat(batch, 1).scatter(1, chosen, targets)
        return {"permutation": permutations}

    def apply(self, x, params):
        flat = x.reshape(len(x), -1)
        return torch.gather(flat, 1, params["permutation"].to(x.device)).view_as(x)

    def reference(self, image, params):
        return image.reshape(-1)[params["permutation"]].reshape(image.shape)


class Noise(Transform):
    """Add U(-0.02 s, 0.02 s) to every value."""

    name = "noise"
    half_width = NOISE_HALF_WIDTH

    def sample(self, batch, generator):
        noise = (torch.rand(batch, 3, 32, 32, generator=generator) * 2 - 1) * self.half_width * self.strength
        return {"noise": noise}

    def apply(self, x, params):
        return x + params["noise"].to(x.device, x.dtype)

    def reference(self, image, params):
        return image + params["noise"]


class Composite(Transform):
    """Smoothing, shuffle and affine in a random order per image, then U(-0.01 s, 0.01 s) noise."""

    name = "composite"
    steps = ("smoothing", "shuffle", "affine")

    def __init__(self, strength=1.0):
        super().__init__(strength)
        self.parts = {"smoothing": Smoothing(strength), "shuffle": Shuffle(strength), "affine": Affine(strength)}
        self.noise = Noise(strength)
        self.noise.half_width = COMPOSITE_NOISE_HALF_WIDTH

    def sample(self, batch, generator):
        params = {name: part.sample(batch, generator) for name, part in self.parts.items()}
        params["order"] = torch.rand(batch, len(self.steps), generator=generator).argsort(1)
        params["noise"] = self.noise.sample(batch, generator)
        return params

    def apply(self, x, params):
        out = x
        for position in range(len(self.steps)):
            # each step runs once, on the images whose order names it at this position
            step_of_image = params["order"][:, position].to(x.device)
            next_out = torch.empty_like(out)
            for number, name in enumerate(self.steps):
                chosen = (step_of_image == number).nonzero().squeeze(1)
                if len(chosen) == 0:
                    continue
                part_params = select_images(params[name], chosen)
                next_out[chosen] = self.parts[name].apply(out[chosen], part_params)
            out = next_out
        return self.noise.apply(out, params["noise"])

    def reference(self, image, params):
        out = image
        for step in params["order"]:
            name = self.steps[int(step)]
            out = self.parts[name].reference(out, params[name])
        return self.noise.reference(out, params["noise"])


def select_images(params: dict, index: torch.Tensor) -> dict:
    """The parameters of the images ``index`` of a batch draw (every tensor's first axis is the image)."""
    return {key: select_images(value, index) if isinstance(value, dict) else value[index.to(value.device)]
            for key, value in params.items()}


def params_of_image(params: dict, index: int) -> dict:
    """The parameters of image ``index`` of a batch draw (numpy), for ``Transform.reference``."""
    return {key: params_of_image(value, index) if isinstance(value, dict) else value[index].cpu().numpy()
            for key, value in params.items()}


TRANSFORMS = {cls.name: cls for cls in (Affine, Flip, Rotation, Smoothing, Shuffle, Noise, Composite)}


def create_transform(name: str, strength: float = 1.0) -> Transform:
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}; choose one of {sorted(TRANSFORMS)}")
    return TRANSFORMS[name](strength)
