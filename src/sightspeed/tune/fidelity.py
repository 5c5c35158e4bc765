"""Does a candidate's output still say what the f32 reference's says? One metric per task, on the output files.

- portrait: mask IoU >= 0.99 (masks thresholded at 128) and output mean |diff| <= 2 levels, on every image;
- ocr: >= 98% of text lines identical (spaces ignored), no line lost or added, every matched box IoU >= 0.9;
- a user's pipeline may bring its own ``fidelity(reference_dir, candidate_dir, pairs) -> Fidelity``; without one,
  tune only turns knobs that cannot change outputs, and outputs must be byte-identical.

Each check reads the two runs' outputs pairwise, in manifest order: ``pairs`` is ``[(reference files, candidate
files)]`` per input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

Pairs = list[tuple[list[str], list[str]]]


@dataclass
class Fidelity:
    """Whether a candidate kept the outputs, and the figure that says so (shown in tune's table)."""

    ok: bool
    figure: str
    values: dict = field(default_factory=dict)


def pairs_from(reference_rows: list[dict], candidate_rows: list[dict]) -> Pairs:
    """Output files of the same input in both runs (rows matched by ``input``; an input missing in one is a pair
    with an empty side, which every check counts as lost)."""
    theirs = {r["input"]: r.get("outputs") or [] for r in candidate_rows}
    return [(r.get("outputs") or [], theirs.get(r["input"], [])) for r in reference_rows]


def _box(points: list) -> tuple[float, float, float, float]:
    a = np.asarray(points, np.float64).reshape(-1, 2)
    return a[:, 0].min(), a[:, 1].min(), a[:, 0].max(), a[:, 1].max()


def box_iou(a: list, b: list) -> float:
    """IoU of the axis-aligned hulls of two boxes given as corner lists.

    >>> box_iou([[0, 0], [10, 0], [10, 10], [0, 10]], [[5, 0], [15, 0], [15, 10], [5, 10]])
    0.3333333333333333
    """
    ax0, ay0, ax1, ay1 = _box(a)
    bx0, by0, bx1, by1 = _box(b)
    w, h = min(ax1, bx1) - max(ax0, bx0), min(ay1, by1) - max(ay0, by0)
    inter = max(w, 0.0) * max(h, 0.0)
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return float(inter / union) if union > 0 else 0.0


def match_lines(ref: list[dict], cand: list[dict]) -> tuple[list[tuple[dict, dict, float]], int, int]:
    """Greedy one-to-one match of text lines by box IoU (> 0.5): (matched pairs with their IoU, lost, added)."""
    scored = sorted(((box_iou(r["box"], c["box"]), i, j) for i, r in enumerate(ref) for j, c in enumerate(cand)),
                    reverse=True)
    used_r, used_c, matched = set(), set(), []
    for iou, i, j in scored:
        if iou <= 0.5:
            break
        if i not in used_r and j not in used_c:
            used_r.add(i)
            used_c.add(j)
            matched.append((ref[i], cand[j], iou))
    return matched, len(ref) - len(matched), len(cand) - len(matched)


def _json_of(files: list[str]) -> dict | None:
    path = next((f for f in files if f.endswith(".json")), None)
    return json.loads(Path(path).read_text()) if path else None


def ocr(pairs: Pairs) -> Fidelity:
    """>= 98% of lines identical ignoring spaces, none lost or added, matched boxes IoU >= 0.9."""
    total = same = lost = added = 0
    min_iou = 1.0
    for ref_files, cand_files in pairs:
        ref, cand = _json_of(ref_files), _json_of(cand_files)
        ref_lines = ref["lines"] if ref else []
        cand_lines = cand["lines"] if cand else []
        if ref is not None and cand is None:
            lost += len(ref_lines)
        matched, n_lost, n_added = match_lines(ref_lines, cand_lines)
        total += len(ref_lines)
        lost += n_lost
        added += n_added
        for r, c, iou in matched:
            same += "".join(r["text"].split()) == "".join(c["text"].split())
            min_iou = min(min_iou, iou)
    share = same / total if total else 1.0
    ok = share >= 0.98 and lost == 0 and added == 0 and min_iou >= 0.9
    return Fidelity(ok, f"lines {share:.1%} identical, {lost} lost, {added} added, min box IoU {min_iou:.2f}",
                    {"identical": share, "lost": lost, "added": added, "min_box_iou": min_iou, "lines": total})


def _image(path: str | None, gray: bool = False) -> np.ndarray | None:
    import cv2

    if path is None:
        return None
    return cv2.imread(path, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)


def portrait(pairs: Pairs) -> Fidelity:
    """Mask IoU >= 0.99 and output mean |diff| <= 2 levels on every image (the worst image is the figure)."""
    worst_iou, worst_diff, missing = 1.0, 0.0, 0
    for ref_files, cand_files in pairs:
        def pick(files: list[str], mask: bool) -> str | None:
            return next((f for f in files if f.endswith("_mask.png") == mask and not f.endswith(".json")), None)

        ref_out, cand_out = _image(pick(ref_files, False)), _image(pick(cand_files, False))
        if ref_out is None:
            continue
        if cand_out is None or cand_out.shape != ref_out.shape:
            missing += 1
            continue
        worst_diff = max(worst_diff, float(np.abs(ref_out.astype(np.int16) - cand_out).mean()))
        ref_mask, cand_mask = _image(pick(ref_files, True), True), _image(pick(cand_files, True), True)
        if ref_mask is not None and cand_mask is not None:
            a, b = ref_mask >= 128, cand_mask >= 128
            union = np.logical_or(a, b).sum()
            worst_iou = min(worst_iou, float(np.logical_and(a, b).sum() / union) if union else 1.0)
    ok = missing == 0 and worst_iou >= 0.99 and worst_diff <= 2.0
    return Fidelity(ok, f"mask IoU >= {worst_iou:.3f}, mean |diff| <= {worst_diff:.2f} levels"
                        + (f", {missing} outputs missing" if missing else ""),
                    {"mask_iou": worst_iou, "mean_abs_diff": worst_diff, "missing": missing})


def identical(pairs: Pairs) -> Fidelity:
    """Every output file byte-identical (for pipelines that declare no metric of their own)."""
    differ = sum(len(r) != len(c) or any(Path(a).read_bytes() != Path(b).read_bytes() for a, b in zip(r, c))
                 for r, c in pairs)
    return Fidelity(differ == 0, f"{len(pairs) - differ}/{len(pairs)} inputs' outputs byte-identical",
                    {"differ": differ})


METRICS: dict[str, Callable[[Pairs], Fidelity]] = {"ocr": ocr, "portrait": portrait}


def _ocr_no_worse(mine: dict, default: dict) -> bool:
    return (mine["identical"] >= default["identical"] - 0.005 and mine["lost"] <= default["lost"]
            and mine["added"] <= default["added"] and mine["min_box_iou"] >= default["min_box_iou"] - 0.02)


def _portrait_no_worse(mine: dict, default: dict) -> bool:
    return (mine["missing"] == 0 and mine["mask_iou"] >= default["mask_iou"] - 0.002
            and mine["mean_abs_diff"] <= max(2.0, default["mean_abs_diff"] + 0.25))


# When the default configuration itself misses the bar on the user's inputs (the fast variant's own difference from
# the reference, e.g. a mask edge on an ambiguous region), a candidate is held to the default's figure instead:
# no further from the reference than the default, within these small margins.
NO_WORSE: dict[str, Callable[[dict, dict], bool]] = {"ocr": _ocr_no_worse, "portrait": _portrait_no_worse}


def held_to_default(task: str, mine: Fidelity, default: Fidelity) -> Fidelity:
    """``mine`` judged against the default's figure when the default misses the bar (see NO_WORSE)."""
    if mine.ok or default.ok or task not in NO_WORSE:
        return mine
    if NO_WORSE[task](mine.values, default.values):
        return Fidelity(True, mine.figure + " (no further from the reference than the default)", mine.values)
    return Fidelity(False, mine.figure + " (further from the reference than the default)", mine.values)
