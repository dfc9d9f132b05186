"""The grounding detector and the ``grounded`` / ``cites_sources`` checks."""

from __future__ import annotations

import time

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harness.checks.registry import CheckInput, CheckResult, build
from harness.detectors.grounding import (
    TASK_THRESHOLDS,
    figures,
    ground,
    split_claims,
    stem,
)

# ---------------------------------------------------------------------------------------
# sentences made of plain words, names and figures, for property tests

WORDS = ("budget", "project", "team", "customer", "report", "delivery", "contract", "office",
         "revenue", "market", "product", "launch", "supplier", "invoice", "schedule",
         "warehouse", "policy", "agency", "campaign", "survey", "approved", "signed",
         "reviewed", "increased", "reduced", "planned", "the", "a", "of", "for", "in", "with",
         "and", "to", "new", "quarterly", "regional", "final", "annual", "green")
NAMES = ("Acme", "Northwind", "Jane Roe", "Oslo", "Marcus Webb", "Globex", "Lisbon")


@st.composite
def numbers(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["int", "comma", "decimal", "percent", "money"]))
    if kind == "int":
        return str(draw(st.integers(0, 99_999)))
    if kind == "comma":
        return f"{draw(st.integers(1_000, 9_999_999)):,}"
    if kind == "decimal":
        return f"{draw(st.integers(0, 999))}.{draw(st.integers(1, 99)):02d}"
    if kind == "percent":
        return f"{draw(st.integers(1, 100))}%"
    return f"${draw(st.integers(1, 999_999)):,}"


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
DATE_FORMATS = ("{d} {month} {y}", "{month} {d}, {y}", "{y}-{m:02d}-{d:02d}", "{month} {y}",
                "on {d} {mon}. {y}")


@st.composite
def calendar_dates(draw: st.DrawFn) -> tuple[tuple[int | None, int, int], str]:
    """((day or None when the text leaves it out, month, year), the date as written)."""
    day, month, year = draw(st.integers(1, 28)), draw(st.integers(1, 12)), \
        draw(st.integers(1900, 2030))
    fmt = draw(st.sampled_from(DATE_FORMATS))
    name = MONTHS[month - 1]
    text = fmt.format(d=day, m=month, y=year, month=name, mon=name[:3])
    return (None if "{d" not in fmt else day, month, year), text


@st.composite
def sentences(draw: st.DrawFn, with_number: bool = False) -> str:
    parts = draw(st.lists(st.one_of(st.sampled_from(WORDS), st.sampled_from(NAMES)),
                          min_size=3, max_size=12))
    if with_number:
        parts.insert(draw(st.integers(1, len(parts))), "NUMBER")
    elif draw(st.booleans()):
        figure = draw(st.one_of(numbers(), calendar_dates().map(lambda d: d[1])))
        parts.insert(draw(st.integers(1, len(parts))), figure)
    text = " ".join(parts)
    return text[0].upper() + text[1:] + "."


@settings(max_examples=150, deadline=None)
@given(st.lists(sentences(), min_size=1, max_size=4), st.data())
def test_a_sentence_copied_from_the_source_is_supported(source: list[str],
                                                        data: st.DataObject) -> None:
    copied = data.draw(st.sampled_from(source))
    verdict = ground(copied, [" ".join(source)])
    assert verdict.unsupported_spans() == []
    assert verdict.score == pytest.approx(1.0)
    assert all(c.missing_words == () for c in verdict.claims)


@settings(max_examples=150, deadline=None)
@given(sentences(with_number=True), numbers(), numbers(), st.lists(sentences(), max_size=2))
def test_changing_a_number_in_a_supported_sentence_is_flagged(
    template: str, original: str, changed: str, others: list[str]
) -> None:
    source_sentence = template.replace("NUMBER", original)
    claim = template.replace("NUMBER", changed)
    source = " ".join([source_sentence, *others])
    source_dates, source_numbers = figures(source)
    source_values = {v for q in source_numbers for v in q.values} | {
        float(part) for d in source_dates for option in d.options for part in option
        if part is not None
    }
    claim_values = {v for q in figures(claim)[1] for v in q.values}
    assume(claim_values and not claim_values & source_values)
    assert ground(source_sentence, [source]).unsupported_spans() == []
    verdict = ground(claim, [source])
    flagged = [s for s in verdict.unsupported_spans() if s.kind in ("number", "date")]
    assert flagged, f"{changed!r} (was {original!r}) not flagged in {claim!r}"
    assert any(changed in s.text or s.text in changed for s in flagged)
    result = build("grounded", {})(CheckInput(output=claim, context=(source,)))
    assert not result.passed
    assert result.evidence["failure_mode"] == "unsupported_number"


