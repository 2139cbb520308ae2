"""The README documents what template.yaml declares: every parameter, with its real default."""

import re

from tickerstream_local.template import REPO_ROOT, sam_template

README = (REPO_ROOT / "README.md").read_text()
ROWS = dict(re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", README, re.M))


def test_every_parameter_is_in_the_readme_with_its_default():
    parameters = sam_template()["Parameters"]
    missing = sorted(set(parameters) - set(ROWS))
    assert missing == [], f"README's parameter table lacks {missing}"
    wrong = {name: (ROWS[name], str(spec.get("Default", ""))) for name, spec in parameters.items() if ROWS[name] != str(spec.get("Default", ""))}
    assert wrong == {}


def test_readme_names_the_two_commands():
    assert "make demo" in README and "make test" in README
