"""Detectors that find things in text (personal data, secrets) without calling a model.

They are usable on their own (``harness detect``), by checks (``no_pii``) and by reports.
"""
