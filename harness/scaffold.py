"""`harness init`: a new project with one example suite, a fixture and the CI workflow."""

from __future__ import annotations

from pathlib import Path

WORKFLOW = """\
# Runs the harness suites on every pull request and gates it against the RunLog of the
# target branch's last successful run (written by `harness init ci`).
# Pushes to the main branch run the suites too and keep their RunLog as the next baseline.
name: harness
on:
  pull_request:
  push:
    branches: [main]

permissions:
  contents: read
  actions: read   # to download the baseline RunLog of the target branch

jobs:
  eval:
    runs-on: ubuntu-latest
    env:
      LITELLM_LOCAL_MODEL_COST_MAP: "True"
      # OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}   # for models other than local/
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
          cache: pip
      - run: pip install 'harness[local,pii]'

      - name: Baseline RunLog from the target branch
        if: github.event_name == 'pull_request'
        env:
          GH_TOKEN: ${{ github.token }}
        run: |
          run_id=$(gh run list --workflow harness.yml --branch "${{ github.base_ref }}" \\
            --status success --limit 1 --json databaseId --jq '.[0].databaseId')
          if [ -n "$run_id" ]; then
            gh run download "$run_id" --name harness-runlog --dir baseline || true
          fi

      - name: Run the suites (and gate a pull request)
        run: |
          args=""
          if [ -f baseline/harness.json ]; then args="--baseline baseline/harness.json"; fi
          harness run suites/ --name harness --out reports --junit --markdown $args

      - name: Summary
        if: always()
        run: cat reports/harness.md >> "$GITHUB_STEP_SUMMARY" || true

      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: harness-runlog
          path: |
            reports/harness.json
            reports/harness.html
            reports/harness.junit.xml
"""

EXAMPLE_SUITE = """\
# An example suite: a product blurb grounded in a product sheet.
# Run it:   harness run suites/example.suite.yaml            (embedded model, no key)
# Compare:  harness run suites/ -m local/smollm2 -m openai/gpt-4o-mini
# Adapt it: replace the fixture with your own document, the prompt with your task, and
#           the checks with the properties a good answer has (`harness checks` lists them).
suite: example
description: Product blurbs grounded in the product sheet
models: [local/smollm2]
defaults: {temperature: 0, max_tokens: 160}
prompt: |
  Using only this product sheet, write a two-sentence blurb for {{ audience }}.

  {{ context }}
cases:
  - id: blurb-families
    vars: {audience: families}
    context: {file: ../fixtures/product-sheet.md}
    expect:
      - max_words: 70
      - contains: {any: [Trailhead], ignore_case: true}
      - grounded: {}
"""

FIXTURE = """\
Trailhead 2 is a lightweight hiking backpack made by Northwind Outdoor.
It weighs 850 grams, holds 28 litres and costs 89 euros.
The fabric is recycled nylon with a water-resistant coating.
It has a padded laptop sleeve for screens up to 15 inches and two side pockets.
"""


def write(root: Path, what: str = "project", force: bool = False) -> list[Path]:
    """Write the scaffold under ``root``; ``what`` is 'project' (everything) or 'ci'.
    Existing files are kept unless ``force``. Returns the files written."""
    files: dict[str, str] = {".github/workflows/harness.yml": WORKFLOW}
    if what == "project":
        files["fixtures/product-sheet.md"] = FIXTURE
        files["suites/example.suite.yaml"] = EXAMPLE_SUITE
    written = []
    for relative, text in files.items():
        path = root / relative
        if path.exists() and not force:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
