"""Rebuild node/data/common_passwords.txt.gz from zxcvbn's 'passwords' frequency list.

Run with the zxcvbn package importable (``pip download zxcvbn --no-deps`` then unzip the wheel
and put it on PYTHONPATH); the node itself never imports zxcvbn, it reads the shipped file.
"""

from __future__ import annotations

import gzip
from pathlib import Path

from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-not-found]

TARGET = Path(__file__).resolve().parents[1] / "node" / "data" / "common_passwords.txt.gz"
HEADER = (
    "# The 30,000 most common passwords, most common first, lower-cased: the 'passwords'\n"
    "# frequency list of zxcvbn 4.5.0 (PyPI 'zxcvbn', MIT licence, Copyright (c) 2016\n"
    "# Daniel Wolf; data from Dropbox's zxcvbn). Regenerate: scripts/make_common_passwords.py.\n"
)


def main() -> None:
    seen: dict[str, None] = {}
    for word in FREQUENCY_LISTS["passwords"]:
        word = word.strip().lower()
        if word:
            seen.setdefault(word)
    text = HEADER + "\n".join(seen) + "\n"
    # mtime=0: the same list gives the same bytes, so a rebuild leaves no diff.
    with gzip.GzipFile(TARGET, "wb", mtime=0) as out:
        out.write(text.encode("utf-8"))
    print(f"{len(seen)} passwords written to {TARGET}")


if __name__ == "__main__":
    main()