@settings(max_examples=150, deadline=None)
@given(sentences(with_number=True), calendar_dates(), calendar_dates())
def test_changing_a_date_in_a_supported_sentence_is_flagged(
    template: str, original: tuple[tuple[int | None, int, int], str],
    changed: tuple[tuple[int | None, int, int], str],
) -> None:
    (day, month, year), (o_day, o_month, o_year) = changed[0], original[0]
    # a date that leaves the day out is still true of a source date with one
    assume((month, year) != (o_month, o_year) or (day is not None and day != o_day))
    source = template.replace("NUMBER", original[1])
    claim = template.replace("NUMBER", changed[1])
    assert ground(source, [source]).unsupported_spans() == []
    spans = ground(claim, [source]).unsupported_spans()
    assert any(s.kind in ("date", "number") for s in spans), (claim, source)


# ---------------------------------------------------------------------------------------
# normalisation


@pytest.mark.parametrize(
    ("claim", "source"),
    [
        ("Revenue reached 1.2 million dollars.", "Revenue reached $1,200,000 last year."),
        ("Revenue reached $1,200,000.", "Revenue reached 1.2 million dollars last year."),
        ("The fund raised $5m.", "The fund raised 5 million dollars."),
        ("The fund raised $5 million.", "The fund raised $5m in May."),
        ("The deal is worth $2bn.", "The deal is worth 2 billion dollars."),
        ("Sales rose 3%.", "Sales rose 3 percent in March."),
        ("Sales rose 3 per cent.", "Sales rose 3% in March."),
        ("Sales rose 3 percent.", "Sales rose 3 per cent in March."),
        ("There were twelve members.", "There were 12 members on the board."),
        ("There were 12 members.", "There were twelve members on the board."),
        ("It cost twenty-five thousand dollars.", "It cost $25,000."),
        ("She finished 4th.", "She finished fourth in the race."),
        ("Music of the 80s.", "Music of the 1980s."),
        ("About 1.2 million people came.", "Some 1,213,000 people came."),
        ("More than 30 people came.", "In all 34 people came."),
        ("Fewer than 40 people came.", "In all 34 people came."),
    ],
)
def test_equal_figures_in_other_forms_are_supported(claim: str, source: str) -> None:
    verdict = ground(claim, [source])
    assert [s for s in verdict.unsupported_spans() if s.kind in ("number", "date")] == []


@pytest.mark.parametrize(
    "claim",
    [
        "She was born on 17 January 1925.",
        "She was born on January 17, 1925.",
        "She was born on Jan. 17, 1925.",
        "She was born on 1925-01-17.",
        "She was born on 17/01/1925.",
        "She was born in January 1925.",
        "She was born in 1925.",
        "She was born on the 17th of January 1925.",
    ],
)
def test_dates_in_other_formats_are_supported(claim: str) -> None:
    verdict = ground(claim, ["Ada Byron was born on January 17, 1925 in Ohio."])
    assert verdict.unsupported_spans() == []


@pytest.mark.parametrize(
    ("claim", "flagged"),
    [
        ("She was born on 18 January 1925.", "18 January 1925"),
        ("She was born on January 17, 1926.", "January 17, 1926"),
        ("She was born on 1925-02-17.", "1925-02-17"),
        ("She was born in March 1925.", "March 1925"),
        ("1.2 million people came.", "1.2 million"),  # not hedged: 1,213,000 is not 1.2m
        ("Sales rose 4%.", "4%"),
        ("There were eleven members.", "eleven"),
    ],
)
def test_different_figures_are_flagged(claim: str, flagged: str) -> None:
    source = ("Ada Byron was born on January 17, 1925 in Ohio. Some 1,213,000 people came. "
              "Sales rose 3 percent. There were 12 members.")
    spans = ground(claim, [source]).unsupported_spans()
    assert [s.text for s in spans if s.kind in ("number", "date")] == [flagged]


