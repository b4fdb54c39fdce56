"""Text-to-video retrieval metrics (CLIP4Clip's compute_metrics, MODELS.md 6.4).

A query's rank is 1 + the number of videos scored strictly higher than its
ground-truth video (ties resolved in the query's favour), so the same
scores give the same ranks whatever the sort order of the caller.
"""
import numpy as np


def ranks_from_scores(scores, gt=None):
    """scores [Q, V]; gt [Q] the ground-truth column of each row (default:
    the diagonal) -> 1-based ranks [Q]."""
    scores = np.asarray(scores, dtype=np.float64)
    q = scores.shape[0]
    gt = np.arange(q) if gt is None else np.asarray(gt)
    own = scores[np.arange(q), gt]
    return 1 + (scores > own[:, None]).sum(axis=1)


def compute(ranks):
    """R@1/5/10 in %, median and mean rank, and the query count."""
    r = np.asarray(ranks, dtype=np.float64)
    return {
        "R@1": 100.0 * np.mean(r <= 1),
        "R@5": 100.0 * np.mean(r <= 5),
        "R@10": 100.0 * np.mean(r <= 10),
        "MdR": float(np.median(r)),
        "MnR": float(np.mean(r)),
        "n": int(r.size),
    }


OPPOSITE_MOTIONS = {("left", "right"), ("right", "left"), ("up", "down"), ("down", "up")}


def hard_negative_kind(change):
    """tools/synth's change record -> the kind make eval reports: direction
    (a motion and its opposite), motion (any other), order, colour, count,
    size, shape, texture; None for no change (a group's base clip)."""
    if not change:
        return None
    kind = change["kind"]
    if kind == "motion":
        return "direction" if (change.get("from"), change.get("to")) in OPPOSITE_MOTIONS else "motion"
    return {"color": "colour"}.get(kind, kind)


HEADER = "| model | R@1 | R@5 | R@10 | MdR | MnR |\n|---|---|---|---|---|---|"


def row(name, m):
    return (f"| {name} | {m['R@1']:.1f} | {m['R@5']:.1f} | {m['R@10']:.1f} | "
            f"{m['MdR']:.1f} | {m['MnR']:.1f} |")


def table(results):
    """results: [(name, metrics)] -> a Markdown table."""
    return "\n".join([HEADER] + [row(n, m) for n, m in results])
