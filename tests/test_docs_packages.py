"""docs/results.md's table of shipped packages is the one their cards give (experiments/packages_table.py),
so a re-trained or added package cannot leave the docs behind."""
import os

from experiments import packages_table
from tests.conftest import REPO


def test_the_results_page_lists_every_package_as_its_card_says():
  with open(os.path.join(REPO, "docs", "results.md")) as f:
    page = f.read().splitlines()
  rows = packages_table.rows()
  assert rows, "no packages found"
  missing = [row for row in rows if row not in page]
  assert not missing, ("docs/results.md is out of date with the cards; paste the output of "
                       "`python -m experiments.packages_table`:\n" + "\n".join(missing))