def test_span_offsets_point_into_the_output() -> None:
    output = "Acme was founded in 1990. Its revenue was $3 million, said CEO Jane Roe."
    verdict = ground(output, ["Acme was founded in 1990 in Oslo. Its revenue was $2 million."])
    for span in verdict.unsupported_spans():
        assert output[span.start:span.end] == span.text
    assert {(s.kind, s.text) for s in verdict.unsupported_spans()} == {
        ("number", "$3 million"), ("entity", "CEO Jane Roe")}
    assert verdict.label == "hallucinated" or verdict.score < 1.0


# ---------------------------------------------------------------------------------------
# entities, quotes, negations, words


def test_invented_and_swapped_names_are_flagged() -> None:
    source = "The Goonies is starring Martha Plimpton. Josh Brolin starred in No Country."
    spans = ground("The Goonies was directed by George Lucas.", [source]).unsupported_spans()
    assert [(s.kind, s.text) for s in spans] == [("entity", "George Lucas")]
    assert ground("Martha Plimpton starred in The Goonies.", [source]).unsupported_spans() == []


def test_places_and_their_adjectives_match_and_initials_are_names() -> None:
    source = "Hamilton won the Chinese Grand Prix. J.K. Rowling wrote it in the U.S. city."
    assert ground("Hamilton won in China.", [source]).unsupported_spans() == []
    spans = ground("J.K. Smith wrote it.", [source]).unsupported_spans()
    assert [s.text for s in spans] == ["J.K. Smith"]


def test_misquotes_are_flagged() -> None:
    source = 'The minister said the plan was "a bold step for the country" on Monday.'
    assert ground('She called it "a bold step for the country".', [source]) \
        .unsupported_spans() == []
    spans = ground('She called it "a reckless gamble for everyone".', [source]) \
        .unsupported_spans()
    assert [s.kind for s in spans] == ["quote"]


def test_a_negated_fact_is_flagged() -> None:
    source = "Abraham Benrubi starred in The Rugrats Movie."
    spans = ground("Abraham Benrubi was not in The Rugrats Movie.", [source]).unsupported_spans()
    assert [(s.kind, s.text) for s in spans] == [("negation", "not")]
    assert ground("No, Abraham Benrubi starred in The Rugrats Movie.", [source]) \
        .unsupported_spans() == []


def test_unsupported_content_lowers_the_score() -> None:
    source = "The store opens at 9 and closes at 17. Returns are accepted within 30 days."
    faithful = ground("Returns are accepted within 30 days.", [source])
    invented = ground("Returns are accepted within 30 days but only with a receipt and "
                      "manager approval.", [source])
    assert faithful.score == pytest.approx(1.0)
    assert invented.score < faithful.score
    assert {"receipt", "manager", "approval"} <= {w for c in invented.claims
                                                  for w in c.missing_words}


def test_the_prompt_supports_names_and_part_of_the_words() -> None:
    source = "Jameel McCline (born May 20, 1970) is a boxer. Samuel Peter (born 1980) is too."
    question = "Who is younger, Jameel McCline or Samuel Peter?"
    with_prompt = ground("Jameel McCline is younger than Samuel Peter.", [source],
                         prompt=[question])
    assert with_prompt.unsupported_spans() == []
    assert 0.0 < with_prompt.score < 1.0  # 'younger' is only in the question
    assert ground("Samuel Peter", [source], prompt=[question]).score == pytest.approx(1.0)


def test_questions_claim_only_what_they_name() -> None:
    source = "Ender's Game is set in outer space."
    assert ground("Have you read it? Do you like space operas?", [source]).claims == ()
    spans = ground("How about The Martian?", [source]).unsupported_spans()
    assert [s.text for s in spans] == ["Martian"]


