"""Quality and speed of the deterministic grounding detector on labelled answers.

    python bench/grounding_eval.py [--data DIR] [--holdout DIR] [--rows]

Datasets (schema {id, context, question, answer, label: faithful|hallucinated}):
HaluEval QA, summarization and dialogue (``DIR/halueval/{qa,summarization,dialogue}.jsonl``)
and the FaithDial audit of Wizard-of-Wikipedia responses
(``DIR/faithdial_wow_audit/dialogue.jsonl``); DIR defaults to ../shared/datasets.

Protocol (as ../shared/bench/detectors/grounding_naive_baseline.py): an answer is called
hallucinated when its score is below a threshold chosen on the data (the grid 0, 0.005, ...,
1 for the detector; 0, 0.02, ..., 0.98 for the baseline's novelty share, called
hallucinated above it); accuracy on HaluEval (balanced 150/150), balanced accuracy on
FaithDial (natural 105/195). The detector sees the context as its source and the question
(or dialogue history) as prompt, exactly as ``harness detect grounding`` does. With
``--holdout DIR`` the thresholds chosen on DIR are applied to the same files under the
holdout directory, as the baseline script does. ``shipped`` is the accuracy at the task
threshold the detector ships with (``TASK_THRESHOLDS``); ms/item is the mean wall time of
one ``ground()`` call, source indexing included.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"
DATASETS = [
    ("HaluEval QA", "halueval/qa.jsonl", "qa", False),
    ("HaluEval summarization", "halueval/summarization.jsonl", "summarization", False),
    ("HaluEval dialogue", "halueval/dialogue.jsonl", "dialogue", False),
    ("FaithDial (WoW audit)", "faithdial_wow_audit/dialogue.jsonl", "dialogue_strict", True),
]
TARGETS = {"HaluEval QA": 0.93, "HaluEval summarization": 0.76, "HaluEval dialogue": 0.70,
           "FaithDial (WoW audit)": 0.70}

# The naive baseline, verbatim in effect: share of the answer's tokens absent from
# context + question.
_STOP_WORDS = "the a an of in on and or to is was were be for by with as at from that this it " \
    "its his her their"
_STOP = set(_STOP_WORDS.split())


def _tokens(text: str | None) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", (text or "").lower())) - _STOP


def naive_score(item: dict[str, Any]) -> float:
    answer = _tokens(item["answer"])
    source = _tokens((_text(item.get("context")) or "") + " " + (_text(item.get("question"))
                                                                 or ""))
    return len(answer - source) / max(1, len(answer))


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else "\n\n".join(value)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def accuracy(flags: Sequence[bool], labels: Sequence[bool], balanced: bool) -> float:
    """Share of correct calls (``flags``: called hallucinated), or the mean of the recalls
    of both classes when ``balanced``."""
    if not balanced:
        return sum(f == y for f, y in zip(flags, labels, strict=True)) / len(labels)
    pos = [f for f, y in zip(flags, labels, strict=True) if y]
    neg = [not f for f, y in zip(flags, labels, strict=True) if not y]
    return 0.5 * (sum(pos) / max(1, len(pos)) + sum(neg) / max(1, len(neg)))


def best_threshold(scores: Sequence[float], labels: Sequence[bool], balanced: bool,
                   grid: Sequence[float], call: Callable[[float, float], bool],
                   ) -> tuple[float, float]:
    """(threshold, accuracy) of the best threshold on the grid; ties go to the first."""
    best = (grid[0], -1.0)
    for t in grid:
        acc = accuracy([call(s, t) for s in scores], labels, balanced)
        if acc > best[1]:
            best = (t, acc)
    return best


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def evaluate(items: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
    """Detector scores and the wall time of each call in ms."""
    from harness.detectors.grounding import ground, index

    index.cache_clear()
    scores, times = [], []
    for item in items:
        start = time.perf_counter()
        verdict = ground(item["answer"], _as_list(item.get("context")),
                         prompt=_as_list(item.get("question")))
        times.append((time.perf_counter() - start) * 1000)
        scores.append(verdict.score)
    return scores, times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder holding halueval/ and faithdial_wow_audit/")
    parser.add_argument("--holdout", type=Path, default=None,
                        help="apply the thresholds chosen on --data to this folder's files")
    parser.add_argument("--rows", action="store_true",
                        help="print every item's score and label (for error analysis)")
    args = parser.parse_args(argv)
    from harness.detectors.grounding import TASK_THRESHOLDS, ground

    ground("Warm-up: 3 claims.", ["Warm-up text with 3 claims."])  # imports, caches
    detector_grid = [i / 200 for i in range(201)]
    naive_grid = [i / 100 for i in range(0, 100, 2)]
    below = lambda s, t: s < t  # noqa: E731 - detector: low support = hallucinated
    above = lambda s, t: s > t  # noqa: E731 - naive: high novelty = hallucinated

    header = (f"{'dataset':24} {'n':>4} {'threshold':>9} {'accuracy':>8} {'shipped':>8} "
              f"{'target':>6} {'naive (thr)':>13} {'ms/item':>8} {'p95 ms':>7}")
    if args.holdout:
        header += f" {'holdout':>8} {'naive ho':>8}"
    print(header)
    print("-" * len(header))
    for name, rel, task, balanced in DATASETS:
        path = args.data / rel
        if not path.is_file():
            print(f"{name:24} missing: {path}")
            continue
        items = load(path)
        labels = [item["label"] == "hallucinated" for item in items]
        scores, times = evaluate(items)
        threshold, acc = best_threshold(scores, labels, balanced, detector_grid, below)
        shipped = accuracy([s < TASK_THRESHOLDS[task] for s in scores], labels, balanced)
        naive = [naive_score(item) for item in items]
        n_threshold, n_acc = best_threshold(naive, labels, balanced, naive_grid, above)
        p95 = sorted(times)[int(0.95 * (len(times) - 1))]
        line = (f"{name:24} {len(items):>4} {threshold:>9.3f} {acc:>8.3f} {shipped:>8.3f} "
                f"{TARGETS[name]:>6.2f} {n_acc:>7.3f} ({n_threshold:.2f}) "
                f"{statistics.fmean(times):>8.2f} {p95:>7.2f}")
        if args.holdout:
            held = load(args.holdout / rel)
            held_labels = [item["label"] == "hallucinated" for item in held]
            held_scores, _ = evaluate(held)
            ho = accuracy([s < threshold for s in held_scores], held_labels, balanced)
            nho = accuracy([naive_score(i) > n_threshold for i in held], held_labels, balanced)
            line += f" {ho:>8.3f} {nho:>8.3f}"
        print(line)
        if args.rows:
            for item, score in zip(items, scores, strict=True):
                print(f"    {item['id']}\t{item['label']}\t{score:.4f}")
    print(f"\nshipped thresholds (harness.detectors.grounding.TASK_THRESHOLDS): "
          f"{json.dumps(TASK_THRESHOLDS)}")
    print("accuracy: balanced classes for HaluEval; balanced accuracy for FaithDial")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
