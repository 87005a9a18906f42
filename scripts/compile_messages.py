"""Compile every locale/*/LC_MESSAGES/*.po into its .mo with polib.

Part of `make setup`, so a fresh machine needs no GNU gettext tools to run Stageflow in German.
(Extracting new strings with `manage.py makemessages` still needs gettext; that is a developer task.)
"""
import sys
from pathlib import Path

import polib

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    count = 0
    # The project's catalog and the apps' own (e.g. offers/locale/).
    po_paths = [*(ROOT / "locale").glob("*/LC_MESSAGES/*.po"), *ROOT.glob("*/locale/*/LC_MESSAGES/*.po")]
    for po_path in sorted(set(po_paths)):
        catalog = polib.pofile(str(po_path))
        catalog.save_as_mofile(str(po_path.with_suffix(".mo")))
        count += 1
    print(f"Compiled {count} message catalog(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