def test_claims_are_sentences_and_clauses() -> None:
    text = ("Dr. Smith met J.K. Rowling in the U.S. last week. Revenue rose in every region; "
            "costs fell for the whole year. Sales rose; costs fell.\n- It is a thriller, do "
            "you like those?")
    assert [text[a:b] for a, b in split_claims(text)] == [
        "Dr. Smith met J.K. Rowling in the U.S. last week.", "Revenue rose in every region",
        "costs fell for the whole year.", "Sales rose; costs fell.", "It is a thriller",
        "do you like those?"]
    assert len(split_claims(text, clauses=False)) == 4


def test_light_stemming_joins_word_forms() -> None:
    for a, b in [("cities", "city"), ("baked", "baking"), ("organisations", "organization"),
                 ("wrote", "written"), ("children", "child"), ("colour", "colors")]:
        assert stem(a) == stem(b), (a, b)


def test_empty_output_and_empty_sources() -> None:
    assert ground("", ["Some source."]).score == 1.0
    verdict = ground("Acme sold 5 cars.", [])
    assert verdict.label == "hallucinated" or verdict.score < 1.0
    assert {s.kind for s in verdict.unsupported_spans()} >= {"number"}


def test_a_long_document_is_scored_in_a_few_milliseconds() -> None:
    paragraph = ("The regional office approved the annual budget of $4.2 million on 3 March "
                 "2024, after the finance team reviewed supplier invoices from Lisbon and Oslo. "
                 "Delivery schedules for the new product launch were reduced by 12 percent. ")
    source = paragraph * 25  # about 6,000 characters
    output = ("The office approved a budget of 4.2 million dollars in March 2024. Delivery "
              "schedules were cut by 15%. The launch moved to Madrid.")
    ground(output, [source + " warm-up"])
    start = time.perf_counter()
    for i in range(20):
        ground(output, [source + f" variant {i}"])  # a new document each time: no cache
    per_case_ms = (time.perf_counter() - start) * 1000 / 20
    assert per_case_ms < 50, f"{per_case_ms:.1f} ms per case"  # ~3 ms; loose for busy CI


def test_task_thresholds_are_probabilities() -> None:
    assert set(TASK_THRESHOLDS) == {"qa", "summarization", "dialogue", "dialogue_strict"}
    assert all(0.0 < t <= 1.0 for t in TASK_THRESHOLDS.values())


# ---------------------------------------------------------------------------------------
# the grounded check

CONTEXT = (
    "Acme's Q3 revenue was $1,200,000, up 3 percent from Q2. The company has 12 stores.",
    "# Refund policy\nRefunds are accepted within 30 days of delivery with a receipt.",
)


def test_grounded_passes_a_supported_output() -> None:
    result = build("grounded", {})(CheckInput(
        output="Q3 revenue was 1.2 million dollars, up 3% from Q2. Refunds are accepted "
               "within 30 days.", context=CONTEXT))
    assert result.passed, result.reason
    assert result.score == pytest.approx(1.0)
    assert "expected claims supported by the 2 source documents" in result.reason
    assert result.evidence["unsupported"] == []


def test_grounded_fails_an_invented_figure_and_says_what_it_found() -> None:
    result = build("grounded", {})(CheckInput(
        output="Q3 revenue was $1.5 million. Acme has 12 stores.", context=CONTEXT))
    assert not result.passed
    assert result.reason.startswith("expected every claim supported by the 2 source documents")
    assert "'$1.5 million'" in result.reason
    [claim] = result.evidence["unsupported_claims"]
    assert claim["text"] == "Q3 revenue was $1.5 million."
    assert claim["unsupported"] == [
        {"start": 15, "end": 27, "text": "$1.5 million", "kind": "number"}]
    assert result.evidence["failure_mode"] == "unsupported_number"
    relaxed = build("grounded", {"strict": False})(CheckInput(
        output="Q3 revenue was $1.5 million. Acme has 12 stores.", context=CONTEXT))
    assert relaxed.passed  # one figure off is within the default threshold without strict


