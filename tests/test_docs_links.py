"""Every relative link in the README and docs/ points at a file that exists, and every #anchor at a
heading of that page (GitHub's slugs: lower case, punctuation dropped, spaces to hyphens)."""
import glob
import os
import re

from tests.conftest import REPO

LINK = re.compile(r"\]\(([^)\s]+)\)")


def _headings(path):
  slugs = set()
  with open(path) as f:
    for line in f:
      heading = re.match(r"^#+\s+(.*)", line)
      if heading:
        slugs.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
  return slugs


def _pages():
  return [os.path.join(REPO, "README.md")] + sorted(glob.glob(os.path.join(REPO, "docs", "**", "*.md"),
                                                              recursive=True))


def test_relative_links_and_anchors_resolve():
  broken = []
  for page in _pages():
    with open(page) as f:
      text = f.read()
    for link in LINK.findall(text):
      if re.match(r"^[a-z]+:", link):
        continue  # http(s), mailto: not checked offline
      path, _, anchor = link.partition("#")
      target = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
      where = f"{os.path.relpath(page, REPO)}: {link}"
      if not os.path.exists(target):
        broken.append(f"{where} (no such file)")
      elif anchor and target.endswith(".md") and anchor not in _headings(target):
        broken.append(f"{where} (no such heading)")
  assert not broken, "\n".join(broken)
