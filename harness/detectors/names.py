"""Given names and surnames, to find people the small NER model misses.

The lists are the US Census Bureau's (1990: 5,163 given names, 88,799 surnames; public
domain), as shipped by the ``names`` package on PyPI. A census list is wide (it counts
every surname borne by enough US residents, so it spans many origins) but it also holds
ordinary words (Love, White, Young), hence ``COMMON``: capitalised words that are names in
the list but far more often something else in the text a model writes.
"""

from __future__ import annotations

import functools
import importlib.resources

from harness.detectors.patterns import word_set

COMMON = word_set(
    "a about above after again against all also am an and any are as at be because been "
    "before being below between both but by can could did do does doing down during each "
    "few for from further had has have having he her here hers herself him himself his "
    "how i if in into is it its itself just me more most my myself no nor not now of off "
    "on once only or other our ours out over own same she should so some such than that "
    "the their theirs them then there these they this those through to too under until up "
    "very was we were what when where which while who whom why will with would you your "
    "yours yourself yourselves yes hi hello dear thanks thank regards sincerely please "
    "note ok okay oh cool wow well maybe also unlike like january february march april "
    "may june july august september october november december monday tuesday wednesday "
    "thursday friday saturday sunday today tomorrow yesterday mr mrs ms miss dr prof sir "
    "madam lord lady king queen prince princess royal duke grace hope faith joy rose iris "
    "summer autumn winter spring crystal ruby amber pearl penny sandy dawn art don guy "
    "rich sunny miles chase hunter major general love white black brown green gray grey "
    "big little long young old new union border force patient billing number wisdom "
    "discipline law power price cash money bank case page story field wood stone hill "
    "lake street road park mill ford banks bond best good gold silver star sun moon day "
    "night early late post rice cook will bill mark sale sales case first last next north "
    "south east west central city town state county country house home office church "
    "school college university hospital center centre court station club hotel market "
    "square bridge tower english french german spanish italian american british european "
    "african asian christian god jesus christ bible church happy merry easter christmas "
    "card account customer client user admin support manager director team staff member "
    "members service services product products project company group inc ltd llc corp "
    "corporation holdings partners capital section chapter table figure step summary "
    "overview introduction conclusion appendix question answer example total amount data "
    "report review policy plan order invoice contact email phone mobile fax desk website "
    "address name names title date time personal info information details message subject "
    "re fw fwd attachment"
)


def _read(filename: str) -> frozenset[str]:
    text = (importlib.resources.files("names") / filename).read_text(encoding="utf-8")
    return frozenset(line.split()[0].lower() for line in text.splitlines() if line.strip())


@functools.cache
def given_names() -> frozenset[str]:
    """Lower-cased given names, ordinary words left out."""
    return (_read("dist.male.first") | _read("dist.female.first")) - COMMON


@functools.cache
def surnames() -> frozenset[str]:
    """Lower-cased surnames, ordinary words left out."""
    return _read("dist.all.last") - COMMON