def test_grounded_fails_unsupported_content_by_score() -> None:
    result = build("grounded", {"threshold": 0.8})(CheckInput(
        output="Acme opened stores in Texas and Brazil, hired Jane Roe as CEO, and plans an "
               "IPO with Goldman Sachs next spring.", context=CONTEXT))
    assert not result.passed
    assert result.score is not None and result.score < 0.8
    assert "Texas" in result.reason and result.evidence["failure_mode"] == "hallucination"


def test_grounded_context_argument_and_missing_sources() -> None:
    check = build("grounded", {"context": "The refund window is 30 days."})
    assert check(CheckInput(output="The refund window is 30 days.")).passed
    assert not check(CheckInput(output="The refund window is 60 days.")).passed
    nothing = build("grounded", {})(CheckInput(output="Anything at all."))
    assert not nothing.passed and nothing.score is None
    assert "found none" in nothing.reason


def test_grounded_counts_the_users_question_unless_told_not_to() -> None:
    messages = ({"role": "user", "content": "Which is older, Acme or Globex?"},)
    context = ("Acme was founded in 1990.", "Globex was founded in 1975.")
    output = "Globex is older than Acme."
    with_prompt = build("grounded", {"threshold": 0.9})(
        CheckInput(output=output, context=context, messages=messages))
    without = build("grounded", {"threshold": 0.9, "include_prompt": False})(
        CheckInput(output=output, context=context, messages=messages))
    assert with_prompt.score is not None and without.score is not None
    assert with_prompt.score > without.score


def test_grounded_rejects_bad_arguments() -> None:
    from harness.checks.registry import CheckArgsError

    with pytest.raises(CheckArgsError, match="threshold"):
        build("grounded", {"threshold": 1.5})
    with pytest.raises(CheckArgsError, match="context"):
        build("grounded", {"context": "  "})
    with pytest.raises(CheckArgsError, match="unknown argument 'treshold'") as err:
        build("grounded", {"treshold": 0.5})
    assert err.value.hint == "Did you mean 'threshold'?"


# ---------------------------------------------------------------------------------------
# the cites_sources check


def cites(output: str, args: dict[str, object] | None = None,
          context: tuple[str, ...] = CONTEXT) -> CheckResult:
    return build("cites_sources", args or {})(CheckInput(output=output, context=context))


def test_valid_citations_pass() -> None:
    result = cites("Q3 revenue was $1.2 million [1]. Refunds are accepted within 30 days "
                   "(Source: Refund policy).")
    assert result.passed, result.reason
    assert result.score == 1.0
    cited = result.evidence["cited_sentences"]
    assert [c["sources"] for c in cited] == [[1], [2]]


@pytest.mark.parametrize(
    "output",
    [
        "Acme has 12 stores [1].",
        "Acme has 12 stores.[1] Refunds take 30 days.[2]",
        "Acme has 12 stores [1, 2].",
        "Acme has 12 stores¹.",
        "Acme has 12 stores.[^1]\n\n[^1]: Source 1",
        "Refunds are accepted within 30 days [Source: refund policy].",
        "Acme has 12 stores [Doc 1].",
    ],
)
def test_citation_forms(output: str) -> None:
    result = cites(output)
    assert result.passed, result.reason


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("Acme has 12 stores [3].", "[3] points to source 3; there are 2 sources"),
        ("Acme has 12 stores [0].", "[0] points to source 0"),
        ("Refunds take 30 days (Source: Shipping guide).",
         "names 'Shipping guide', which is no provided source"),
        ("Acme has 12 stores.[^a]", "footnote [^a] has no definition"),
        ("Acme has 12 stores.[^n]\n\n[^n]: The 2019 annual report",
         "footnote [^n] names 'The 2019 annual report', which is no provided source"),
    ],
)
def test_citations_to_no_provided_source_fail(output: str, problem: str) -> None:
    result = cites(output)
    assert not result.passed
    assert problem in result.reason, result.reason
    assert result.reason.startswith(
        "expected every citation to point to one of the 2 sources")


