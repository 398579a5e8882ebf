"""A real rasteriser for synthetic training images: moderngl on headless EGL, depth-tested, lit, anti-aliased.

Meshes arrive already posed, in the CAMERA frame (metres, x right, y down, z forward: OpenCV's and the
network's), with a pinhole camera given as crop intrinsics (fx, fy, cx, cy in pixels of the output image, pixel
centres at integer coordinates). The projection matrix maps pixel v = 0 to the framebuffer's first row, so the
image read back is already top row first. Each vertex carries a base colour, a second colour and a pattern
code; the fragment shader draws a procedural texture (stripes, checks, speckle) in rest-pose coordinates, so
the texture moves with the body, and lights it with one directional light plus ambient light.

On these CPUs EGL is Mesa's llvmpipe; on an NVIDIA machine it is the driver's EGL (ENVIRONMENT.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from engine.errors import PlantedError

_VERTEX_SHADER = """
#version 330
uniform mat4 projection;
in vec3 position;
in vec3 normal;
in vec3 rest;
in vec3 colour_a;
in vec3 colour_b;
in float pattern;
out vec3 v_normal;
out vec3 v_rest;
out vec3 v_colour_a;
out vec3 v_colour_b;
flat out int v_pattern;
void main() {
    gl_Position = projection * vec4(position, 1.0);
    v_normal = normal;
    v_rest = rest;
    v_colour_a = colour_a;
    v_colour_b = colour_b;
    v_pattern = int(pattern + 0.5);
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform vec3 light_direction;   // towards the light, camera frame
uniform vec3 light_colour;
uniform vec3 ambient;
uniform float pattern_frequency;
in vec3 v_normal;
in vec3 v_rest;
in vec3 v_colour_a;
in vec3 v_colour_b;
flat in int v_pattern;
out vec4 colour;
float hash(vec3 p) { return fract(sin(dot(p, vec3(12.9898, 78.233, 37.719))) * 43758.5453); }
void main() {
    float mixing = 0.0;
    vec3 p = v_rest * pattern_frequency;
    if (v_pattern == 1) mixing = step(0.5, fract(p.y));                                  // stripes
    else if (v_pattern == 2) mixing = mod(floor(p.x) + floor(p.y) + floor(p.z), 2.0);    // checks
    else if (v_pattern == 3) mixing = hash(floor(p * 4.0)) * 0.6;                        // speckle
    vec3 base = mix(v_colour_a, v_colour_b, mixing);
    vec3 n = normalize(v_normal);
    // the camera looks along +z: a face towards the camera has n.z < 0; light both sides of thin parts
    if (n.z > 0.0) n = -n;
    float diffuse = max(dot(n, normalize(light_direction)), 0.0);
    colour = vec4(base * (ambient + diffuse * light_colour), 1.0);
}
"""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera of the output image: focal lengths and principal point in its pixels."""

    fx: float
    fy: float
    cx: float
    cy: float

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame metres -> (..., 2) pixels (x right, y down)."""
        z = points[..., 2:3]
        return np.concatenate([self.fx * points[..., :1] / z + self.cx, self.fy * points[..., 1:2] / z + self.cy], -1)


@dataclass(frozen=True)
class Light:
    """direction: towards the light, camera frame (normalised by the shader); colours linear RGB in [0, 1]."""

    direction: tuple[float, float, float] = (0.3, -0.6, -0.7)
    colour: tuple[float, float, float] = (0.8, 0.8, 0.8)
    ambient: tuple[float, float, float] = (0.35, 0.35, 0.35)


@dataclass(frozen=True, eq=False)
class MeshAppearance:
    """Per-vertex looks: colour_a, colour_b (V, 3) in [0, 1]; pattern (V,) 0 plain, 1 stripes, 2 checks, 3 speckle;
    rest (V, 3) metres, where the texture is drawn; pattern_frequency: stripes per metre."""

    colour_a: np.ndarray
    colour_b: np.ndarray
    pattern: np.ndarray
    rest: np.ndarray
    pattern_frequency: float = 12.0


def projection_matrix(intrinsics: Intrinsics, width: int, height: int, near: float = 0.05,
                      far: float = 100.0) -> np.ndarray:
    """OpenGL clip matrix (4, 4) for camera-frame points: pixel (u, v) -> NDC (2(u + .5)/W - 1, 2(v + .5)/H - 1)."""
    k = intrinsics
    return np.array([
        [2 * k.fx / width, 0, 2 * (k.cx + 0.5) / width - 1, 0],
        [0, 2 * k.fy / height, 2 * (k.cy + 0.5) / height - 1, 0],
        [0, 0, (far + near) / (far - near), -2 * far * near / (far - near)],
        [0, 0, 1, 0],
    ], dtype=np.float32)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit normals: the area-weighted sum of the faces around each vertex."""
    tri = vertices[faces]
    face_normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    ids = faces.reshape(-1)
    repeated = np.repeat(face_normals, 3, axis=0)
    normals = np.stack([np.bincount(ids, repeated[:, c], minlength=len(vertices)) for c in range(3)], axis=1)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


# The process that opened a context, inherited by forked children: a child of it must not open one (below).
_context_opened_by: int | None = None


def create_context():
    """A headless moderngl context through EGL, or a PlantedError that says what to install.

    Refused in a process forked from one that had opened a context: EGL's state does not survive a fork (with
    Mesa's llvmpipe the child's eglInitialize waits forever on a lock the parent held), so render only in the
    processes that render (DataLoader workers), never in their parent before it forks them."""
    global _context_opened_by
    if _context_opened_by is not None and _context_opened_by != os.getpid():
        raise PlantedError(f"this process was forked from process {_context_opened_by} after that one opened an "
                           "OpenGL context, which EGL cannot use in a child: let only the DataLoader workers render "
                           "(num_workers > 0 and nothing rendered before they start), or render with num_workers 0")
    try:
        import moderngl
    except ImportError:
        raise PlantedError("synthetic rendering needs moderngl: .venv/bin/pip install moderngl") from None
    try:
        context = moderngl.create_standalone_context(backend="egl")
        _context_opened_by = os.getpid()
        return context
    except Exception as err:  # no EGL library or no device
        raise PlantedError(
            f"cannot open a headless OpenGL (EGL) context ({err}): install Mesa's EGL "
            "(apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri), or on an NVIDIA machine set "
            "__EGL_VENDOR_LIBRARY_FILENAMES to the driver's 10_nvidia.json"
        ) from None


class Rasteriser:
    """Draws one posed mesh into an RGBA image of a fixed size; reuse it for many images (one GL context).

    faces (F, 3) are fixed (the body model's); samples: multisampling for anti-aliased edges.
    """

    def __init__(self, faces: np.ndarray, width: int, height: int, samples: int = 4, context=None) -> None:
        import moderngl

        self.width, self.height = int(width), int(height)
        self.ctx = context or create_context()
        self.program = self.ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.num_vertices = int(faces.max()) + 1
        self.index = self.ctx.buffer(np.ascontiguousarray(faces, dtype=np.int32).tobytes())
        # one interleaved buffer: position 3, normal 3, rest 3, colour_a 3, colour_b 3, pattern 1
        self.vertex_buffer = self.ctx.buffer(reserve=self.num_vertices * 16 * 4, dynamic=True)
        self.vao = self.ctx.vertex_array(
            self.program, [(self.vertex_buffer, "3f 3f 3f 3f 3f 1f", "position", "normal", "rest", "colour_a",
                            "colour_b", "pattern")], self.index)
        size = (self.width, self.height)
        self.msaa = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer(size, 4, samples=samples)],
                                         depth_attachment=self.ctx.depth_renderbuffer(size, samples=samples))
        self.resolved = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer(size, 4)])
        self._moderngl = moderngl

    def render(self, vertices: np.ndarray, faces: np.ndarray, intrinsics: Intrinsics, appearance: MeshAppearance,
               light: Light = Light()) -> np.ndarray:
        """(H, W, 4) uint8: RGB premultiplied by coverage, and the coverage (alpha 0 off the body, fractional on
        anti-aliased edges): composite as rgb + (1 - alpha) * background.

        vertices (V, 3): the posed mesh in the camera frame, metres (all in front of the camera).
        """
        if vertices.shape != (self.num_vertices, 3):
            raise ValueError(f"vertices must be ({self.num_vertices}, 3), got {vertices.shape}")
        normals = vertex_normals(vertices, faces)
        data = np.concatenate([vertices, normals, appearance.rest, appearance.colour_a, appearance.colour_b,
                               appearance.pattern[:, None]], axis=1).astype(np.float32)
        self.vertex_buffer.write(data.tobytes())
        self.program["projection"].write(projection_matrix(intrinsics, self.width, self.height).T.tobytes())
        self.program["light_direction"].value = tuple(light.direction)
        self.program["light_colour"].value = tuple(light.colour)
        self.program["ambient"].value = tuple(light.ambient)
        self.program["pattern_frequency"].value = float(appearance.pattern_frequency)
        self.msaa.use()
        self.ctx.clear(0.0, 0.0, 0.0, 0.0)
        self.ctx.enable(self._moderngl.DEPTH_TEST)
        self.ctx.disable(self._moderngl.CULL_FACE)
        self.vao.render(self._moderngl.TRIANGLES)
        self.ctx.copy_framebuffer(self.resolved, self.msaa)
        raw = self.resolved.read(components=4, dtype="f1")
        return np.frombuffer(raw, dtype=np.uint8).reshape(self.height, self.width, 4).copy()

    def release(self) -> None:
        for thing in (self.vao, self.vertex_buffer, self.index, self.msaa, self.resolved, self.program):
            thing.release()
