"""A vectorised, deterministic renderer of people and of the studio's backgrounds.

The body is a set of tapered capsules (limbs, torso pieces, neck, an ellipsoidal head), drawn in
screen space: for every pixel and every capsule, the distance to the capsule's projected axis
gives a soft coverage (one output pixel wide: anti-aliasing), a depth on the capsule's surface
and an approximate surface normal. Pixels composite the capsules front to back by depth (a
z-buffer with soft edges). Textures live in the body's own surface coordinates: position along
the torso or the bone (mm) and the angle around it measured from the body's forward direction,
so stripes and checks move with the body. The soft silhouette mask is the union of coverages.

All functions work in the camera conventions of ``dprobe.geometry`` (mm, pixels, x right,
y down, z forward) and on batches; outputs are float32 RGB in [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dprobe.data import appearance as A
from dprobe.geometry import box_to_theta, crop_at, crop_pixel_centres, world_to_camera

# Extra points the body is drawn with, appended after the 17 joints.
_TOE_R, _TOE_L, _HEEL_R, _HEEL_L, _HAND_R, _HAND_L, _HEAD_A, _HEAD_B, _NECK_TOP, _WAIST = range(
    17, 27)

# Body parts (what colours a capsule).
SKIN, HEAD, SHIRT, TROUSERS, SHOES, FOREARM = range(6)

# Capsules: start point, end point, start radius, end radius (mm, at build 1), part, and
# whether its texture runs along the torso (True) or along its own bone (False).
_CAPSULES = (
    (1, 4, 100, 100, TROUSERS, True),            # hips
    (0, _WAIST, 112, 118, TROUSERS, True),       # lower torso
    (_WAIST, 8, 120, 118, SHIRT, True),          # chest
    (11, 14, 72, 72, SHIRT, True),               # shoulders
    (_WAIST, 11, 82, 70, SHIRT, True),           # left flank
    (_WAIST, 14, 82, 70, SHIRT, True),           # right flank
    (11, 12, 50, 42, SHIRT, False),              # left upper arm
    (14, 15, 50, 42, SHIRT, False),              # right upper arm
    (12, 13, 40, 32, FOREARM, False),            # left forearm
    (15, 16, 40, 32, FOREARM, False),            # right forearm
    (13, _HAND_L, 33, 30, SKIN, False),          # left hand
    (16, _HAND_R, 33, 30, SKIN, False),          # right hand
    (4, 5, 80, 58, TROUSERS, False),             # left thigh
    (1, 2, 80, 58, TROUSERS, False),             # right thigh
    (5, 6, 55, 42, TROUSERS, False),             # left shin
    (2, 3, 55, 42, TROUSERS, False),             # right shin
    (_HEEL_L, _TOE_L, 44, 40, SHOES, False),     # left shoe
    (_HEEL_R, _TOE_R, 44, 40, SHOES, False),     # right shoe
    (8, _NECK_TOP, 50, 48, SKIN, False),         # neck
    (_HEAD_A, _HEAD_B, 97, 97, HEAD, False),     # head
)
_CAP_A = torch.tensor([c[0] for c in _CAPSULES])
_CAP_B = torch.tensor([c[1] for c in _CAPSULES])
_CAP_RADII = torch.tensor([[c[2], c[3]] for c in _CAPSULES], dtype=torch.float32)
_CAP_PART = torch.tensor([c[4] for c in _CAPSULES])
_CAP_TORSO = torch.tensor([c[5] for c in _CAPSULES])
N_CAPSULES = len(_CAPSULES)

#: Direction of the key light in the world (towards the light), z up.
LIGHT_DIRECTION = (0.35, -0.45, 0.82)
AMBIENT = 0.42
#: Nearest covering capsules composited per pixel (more are hidden behind them).
LAYERS = 2


def body_points(joints: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The 27 points the body is drawn from, with the body's forward and up directions.

    ``joints (B, 17, 3)`` world mm -> points ``(B, 27, 3)`` world mm, forward ``(B, 3)`` (unit,
    horizontal, from the hip line), torso up ``(B, 3)`` (unit, pelvis to thorax).
    """
    left = joints[:, 4] - joints[:, 1]
    up_world = torch.zeros_like(left)
    up_world[:, 2] = 1
    forward = torch.linalg.cross(left, up_world)
    forward = forward / forward.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    torso_up = joints[:, 8] - joints[:, 0]
    torso_up = torso_up / torso_up.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    scale = (joints[:, 8] - joints[:, 0]).norm(dim=-1, keepdim=True) / 485.0  # ~ height scale
    down = -up_world

    def hand(wrist: int, elbow: int) -> Tensor:
        d = joints[:, wrist] - joints[:, elbow]
        return joints[:, wrist] + 85 * scale * d / d.norm(dim=-1, keepdim=True).clamp_min(1e-6)

    head_axis = joints[:, 10] - joints[:, 9]
    extra = [
        joints[:, 3] + scale * (150 * forward + 40 * down),   # right toe
        joints[:, 6] + scale * (150 * forward + 40 * down),   # left toe
        joints[:, 3] + scale * (-35 * forward + 25 * down),   # right heel
        joints[:, 6] + scale * (-35 * forward + 25 * down),   # left heel
        hand(16, 15),
        hand(13, 12),
        joints[:, 9] + 0.32 * head_axis - 30 * scale * forward,
        joints[:, 9] + 0.55 * head_axis - 25 * scale * forward,
        joints[:, 9] + 0.05 * head_axis - 45 * scale * forward,
        (joints[:, 0] + joints[:, 7]) / 2,
    ]
    return torch.cat((joints, torch.stack(extra, dim=1)), dim=1), forward, torso_up


