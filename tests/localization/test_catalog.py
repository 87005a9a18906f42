"""Every user-facing string in the code has a German translation.

Extracts the strings afresh (Django's makemessages, i.e. GNU xgettext) from a temporary copy of
the project, merges them with the committed catalogs there, and fails on any msgid that is not
translated (or only fuzzily) in any catalog: the project's locale/ or an app's own (offers/locale/).
"""
import shutil
import subprocess
import sys
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "node_modules", "static_vendor", "staticfiles", "media", "test-artifacts",
             "__pycache__", ".pytest_cache", "tests", "bench"}


def _copy_tree(target: Path) -> None:
    def ignore(directory, names):
        return [n for n in names if n in SKIP_DIRS or n.endswith((".mo", ".pyc", ".sqlite3"))]

    shutil.copytree(ROOT, target, ignore=ignore)


def _committed_catalogs() -> list[Path]:
    return [ROOT / "locale/de/LC_MESSAGES/django.po", *ROOT.glob("*/locale/de/LC_MESSAGES/django.po")]


@pytest.mark.skipif(shutil.which("xgettext") is None or shutil.which("msgmerge") is None,
                    reason="GNU gettext (xgettext, msgmerge) is not installed: apt-get install gettext")
def test_every_string_in_the_code_has_a_german_translation(tmp_path):
    copy = tmp_path / "stageflow"
    _copy_tree(copy)
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "de", "--no-obsolete",
         *(f"--ignore={d}" for d in sorted(SKIP_DIRS))],
        cwd=copy, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    catalogs = [polib.pofile(str(p)) for p in copy.glob("**/locale/de/LC_MESSAGES/django.po")]
    assert catalogs, "makemessages wrote no German catalog"
    # What the code uses now (extracted afresh) …
    seen = {}
    for catalog in catalogs:
        for entry in catalog:
            if not entry.obsolete:
                seen.setdefault((entry.msgctxt, entry.msgid), entry)
    # … against what the committed catalogs translate (Django merges them all at run time).
    translated = {
        (entry.msgctxt, entry.msgid)
        for path in _committed_catalogs()
        for entry in polib.pofile(str(path)).translated_entries()  # non-empty and not fuzzy
    }
    missing = sorted(
        f"{entry.msgid!r} ({', '.join(f'{f}:{line}' for f, line in entry.occurrences[:2])})"
        for key, entry in seen.items() if key not in translated
    )
    assert not missing, (
        f"{len(missing)} string(s) without a German translation — run `manage.py makemessages -l de "
        f"--ignore=.venv --ignore=node_modules --ignore=static_vendor --ignore=offers`, translate "
        f"locale/de/LC_MESSAGES/django.po (offers' strings: offers/locale/de/):\n" + "\n".join(missing[:50])
    )


def test_the_committed_catalogs_have_no_fuzzy_or_empty_entries():
    """Also without gettext: what is committed is complete, and compiles."""
    for path in _committed_catalogs():
        catalog = polib.pofile(str(path))
        assert not catalog.fuzzy_entries(), [e.msgid for e in catalog.fuzzy_entries()][:10]
        assert not catalog.untranslated_entries(), [e.msgid for e in catalog.untranslated_entries()][:10]
        assert catalog.percent_translated() == 100


def test_german_says_vertriebsziel_for_a_sales_quota_not_quote_which_means_a_rate():
    from django.utils import translation

    with translation.override("de"):
        shown = {translation.gettext(text) for text in ("Quota", "quota", "quotas", "Win rate")}
    assert not any(word.startswith("Quote") for word in shown)
    assert "Vertriebsziel" in shown and "Gewinnquote" in shown