def test_a_citation_to_a_passage_that_does_not_support_the_sentence_fails() -> None:
    result = cites("Refunds are accepted within 30 days [1]. Acme has 12 stores [1].")
    assert not result.passed
    assert "'Refunds are accepted within 30 days.' is not supported by source 1" in \
        result.reason
    assert result.score == 0.5
    wrong = cites("Acme has 40 stores [1].")
    assert not wrong.passed
    assert "number '40'" in wrong.reason


def test_sources_argument_names_and_numbers_sources() -> None:
    args = {"sources": {"Handbook": "Staff get 25 days of leave.",
                        "Pay policy": "Salaries are paid on the 28th."}}
    assert cites("Staff get 25 days of leave (Source: Handbook).", args, ()).passed
    assert cites("Salaries are paid on the 28th [2].", args, ()).passed
    listed = {"sources": [{"title": "Handbook", "text": "Staff get 25 days of leave."}]}
    assert cites("Staff get 25 days of leave (Source: Handbook).", listed, ()).passed
    wrong = cites("Salaries are paid on the 28th (Source: Handbook).", args, ())
    assert not wrong.passed


def test_required_citations() -> None:
    none = cites("Acme has 12 stores.")
    assert not none.passed and "found 0 citations, expected at least 1" in none.reason
    assert cites("Acme has 12 stores.", {"min_citations": 0}).passed
    partial = cites("Acme has 12 stores [1]. Refunds take 30 days.", {"require_all": True})
    assert not partial.passed
    assert "1 sentence without a citation" in partial.reason
    assert partial.evidence["uncited_sentences"] == ["Refunds take 30 days."]


# sources named like a contract's clauses or a series of reports: a citation must name one
CLAUSES = tuple(f"# Clause {n}: {title}\n\n{text}" for n, title, text in (
    (1, "Definitions", "Services means the software services in each order."),
    (2, "Term", "This Agreement runs for 24 months from the start date."),
    (12, "Liability", "Each party's liability is limited to the fees paid in 12 months."),
))
REPORTS = {"Report 2023": "Revenue was 40 million pounds in 2023.",
           "Report 2023b": "Revenue was 38 million pounds in the restated accounts.",
           "Annual Report": "The company employs 300 people."}


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        # no Clause 11 exists; "Clause 1" and "Clause 12" must not stand in for it
        ("Liability is limited to the fees paid in 12 months (Source: Clause 11).",
         "names 'Clause 11', which is no provided source"),
        ("The Agreement runs for 24 months (Source: Clause 3).",
         "names 'Clause 3', which is no provided source"),
        ("The Agreement runs for 24 months [Clause 21].",
         "names 'Clause 21', which is no provided source"),
        ("The Agreement runs for 24 months (Clause 2.1, Clause 4).",
         "names 'Clause 4', which is no provided source"),
    ],
)
def test_a_citation_to_a_clause_that_does_not_exist_fails(output: str, problem: str) -> None:
    result = cites(output, context=CLAUSES)
    assert not result.passed
    assert problem in result.reason, result.reason
    assert problem in result.evidence["problems"]


@pytest.mark.parametrize(
    ("output", "source"),
    [
        ("Liability is limited to the fees paid in 12 months (Source: Clause 12).", 3),
        ("Services means the software services in each order (Source: Clause 1).", 1),
        ("Liability is limited to the fees paid in 12 months (Clause 12.3).", 3),
        ("Liability is limited to the fees paid in 12 months [Clause 12].", 3),
        ("The Agreement runs for 24 months (see Clause 2).", 2),
        ("The Agreement runs for 24 months (Source: Term).", 2),
        ("Liability is limited to the fees paid in 12 months.[^2]\n\n[^2]: Clause 12, p. 3", 3),
    ],
)
def test_a_citation_resolves_to_the_clause_it_names(output: str, source: int) -> None:
    result = cites(output, context=CLAUSES)
    assert result.passed, result.reason
    assert [c["sources"] for c in result.evidence["cited_sentences"]] == [[source]]