def _smooth_square(x: Tensor, sharpness: float = 4.0) -> Tensor:
    """A square wave in [0, 1] of period 1, with soft edges (anti-aliased stripes)."""
    return 0.5 + 0.5 * torch.tanh(sharpness * torch.sin(2 * torch.pi * x))


@dataclass
class PersonLayer:
    """A rendered person: premultiplied colour ``(B, 3, h, w)`` and coverage ``(B, 1, h, w)``."""

    color: Tensor
    alpha: Tensor

    def over(self, background: Tensor) -> Tensor:
        """The person composited over ``background (B, 3, h, w)``."""
        return self.color + (1 - self.alpha) * background


def render_person(joints: Tensor, appearance: Tensor, R: Tensor, t: Tensor, K: Tensor,
                  pixels: Tensor, pixel_size: Tensor, ambient: float = AMBIENT) -> PersonLayer:
    """Render people at given full-frame pixel positions.

    ``joints (B, 17, 3)`` world mm; ``appearance (B, 25)``; camera ``R (B, 3, 3)``, ``t (B, 3)``,
    ``K (B, 3, 3)``; ``pixels (B, h, w, 2)`` full-frame pixel coordinates to shade (e.g. the
    centres of a crop's pixels); ``pixel_size (B,)`` the spacing of those pixels in frame pixels
    (the width of the anti-aliased edge); ``ambient`` the share of the light every surface gets
    whatever its normal (1: unshaded, each part its flat colour).
    """
    if not 0.0 <= ambient <= 1.0:
        raise ValueError(f"ambient must be a share of the light in [0, 1], got {ambient}")
    B, h, w, _ = pixels.shape
    dtype = pixels.dtype
    pts_w, forward_w, up_w = body_points(joints.to(dtype))
    pts = world_to_camera(pts_w, R.to(dtype), t.to(dtype))           # (B, 27, 3) camera mm
    forward = torch.einsum("bij,bj->bi", R.to(dtype), forward_w)     # camera frame
    torso_up = torch.einsum("bij,bj->bi", R.to(dtype), up_w)
    light_w = torch.tensor(LIGHT_DIRECTION, dtype=dtype)
    light = torch.einsum("bij,j->bi", R.to(dtype), light_w / light_w.norm())

    fx, fy = K[:, 0, 0].to(dtype), K[:, 1, 1].to(dtype)
    cx, cy = K[:, 0, 2].to(dtype), K[:, 1, 2].to(dtype)
    f = (fx + fy) / 2
    z = pts[..., 2].clamp_min(1.0)
    proj = torch.stack((pts[..., 0] / z * fx[:, None] + cx[:, None],
                        pts[..., 1] / z * fy[:, None] + cy[:, None]), dim=-1)

    build = appearance[:, A.BUILD].to(dtype)
    height = appearance[:, A.HEIGHT].to(dtype)
    radii_mm = _CAP_RADII.to(dtype)[None] * (build * height)[:, None, None]  # (B, K, 2)
    a3, b3 = pts[:, _CAP_A], pts[:, _CAP_B]                                 # (B, K, 3)
    a2, b2 = proj[:, _CAP_A], proj[:, _CAP_B]                               # (B, K, 2)
    za, zb = z[:, _CAP_A], z[:, _CAP_B]
    ra = radii_mm[..., 0] * f[:, None] / za                                  # projected px
    rb = radii_mm[..., 1] * f[:, None] / zb

    # Geometry of every (pixel, candidate capsule) pair, pixels grouped in tiles: (B, P, Kt).
    tiles = _tiles(pixels)
    cand = _candidates(tiles, a2, b2, torch.maximum(ra, rb) + pixel_size.to(dtype)[:, None])
    T, Pt, Kt = tiles.shape[1], tiles.shape[2], cand.shape[-1]

    def at_cand(v: Tensor) -> Tensor:  # (B, K) capsule value -> (B, T, 1, Kt)
        return v.gather(1, cand.reshape(B, -1)).reshape(B, T, 1, Kt)

    ax, ay = at_cand(a2[..., 0]), at_cand(a2[..., 1])
    abx, aby = at_cand(b2[..., 0]) - ax, at_cand(b2[..., 1]) - ay
    inv_len2 = 1 / (abx * abx + aby * aby).clamp_min(1e-6)
    dx, dy = tiles[..., 0:1] - ax, tiles[..., 1:2] - ay
    s_axis = ((dx * abx + dy * aby) * inv_len2).clamp_(0, 1)
    ox, oy = dx - s_axis * abx, dy - s_axis * aby
    dist = torch.sqrt(ox * ox + oy * oy)
    ra_c = at_cand(ra)
    radius = ra_c + s_axis * (at_cand(rb) - ra_c)
    alpha = (0.5 + (radius - dist) / pixel_size.to(dtype)[:, None, None, None]).clamp_(0, 1)
    rel = (dist / radius.clamp_min(1e-6)).clamp_(max=1.0)
    bulge = torch.sqrt((1 - rel * rel).clamp_min_(0))
    rmm_a, za_c = at_cand(radii_mm[..., 0]), at_cand(za)
    depth = (za_c + s_axis * (at_cand(zb) - za_c)
             - (rmm_a + s_axis * (at_cand(radii_mm[..., 1]) - rmm_a)) * bulge)
    depth = depth.masked_fill_(alpha <= 0, float("inf"))

    # Keep the LAYERS nearest covering capsules of each pixel, nearest first: (B, P, L).
    n_layers = min(LAYERS, Kt)
    _, local = depth.topk(n_layers, dim=-1, largest=False, sorted=True)
    k_idx = cand.unsqueeze(2).expand(B, T, Pt, Kt).gather(-1, local).reshape(B, T * Pt, -1)

    def pick(x: Tensor) -> Tensor:  # (B, T, Pt, Kt) -> (B, P, L)
        return x.gather(-1, local).reshape(B, T * Pt, n_layers)

    alpha_l, s_l, rel_l, bulge_l, ox_l, oy_l = map(pick, (alpha, s_axis, rel, bulge, ox, oy))
    dist_l = pick(dist).clamp_min(1e-6)

    def per_capsule(v: Tensor) -> Tensor:  # (B, K, ...) capsule attribute -> (B, P, L, ...)
        flat = v.reshape(B, N_CAPSULES, -1)
        idx = k_idx.reshape(B, -1, 1).expand(-1, -1, flat.shape[-1])
        return flat.gather(1, idx).reshape(B, h * w, n_layers, *v.shape[2:])

    # Approximate surface normal in the camera frame (towards the camera on the centre line).
    nx, ny, nz = rel_l * ox_l / dist_l, rel_l * oy_l / dist_l, -bulge_l

    def along(v: Tensor) -> Tensor:  # n . v for vectors v (B, 3) or (B, P, L, 3)
        if v.ndim == 2:
            v = v[:, None, None, :]
        return nx * v[..., 0] + ny * v[..., 1] + nz * v[..., 2]

    shade = ambient + (1 - ambient) * along(light).clamp_min(0)

    # Texture coordinates: u (mm along the torso or the bone), angle around the axis.
    axis3 = b3 - a3
    torso = _CAP_TORSO[None, :, None].expand(B, -1, 1)
    pelvis = pts[:, 0:1]
    u_axis = torch.where(torso, torso_up[:, None, :].expand_as(axis3),
                         axis3 / axis3.norm(dim=-1, keepdim=True).clamp_min(1e-6))
    u0 = torch.where(torso[..., 0], ((a3 - pelvis) * u_axis).sum(-1), torch.zeros_like(za))
    du = (axis3 * u_axis).sum(-1)
    u_mm = per_capsule(u0) + s_l * per_capsule(du)
    ref = forward[:, None, :] - (forward[:, None, :] * u_axis).sum(-1, keepdim=True) * u_axis
    ref = ref / ref.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    side = torch.linalg.cross(u_axis, ref, dim=-1)
    u_axis_l = per_capsule(u_axis)
    angle = torch.atan2(along(per_capsule(side)), along(per_capsule(ref)))

    period_mm = (appearance[:, A.PERIOD].to(dtype) * 100).clamp_min(20)[:, None, None]
    stripes = _smooth_square(u_mm / period_mm)
    checks_u = torch.tanh(4 * torch.sin(2 * torch.pi * u_mm / period_mm))
    checks_a = torch.tanh(4 * torch.sin(4 * angle))
    checks = 0.5 + 0.5 * checks_u * checks_a
    pattern = appearance[:, A.PATTERN].to(dtype)
    shirt_mix = pattern[:, 1, None, None] * stripes + pattern[:, 2, None, None] * checks
    hair = ((along(u_axis_l) - 0.15) * 6).clamp(0, 1).maximum(
        ((-along(forward) - 0.25) * 5).clamp(0, 1) * (s_l > 0.3))
    part = _CAP_PART
    long_sleeves = appearance[:, A.SLEEVES].to(dtype) > 0.5                   # (B,)
    forearm_is_shirt = long_sleeves[:, None] & (part == FOREARM)[None]       # (B, K)
    is_shirt = ((part == SHIRT)[None] | forearm_is_shirt)                    # (B, K)
    is_head = (part == HEAD)[None].expand(B, -1)

    app = appearance.to(dtype)
    base = torch.zeros(B, N_CAPSULES, 3, dtype=dtype)
    base[:] = app[:, None, A.SKIN]
    for part_id, sl in ((SHIRT, A.SHIRT), (TROUSERS, A.TROUSERS), (SHOES, A.SHOES)):
        base[:, part == part_id] = app[:, None, sl]
    base = torch.where(forearm_is_shirt.unsqueeze(-1), app[:, None, A.SHIRT], base)
    second = torch.where(is_shirt.unsqueeze(-1), app[:, None, A.SHIRT2], app[:, None, A.HAIR])
    mix = (per_capsule(is_shirt.to(dtype)) * shirt_mix
           + per_capsule(is_head.to(dtype)) * hair)                          # (B, P, L)
    base_l, second_l = per_capsule(base), per_capsule(second)                # (B, P, L, 3)
    color = (base_l + mix.unsqueeze(-1) * (second_l - base_l)) * shade.unsqueeze(-1)

    # Front-to-back compositing of the nearest layers.
    transmit = torch.cumprod(1 - alpha_l, dim=-1)
    before = torch.cat((torch.ones_like(transmit[..., :1]), transmit[..., :-1]), dim=-1)
    premult = ((before * alpha_l).unsqueeze(-1) * color).sum(dim=2)          # (B, P, 3)
    coverage = 1 - transmit[..., -1]
    return PersonLayer(_untile(premult, h, w).float(), _untile(coverage.unsqueeze(-1), h, w).float())


