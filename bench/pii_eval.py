"""Quality and speed of the PII detector on a labelled JSONL set.

    python bench/pii_eval.py [GOLD.jsonl] [--pred PRED.jsonl] [--min-score S] [--misses]

GOLD defaults to ../shared/datasets/presidio_synth_pii/pii.jsonl (Presidio-research
synthetic data, schema {id, text, spans: [{start, end, type, value}]}). The texts go
through the same code as ``harness detect pii`` (``harness.detect.run``), unless --pred
names an output of that command to score instead.

Scoring is the definition of ../shared/bench/detectors/pii_score.py, repeated here so the
script runs on its own: gold spans of the kinds a leak check must catch (person, location
and address, phone, e-mail, card, IBAN, IP, SSN) count as found when a predicted span of a
scored kind overlaps them (any type: the leak-detection view; "typed" recall also asks for
the same coarse kind); a predicted span is correct when it overlaps any gold span. Per
kind, recall is by gold kind and precision by predicted kind.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_GOLD = ROOT.parent / "shared" / "datasets" / "presidio_synth_pii" / "pii.jsonl"

COARSE = {  # gold or predicted type -> coarse class (as in pii_score.py)
    "PERSON": "person", "PER": "person", "NAME": "person",
    "STREET_ADDRESS": "location", "GPE": "location", "LOCATION": "location",
    "ADDRESS": "location", "LOC": "location", "ZIP_CODE": "location",
    "CREDIT_CARD": "credit_card", "CREDIT_CARD_NUMBER": "credit_card",
    "PHONE_NUMBER": "phone", "PHONE": "phone",
    "EMAIL_ADDRESS": "email", "EMAIL": "email",
    "IBAN_CODE": "iban", "IBAN": "iban",
    "IP_ADDRESS": "ip", "IP": "ip",
    "US_SSN": "ssn", "SSN": "ssn",
    "DOMAIN_NAME": "url", "URL": "url",
    "DATE_TIME": "date", "DATE": "date",
    "ORGANIZATION": "org", "ORG": "org",
}
SCOPE = ("person", "location", "phone", "email", "credit_card", "iban", "ip", "ssn")


def _overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return bool(a["start"] < b["end"] and b["start"] < a["end"])


def score(gold: dict[str, Any], pred: dict[Any, Any], misses: bool = False) -> dict[str, Any]:
    tp: collections.Counter[str] = collections.Counter()
    fn: collections.Counter[str] = collections.Counter()
    typed: collections.Counter[str] = collections.Counter()
    p_tp: collections.Counter[str] = collections.Counter()
    p_fp: collections.Counter[str] = collections.Counter()
    for gid, g in gold.items():
        gs = [s for s in g["spans"] if COARSE.get(s["type"]) in SCOPE]
        ps = [s for s in pred.get(gid, {"spans": []})["spans"]
              if COARSE.get(s["type"].upper()) in SCOPE]
        for s in gs:
            c = COARSE[s["type"]]
            hits = [p for p in ps if _overlap(s, p)]
            if hits:
                tp[c] += 1
            else:
                fn[c] += 1
                if misses:
                    print(f"miss {c:11} {g['text'][s['start']:s['end']]!r}  in "
                          f"{g['text'][max(0, s['start'] - 30):s['end'] + 30]!r}")
            if any(COARSE.get(p["type"].upper()) == c for p in hits):
                typed[c] += 1
        for p in ps:
            c = COARSE[p["type"].upper()]
            if any(_overlap(p, s) for s in g["spans"]):
                p_tp[c] += 1
            else:
                p_fp[c] += 1
                if misses:
                    print(f"false {p['type']:14} {g['text'][p['start']:p['end']]!r}  in "
                          f"{g['text'][max(0, p['start'] - 30):p['end'] + 30]!r}")
    rows = {}
    for c in (*SCOPE, "overall"):
        t = sum(tp.values()) if c == "overall" else tp[c]
        f = sum(fn.values()) if c == "overall" else fn[c]
        pt = sum(p_tp.values()) if c == "overall" else p_tp[c]
        pf = sum(p_fp.values()) if c == "overall" else p_fp[c]
        ty = sum(typed.values()) if c == "overall" else typed[c]
        recall = t / max(1, t + f)
        precision = pt / max(1, pt + pf)
        f1 = 2 * precision * recall / max(1e-9, precision + recall)
        rows[c] = {"gold": t + f, "predicted": pt + pf, "precision": precision,
                   "recall": recall, "f1": f1, "typed_recall": ty / max(1, t + f)}
    return rows


def _read_jsonl(path: Path) -> dict[Any, Any]:
    with path.open(encoding="utf-8") as lines:
        return {d["id"]: d for d in map(json.loads, lines)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("gold", nargs="?", default=str(DEFAULT_GOLD))
    parser.add_argument("--pred", help="score this output of `harness detect pii` instead")
    parser.add_argument("--min-score", type=float, default=None)
    parser.add_argument("--misses", action="store_true", help="print misses and false finds")
    args = parser.parse_args()

    gold = _read_jsonl(Path(args.gold))
    timing = ""
    if args.pred:
        pred_path = Path(args.pred)
    else:
        from harness import detect
        from harness.detectors import pii

        start = time.perf_counter()
        pii.analyzer()
        load = time.perf_counter() - start
        pred_path = Path(tempfile.mkdtemp()) / "pred.jsonl"
        ns = argparse.Namespace(detector="pii", jsonl=args.gold, output=str(pred_path),
                                kinds=None, min_score=args.min_score, text_field="text",
                                masked=False)
        start = time.perf_counter()
        code = detect.run(ns)
        elapsed = time.perf_counter() - start
        if code != 0:
            print(f"harness detect exited {code}", file=sys.stderr)
        timing = (f"{len(gold)} items: {1000 * elapsed / len(gold):.1f} ms per item "
                  f"(analyzer load {load:.1f} s, once per process)")
    pred = _read_jsonl(pred_path)
    rows = score(gold, pred, args.misses)

    print(f"{'kind':12} {'gold':>5} {'pred':>5} {'precision':>9} {'recall':>7} {'F1':>6} "
          f"{'typed R':>8}")
    for kind, r in rows.items():
        print(f"{kind:12} {r['gold']:>5} {r['predicted']:>5} {r['precision']:>9.3f} "
              f"{r['recall']:>7.3f} {r['f1']:>6.3f} {r['typed_recall']:>8.3f}")
    if timing:
        print(timing)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
