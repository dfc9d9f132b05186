"""Statistics for pass rates: intervals that stay honest at small n."""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(passed: int, total: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a pass rate of ``passed`` out of ``total``.

    Unlike the normal approximation it never leaves [0, 1] and is sensible at 0/n and
    n/n, which is where small eval runs live. (0.0, 1.0) when nothing was judged.
    """
    if total <= 0:
        return (0.0, 1.0)
    if not 0 <= passed <= total:
        raise ValueError(f"passed must be within 0..{total}, got {passed}")
    p = passed / total
    z2 = z * z
    denom = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denom
    # Clamp away float dust so 0/n starts at exactly 0 and n/n ends at exactly 1.
    low = 0.0 if passed == 0 else max(0.0, centre - half)
    high = 1.0 if passed == total else min(1.0, centre + half)
    return (low, high)