def _tile_size(h: int, w: int) -> int:
    return next(t for t in (8, 4, 2, 1) if h % t == 0 and w % t == 0)


def _tiles(pixels: Tensor) -> Tensor:
    """Pixels ``(B, h, w, 2)`` regrouped as square tiles ``(B, T, Pt, 2)``."""
    B, h, w, _ = pixels.shape
    ts = _tile_size(h, w)
    x = pixels.reshape(B, h // ts, ts, w // ts, ts, 2).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(B, (h // ts) * (w // ts), ts * ts, 2)


def _untile(values: Tensor, h: int, w: int) -> Tensor:
    """Per-pixel values ``(B, T * Pt, C)`` in tile order back to images ``(B, C, h, w)``."""
    B, _, C = values.shape
    ts = _tile_size(h, w)
    x = values.reshape(B, h // ts, w // ts, ts, ts, C).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(B, C, h, w)


def _candidates(tiles: Tensor, a2: Tensor, b2: Tensor, reach: Tensor) -> Tensor:
    """Indices ``(B, T, Kt)`` of the capsules that may cover some pixel of each tile.

    A capsule ``a2 -> b2 (B, K, 2)`` px with largest drawn radius ``reach (B, K)`` px can touch
    a tile when the distance from the tile's centre to its axis is below ``reach`` plus the
    tile's half-diagonal. ``Kt`` is the largest such count in the batch; tiles with fewer
    candidates are padded with capsules that cover none of their pixels.
    """
    centre = (tiles.amax(dim=2) + tiles.amin(dim=2)) / 2                      # (B, T, 2)
    half_diag = ((tiles.amax(dim=2) - tiles.amin(dim=2)).norm(dim=-1) / 2)   # (B, T)
    ab = (b2 - a2).unsqueeze(1)                                               # (B, 1, K, 2)
    ap = centre.unsqueeze(2) - a2.unsqueeze(1)                                # (B, T, K, 2)
    s = ((ap * ab).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-6)).clamp(0, 1)
    dist = (ap - s.unsqueeze(-1) * ab).norm(dim=-1)
    touch = dist <= reach.unsqueeze(1) + half_diag.unsqueeze(-1) + 1.0
    k_max = max(int(touch.sum(-1).max()), 1)
    return touch.to(torch.int8).topk(k_max, dim=-1).indices


def sample_background(backgrounds: Tensor, boxes: Tensor, crop_size: int) -> Tensor:
    """Crops ``(B, 3, c, c)`` of backgrounds ``(B, 3, H, W)`` at boxes ``(B, 3)`` px.

    Bilinear, align_corners=False, zeros outside the frame: the same sampling as
    ``geometry.crop_at`` with ``geometry.box_to_theta``.
    """
    theta = box_to_theta(boxes.to(backgrounds.dtype), tuple(backgrounds.shape[-2:]))
    return crop_at(backgrounds, theta, crop_size)


@dataclass
class CropRender:
    """One batch of rendered crops: image (composited), mask, and the person layer."""

    image: Tensor
    mask: Tensor
    layer: PersonLayer


def render_crop(joints: Tensor, appearance: Tensor, R: Tensor, t: Tensor, K: Tensor,
                boxes: Tensor, crop_size: int, backgrounds: Tensor | None = None,
                frame_hw: tuple[int, int] | None = None, ambient: float = AMBIENT) -> CropRender:
    """Render people as crops ``(B, 3, c, c)`` of square boxes ``(B, 3)`` (px).

    ``backgrounds (B, 3, H, W)`` (full frames) are sampled under the crop; without them the
    person is shown over black. Crop pixels outside the frame (``frame_hw``, taken from the
    backgrounds when given) are black, as a camera sees nothing there. ``ambient`` as
    ``render_person``.
    """
    pixels = crop_pixel_centres(boxes.double(), crop_size)
    layer = render_person(joints, appearance, R, t, K, pixels.float(),
                          (boxes[:, 2] / crop_size).float(), ambient)
    if backgrounds is not None:
        frame_hw = tuple(backgrounds.shape[-2:])
        bg = sample_background(backgrounds, boxes, crop_size)
    else:
        bg = torch.zeros_like(layer.color)
    if frame_hw is not None:
        H, W = frame_hw
        x, y = pixels[..., 0], pixels[..., 1]
        inside = ((x >= 0) & (x <= W) & (y >= 0) & (y <= H)).unsqueeze(1).float()
        layer = PersonLayer(layer.color * inside, layer.alpha * inside)
    return CropRender(layer.over(bg), layer.alpha, layer)


def render_frame(joints: Tensor, appearance: Tensor, R: Tensor, t: Tensor, K: Tensor,
                 frame_hw: tuple[int, int], backgrounds: Tensor | None = None) -> CropRender:
    """Render people as full frames ``(B, 3, H, W)`` over ``backgrounds (B, 3, H, W)``."""
    H, W = frame_hw
    B = joints.shape[0]
    ys, xs = torch.meshgrid(torch.arange(H) + 0.5, torch.arange(W) + 0.5, indexing="ij")
    pixels = torch.stack((xs, ys), dim=-1).float().expand(B, H, W, 2)
    layer = render_person(joints, appearance, R, t, K, pixels, torch.ones(B))
    bg = torch.zeros(B, 3, H, W) if backgrounds is None else backgrounds
    return CropRender(layer.over(bg), layer.alpha, layer)


def render_room(R: Tensor, t: Tensor, K: Tensor, frame_hw: tuple[int, int],
                gen: torch.Generator, half_size: float = 3800.0,
                ceiling: float = 3000.0) -> Tensor:
    """A textured capture room seen by one camera: image ``(3, H, W)`` in [0, 1].

    The room is a box ``[-half_size, half_size]^2 x [0, ceiling]`` mm: a tiled floor, walls with
    panels and coloured posters (drawn from ``gen``), a plain ceiling; lit by distance falloff.
    """
    H, W = frame_hw
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5,
                            torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij")
    Kd, Rd, td = K.double(), R.double(), t.double()
    rays_cam = torch.stack(((xs - Kd[0, 2]) / Kd[0, 0], (ys - Kd[1, 2]) / Kd[1, 1],
                            torch.ones_like(xs)), dim=-1)
    rays = rays_cam @ Rd            # world directions (R^T d), (H, W, 3)
    origin = -Rd.T @ td
    inf = torch.full_like(xs, float("inf"))
    hits = []
    for axis, level in ((2, 0.0), (2, ceiling), (0, half_size), (0, -half_size),
                        (1, half_size), (1, -half_size)):
        d = rays[..., axis]
        dist = (level - origin[axis]) / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
        hits.append(torch.where(dist > 0, dist, inf))
    dist, surface = torch.stack(hits).min(dim=0)
    point = origin + dist.unsqueeze(-1) * rays                       # (H, W, 3) world mm
    x, y, z = point.unbind(-1)
    img = torch.zeros(H, W, 3, dtype=torch.float64)

    tiles = ((torch.floor(x / 600) + torch.floor(y / 600)) % 2).unsqueeze(-1)
    floor_a = torch.tensor([0.55, 0.45, 0.35], dtype=torch.float64)
    floor_b = torch.tensor([0.42, 0.34, 0.27], dtype=torch.float64)
    grain = 0.04 * torch.sin(x / 23.0 + 3 * torch.sin(y / 170.0)).unsqueeze(-1)
    floor = floor_a + (floor_b - floor_a) * tiles + grain
    img = torch.where((surface == 0).unsqueeze(-1), floor, img)
    img = torch.where((surface == 1).unsqueeze(-1),
                      torch.tensor([0.85, 0.85, 0.82], dtype=torch.float64), img)
    for wall in range(2, 6):
        along = y if wall < 4 else x
        base = 0.35 + 0.5 * torch.rand(3, generator=gen, dtype=torch.float64)
        colour = base.expand(H, W, 3).clone()
        panel = (torch.remainder(along, 900) < 25) | ((z > 950) & (z < 1000))
        colour[panel] = base * 0.6
        for _ in range(3):  # posters
            c_along = (torch.rand(1, generator=gen, dtype=torch.float64) * 2 - 1) * half_size * 0.8
            c_up = 1300 + 900 * torch.rand(1, generator=gen, dtype=torch.float64)
            size = 250 + 450 * torch.rand(2, generator=gen, dtype=torch.float64)
            inside = ((along - c_along).abs() < size[0]) & ((z - c_up).abs() < size[1])
            colour[inside] = torch.rand(3, generator=gen, dtype=torch.float64)
        img = torch.where((surface == wall).unsqueeze(-1), colour, img)
    falloff = (1.15 - dist / 14000).clamp(0.6, 1.0).unsqueeze(-1)
    return (img * falloff).clamp(0, 1).permute(2, 0, 1).float()


def render(pose3d: Tensor, appearance: Tensor, camera: tuple[Tensor, Tensor, Tensor],
           box: Tensor | None = None, crop_size: int = 64, background: Tensor | None = None,
           frame_hw: tuple[int, int] = (256, 256)) -> CropRender:
    """Render any pose with any appearance through any camera.

    ``pose3d (B, 17, 3)`` world joints mm; ``appearance (B, 25)``; ``camera = (R, t, K)``
    batched ``(B, ...)`` or one camera for all; ``box (B, 3)`` px gives crops of
    ``crop_size``, ``None`` full frames of ``frame_hw``; ``background (B|1, 3, H, W)`` full
    frame(s) under the person (black without).
    """
    if pose3d.ndim != 3 or pose3d.shape[1:] != (17, 3):
        raise ValueError(f"pose3d must be (B, 17, 3) world mm, got {tuple(pose3d.shape)}")
    if not bool(torch.isfinite(pose3d).all()):
        raise ValueError("pose3d contains NaN or infinite values")
    B = pose3d.shape[0]
    if appearance.shape != (B, A.APPEARANCE_DIM):
        raise ValueError(f"appearance must be ({B}, {A.APPEARANCE_DIM}), "
                         f"got {tuple(appearance.shape)}")
    R, t, K = (c if c.ndim == n + 1 else c.expand(B, *c.shape) for c, n in zip(camera, (2, 1, 2)))
    bg = None if background is None else background.expand(B, -1, -1, -1)
    if box is not None:
        return render_crop(pose3d, appearance, R, t, K, box, crop_size, bg, frame_hw)
    return render_frame(pose3d, appearance, R, t, K, frame_hw, bg)
