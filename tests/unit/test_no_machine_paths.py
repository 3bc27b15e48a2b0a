"""No tracked file carries an absolute path of the machine it was written on.

Paths a file may name are relative to the repository. What is refused: the checkout's own absolute path, the folder
that holds it (where clones and shared data sit beside each other) and the home directory, as the start of a path.
System paths any machine has (``/usr/bin/chromedriver``, ``/tmp`` in an example) and URL paths (``/health``) pass.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def machine_prefixes(root: Path = ROOT, home: Path | None = None) -> list[str]:
    """The absolute paths that belong to this machine, not to the project (never ``/`` itself)."""
    home = Path.home() if home is None else home
    candidates = {root, root.parent, home}
    return sorted({str(p) for p in candidates if len(p.parts) > 1}, key=len, reverse=True)


def machine_path_pattern(prefixes: list[str]) -> re.Pattern[bytes]:
    """A prefix at the start of a path (not inside a word or a URL path) followed by a separator or the end."""
    alternatives = b"|".join(re.escape(p.encode()) for p in prefixes)
    start = rb"(?:(?<![\w.~/-])|(?<=file://))"  # a file URL names a local path too
    return re.compile(start + rb"(?:" + alternatives + rb")(?=[/\\\s\"'`),;:\]]|$)", re.M)


def tracked_files(root: Path = ROOT) -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
    return [root / name for name in out.decode().split("\0") if name]


def test_the_pattern_finds_machine_paths_and_passes_portable_ones():
    pattern = machine_path_pattern(machine_prefixes(Path("/srv/clones/patent-cpc"), Path("/home/ann")))
    for text in (
        '"model": "/srv/clones/patent-cpc/hub/models/cpc-default"',
        "data in /srv/clones/shared/data",
        "cache: /home/ann/.cache/patent-cpc",
        "HOME=/home/ann",
        "file:///srv/clones/patent-cpc/hub/models/cpc-default",
    ):
        assert pattern.search(text.encode()), text
    for text in (
        '"model": "hub/models/cpc-default"',
        "/usr/bin/chromedriver",
        "cd /tmp && cpc predict",
        "GET /health",
        "https://example.org/srv/clones/x",
        "/home/annabel/x",
        "/srv/clones-old/x",
    ):
        assert not pattern.search(text.encode()), text


def test_no_tracked_file_carries_an_absolute_path_of_this_machine():
    pattern = machine_path_pattern(machine_prefixes())
    found = []
    for path in tracked_files():
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data[:8192]:  # binary (parquet, npz, png)
            continue
        for match in pattern.finditer(data):
            line = data.count(b"\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}: {match.group().decode(errors='replace')}")
    assert not found, (
        "absolute paths of this machine in tracked files (write them relative to the repo):\n" + "\n".join(found)
    )
