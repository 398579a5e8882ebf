"""The ground plane under a sequence of meshes, by the paper's iterative fit (section 3.2, Eq. 4).

Start from a plane below every mesh (y = -10 m); in each frame take the vertex closest to the plane;
fit a plane to those points by least squares; repeat. A vertex touches the ground when its distance
to the plane is under delta = 0.025 m (Eq. 4). The engine runs it on the predicted foot-sole vertices
at inference; the training annotator runs the same function on whole meshes.

The least-squares step fits the height as a function of the horizontal position,
y = a x + b z + c, with a small ridge on the slopes (a, b): a person walking in a straight line puts
every lowest point on one line, and one standing still puts them all in one spot, and then plain
least squares cannot tell the tilt; the ridge pulls such directions to a prior "up" instead of
leaving them arbitrary. With a single camera that matters more: depth is noisy along the camera's
rays, so a person standing still leaves lowest points spread along a ray, and an unregularised fit
tilts the ground towards the ray (measured: 15 degrees for 20 cm of depth noise at 3 m). The engine
passes the person's own mean up direction as the prior (people stand upright on average; the camera
is often pitched), so only lowest points spread over the floor tilt the ground away from it.
World frame: y up, metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONTACT_THRESHOLD_M = 0.025
INITIAL_HEIGHT_M = -10.0
# Ridge on the plane's slopes, in m^2: lowest points spread over much less than sqrt(0.05) = 22 cm
# barely tilt the plane; spread over metres they decide it.
SLOPE_RIDGE_M2 = 0.05


@dataclass(frozen=True)
class GroundPlane:
    """The plane normal . x + offset = 0; `normal` (3,) unit, pointing up (out of the ground)."""

    normal: np.ndarray
    offset: float

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) metres -> (...) metres above the plane (negative below)."""
        return np.asarray(points) @ self.normal + self.offset

    @classmethod
    def horizontal(cls, height: float) -> "GroundPlane":
        """The plane y = height."""
        return cls(normal=np.array([0.0, 1.0, 0.0]), offset=-float(height))


def lowest_points(vertices: np.ndarray, plane: GroundPlane) -> np.ndarray:
    """(T, V, 3) vertices -> (T, 3): in each frame the vertex closest to (or furthest below) the plane."""
    distance = plane.signed_distance(vertices)
    nearest = np.argmin(distance, axis=1)
    return np.take_along_axis(vertices, nearest[:, None, None], axis=1)[:, 0]


def least_squares_plane(points: np.ndarray, weights: np.ndarray | None = None,
                        slope_ridge_m2: float = SLOPE_RIDGE_M2, up_prior: np.ndarray | None = None) -> GroundPlane:
    """Fit y = a x + b z + c to (N, 3) points, weights (N,) >= 0; -> GroundPlane.

    The ridge pulls the slopes (a, b) towards those of a plane whose normal is `up_prior` (3,)
    (None: +y, a level plane).
    """
    points = np.asarray(points, dtype=np.float64)
    w = np.ones(len(points)) if weights is None else np.asarray(weights, dtype=np.float64)
    prior = np.zeros(2) if up_prior is None else -np.asarray(up_prior, float)[[0, 2]] / up_prior[1]
    design = np.stack([points[:, 0], points[:, 2], np.ones(len(points))], axis=1)
    normal_matrix = (design * w[:, None]).T @ design
    rhs = (design * w[:, None]).T @ points[:, 1]
    ridge = slope_ridge_m2 * w.sum()
    normal_matrix[:2, :2] += ridge * np.eye(2)
    rhs[:2] += ridge * prior
    a, b, c = np.linalg.solve(normal_matrix, rhs)
    normal = np.array([-a, 1.0, -b])
    norm = np.linalg.norm(normal)
    return GroundPlane(normal=normal / norm, offset=float(-c / norm))


def fit_ground_plane(vertices: np.ndarray, weights: np.ndarray | None = None, iterations: int = 5,
                     initial_height: float = INITIAL_HEIGHT_M, up_prior: np.ndarray | None = None,
                     slope_ridge_m2: float = SLOPE_RIDGE_M2) -> GroundPlane:
    """The paper's iterative ground fit.

    vertices: (T, V, 3) metres, y up: each frame's mesh (or any subset of it, e.g. the foot soles).
    weights: (T,) per-frame weight (0 drops a frame: the person is missing or unsure there).
    up_prior: (3,) where "up" probably is when the lowest points cannot tell (None: +y); see the
        module docstring. slope_ridge_m2: the prior's weight, as the squared spread (m^2) of lowest
        points over the floor at which data and prior weigh the same.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 3 or vertices.shape[-1] != 3 or len(vertices) == 0:
        raise ValueError(f"vertices must be (T, V, 3) with T > 0, got {vertices.shape}")
    if weights is not None and not np.any(np.asarray(weights) > 0):
        raise ValueError("every frame has weight 0: nothing to fit the ground to")
    plane = GroundPlane.horizontal(initial_height)
    for _ in range(iterations):
        new_plane = least_squares_plane(lowest_points(vertices, plane), weights, slope_ridge_m2, up_prior)
        converged = (np.allclose(new_plane.normal, plane.normal, atol=1e-9)
                     and abs(new_plane.offset - plane.offset) < 1e-9)
        plane = new_plane
        if converged:
            break
    return plane


def ground_contacts(vertices: np.ndarray, plane: GroundPlane, threshold: float = CONTACT_THRESHOLD_M) -> np.ndarray:
    """Eq. 4: (T, V, 3) -> (T, V) bool, a vertex's distance to the plane is under `threshold` metres."""
    return np.abs(plane.signed_distance(vertices)) < threshold


def level_transform(plane: GroundPlane) -> tuple[np.ndarray, np.ndarray]:
    """The rigid motion x -> R @ x + t that takes `plane` to y = 0 with its normal to +y.

    Returns R (3, 3) (the smallest rotation turning the normal onto +y) and t (3,) metres.
    """
    up = np.array([0.0, 1.0, 0.0])
    n = plane.normal / np.linalg.norm(plane.normal)
    axis = np.cross(n, up)
    sin, cos = np.linalg.norm(axis), float(n @ up)
    if sin < 1e-12:
        rotation = np.eye(3) if cos > 0 else np.diag([1.0, -1.0, -1.0])
    else:
        k = axis / sin
        skew = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        rotation = np.eye(3) + sin * skew + (1 - cos) * skew @ skew
    # A point on the plane, -offset * n, must land at height 0.
    t = np.array([0.0, plane.offset, 0.0])
    return rotation, t
