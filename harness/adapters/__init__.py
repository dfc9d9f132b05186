"""Bridges to other evaluation libraries (ragas, deepeval), imported only when a suite
uses one of their metrics. Their checks are registered in ``harness.checks.adapters``."""
