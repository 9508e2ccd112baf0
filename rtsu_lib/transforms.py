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
    """
    batch, _, height, width = x.shape
    centre = torch.tensor([(height - 1) / 2, (width - 1) / 2], dtype=x.dtype, device=x.device)
    rows, cols = torch.meshgrid(torch.arange(height, dtype=x.dtype, device=x.device),
                                torch.arange(width, dtype=x.dtype, device=x.device), indexing="ij")
    out_coords = torch.stack([rows, cols], -1).reshape(-1, 2) - centre          # (H*W, 2) as (row, col)
    in_coords = out_coords @ matrices.to(x.dtype).transpose(1, 2) + centre     # (B, H*W, 2)
    inside = ((in_coords >= -1e-6) & (in_coords <= centre * 2 + 1e-6)).all(-1)
    # grid_sample wants (x=col, y=row) in [-1, 1] with align_corners=True: -1 is pixel 0, 1 is pixel n - 1
    grid = torch.stack([in_coords[..., 1] / (width - 1), in_coords[..., 0] / (height - 1)], -1) * 2 - 1
    out = F.grid_sample(x, grid.view(batch, height, width, 2), mode="bilinear", padding_mode="zeros",
                        align_corners=True)
    return out * inside.view(batch, 1, height, width)


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


class Smoothing(Transform):
    """Gaussian filter with sigma (0.5 s, 0.5 s) on the two spatial axes, never across channels."""

    name = "smoothing"

    def apply(self, x, params):
        sigma = SMOOTHING_SIGMA * self.strength
        if sigma == 0:
            return x.clone()
        kernel = gaussian_kernel(sigma).to(x.dtype).to(x.device)
        radius = (len(kernel) - 1) // 2
        out = x
        for axis in (-2, -1):  # separable: rows, then columns
            size = out.shape[axis]
            padded = out.index_select(axis, _symmetric_indices(size, radius).to(x.device))
            windows = padded.unfold(axis if axis == -1 else out.dim() - 2, len(kernel), 1)
            out = windows @ kernel
        return out

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
        out, images = x, torch.arange(len(x), device=x.device)
        for position in range(len(self.steps)):
            # every step is applied to the whole batch; each image keeps the one its order names here
            candidates = torch.stack([self.parts[name].apply(out, params[name]) for name in self.steps])
            out = candidates[params["order"][:, position].to(x.device), images]
        return self.noise.apply(out, params["noise"])

    def reference(self, image, params):
        out = image
        for step in params["order"]:
            name = self.steps[int(step)]
            out = self.parts[name].reference(out, params[name])
        return self.noise.reference(out, params["noise"])


def params_of_image(params: dict, index: int) -> dict:
    """The parameters of image ``index`` of a batch draw (numpy), for ``Transform.reference``."""
    return {key: params_of_image(value, index) if isinstance(value, dict) else value[index].cpu().numpy()
            for key, value in params.items()}


TRANSFORMS = {cls.name: cls for cls in (Affine, Flip, Rotation, Smoothing, Shuffle, Noise, Composite)}


def create_transform(name: str, strength: float = 1.0) -> Transform:
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transform {name!r}; choose one of {sorted(TRANSFORMS)}")
    return TRANSFORMS[name](strength)