@pytest.mark.parametrize(
    ("output", "source"),
    [
        ("Revenue was 40 million pounds in 2023 (Source: Report 2023).", 1),
        ("Revenue was 38 million pounds in the restated accounts (Source: Report 2023b).", 2),
        ("The company employs 300 people (Annual Report, p. 4).", 3),
        ("The company employs 300 people (Source: Annual Report, pp. 4-5).", 3),
        ("The company employs 300 people [3].", 3),
    ],
)
def test_the_exact_name_wins_over_a_longer_or_shorter_one(output: str, source: int) -> None:
    result = cites(output, {"sources": REPORTS}, ())
    assert result.passed, result.reason
    assert [c["sources"] for c in result.evidence["cited_sentences"]] == [[source]]


def test_a_page_reference_to_an_unknown_document_fails() -> None:
    result = cites("The company employs 300 people (Staff Survey, p. 4).",
                   {"sources": REPORTS}, ())
    assert not result.passed
    assert "names 'Staff Survey, p. 4', which is no provided source" in result.reason
    # a citation to "Report 2023" is checked against that report, not against 2023b
    wrong = cites("Revenue was 38 million pounds (Source: Report 2023).", {"sources": REPORTS}, ())
    assert not wrong.passed and "number '38 million'" in wrong.reason, wrong.reason


def test_a_clause_number_is_not_matched_inside_a_longer_one() -> None:
    args = {"sources": {"Clause 1": "Services means the software services in each order.",
                        "Clause 2": "This Agreement runs for 24 months."}}
    result = cites("This Agreement runs for 24 months (Source: Clause 12).", args, ())
    assert not result.passed
    assert "names 'Clause 12', which is no provided source" in result.reason, result.reason
    assert cites("This Agreement runs for 24 months (Source: Clause 2).", args, ()).passed
    report = cites("Revenue was 38 million pounds (Source: Report 2023b).",
                   {"sources": {"Report 2023": "Revenue was 38 million pounds."}}, ())
    assert not report.passed
    assert "names 'Report 2023b', which is no provided source" in report.reason


# a product sheet where 25 appears, but as a count of stores, not of hours
LAMP = ("Battery: up to 18 hours on the warm setting, 11 hours at full brightness. "
        "Weight: 640 grams. Sold in 25 partner stores. Launch price until 31 March 2027.")


@pytest.mark.parametrize(
    ("claim", "flagged"),
    [
        ("The battery lasts up to 25 hours on the warm setting.", "25"),  # 18 hours
        ("The battery lasts as much as 20 hours.", "20"),
        ("The battery lasts up to 31 hours.", "31"),  # 31 is only a day of a date
        ("The battery lasts 25 hours.", "25"),  # 25 counts stores in the sources
        ("It is sold in 11 stores.", "11"),  # 11 counts hours
        ("It weighs 25 grams.", "25"),
    ],
)
def test_a_figure_must_count_what_the_sources_count(claim: str, flagged: str) -> None:
    verdict = ground(claim, [LAMP])
    assert [s.text for s in verdict.unsupported_spans()] == [flagged]
    result = build("grounded", {})(CheckInput(output=claim, context=(LAMP,)))
    assert not result.passed
    assert f"number '{flagged}'" in result.reason, result.reason


@pytest.mark.parametrize(
    "claim",
    [
        "The battery lasts up to 18 hours on the warm setting.",
        "It lasts 11 hours at full brightness.",
        "It gives 18-hour battery life.",
        "It is sold in 25 stores.",  # "25 partner stores": the count of stores
        "It weighs 640 g.",  # a unit symbol for the sources' grams
        "It weighs about 650 grams.",  # a hedged figure may still round
        "The price holds until 31 March 2027.",
    ],
)
def test_the_same_figure_for_the_same_thing_is_supported(claim: str) -> None:
    assert ground(claim, [LAMP]).unsupported_spans() == []


def test_a_figure_in_brackets_is_no_citation() -> None:
    result = cites("Acme has 12 stores (12) [1]. Refunds are accepted within 30 days "
                   "(30) (Source: Refund policy).")
    assert result.passed, result.reason
    assert result.evidence["citations"] == 2
