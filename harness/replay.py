"""Re-check recorded outputs: a RunLog's answers scored by today's checks, no model call.

A recorded answer is matched to a planned item by its key (suite, case id, model,
repeat), not by its prompt, so a suite whose checks changed can be re-scored at once;
``prompt_changed`` tells when the prompt itself changed since the recording, in which case
the recorded answer is to a different question.
"""

from __future__ import annotations

from typing import cast

from harness.providers.base import Completion, ErrorKind, ProviderError
from harness.results import CaseResult, RunLog
from harness.runner import WorkItem, score


class Recording:
    """The outputs of one RunLog, by result key."""

    def __init__(self, log: RunLog, path: str = "") -> None:
        self.log = log
        self.path = path
        self._by_key = {r.key: r for r in log.results}

    def models_for(self, suite: str) -> list[str]:
        """The models the recording holds answers from for ``suite``, in first-seen order."""
        return list(dict.fromkeys(r.model for r in self.log.results if r.suite == suite))

    def repeats_for(self, suite: str) -> int:
        return max((r.repeat + 1 for r in self.log.results if r.suite == suite), default=1)

    def get(self, item: WorkItem) -> CaseResult | None:
        return self._by_key.get(item.key)

    def rescore(self, item: WorkItem) -> CaseResult | None:
        """The item's result from its recorded answer and the item's current checks; None
        when the recording has no answer for it."""
        recorded = self._by_key.get(item.key)
        if recorded is None:
            return None
        if recorded.output is None:
            err = recorded.error
            completion = Completion(None, ProviderError(
                cast(ErrorKind, err.kind if err else "bad_response"),
                err.message if err else "no output was recorded",
                status=err.status if err else None))
        else:
            completion = Completion(
                text=recorded.output,
                prompt_tokens=recorded.usage.prompt_tokens,
                completion_tokens=recorded.usage.completion_tokens,
                cost_usd=recorded.cost_usd,
                latency_ms=recorded.latency_ms,
                finish_reason=recorded.finish_reason,
                turns=tuple(recorded.turns),
            )
        return score(item, item.request(), completion, recorded.attempts, recorded.cached)


def prompt_changed(item: WorkItem, recorded: CaseResult) -> bool:
    """True when the item's prompt is not the one the recorded answer was given to."""
    return [dict(m) for m in item.case.messages] != recorded.messages
