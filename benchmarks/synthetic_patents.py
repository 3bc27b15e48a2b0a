"""Synthetic PatentsView bulk tables of any size, for the scale benchmark (never committed: generated on demand).

``python benchmarks/synthetic_patents.py N OUT_DIR`` writes ``g_patent``, ``g_patent_abstract`` and
``g_cpc_current`` as ``.tsv.zip`` in PatentsView's layout (every field quoted): N utility patents with
abstracts of about 110 words (a US abstract's usual length) drawn from a fixed vocabulary, 1-20 CPC codes each
(about 8 on average, from 3,000 symbols with a long-tailed frequency), and one abstract in a hundred repeated
by another patent (a family filed twice), so the build merges something. Deterministic for a given N.
"""

from __future__ import annotations

import argparse
import random
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.fixtures.bulk import G_ABSTRACT, G_CPC, G_PATENT  # noqa: E402 - the PatentsView tables' columns, one definition


def _words(rng: random.Random, n: int) -> list[str]:
    letters = "etaoinshrdlucmfwypvbgkqjxz"
    return ["".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(n)]


def _codes(rng: random.Random, n: int) -> list[str]:
    codes = set()
    while len(codes) < n:
        section = rng.choice("ABCDEFGHY")
        codes.add(
            f"{section}{rng.randint(1, 99):02d}{rng.choice('ABCDFGHJKLMNPQ')}{rng.randint(1, 99)}/{rng.randint(0, 999):02d}"
        )
    return sorted(codes)


def _line(values) -> str:
    return "\t".join(f'"{v}"' for v in values) + "\n"


def write_tables(n: int, out: Path, seed: int = 0) -> dict[str, Path]:
    rng = random.Random(seed)
    vocabulary = _words(rng, 5000)
    sentences = [" ".join(rng.choices(vocabulary, k=rng.randint(12, 22))).capitalize() + "." for _ in range(4000)]
    pool = _codes(rng, 3000)
    weights = [1 / (i + 1) ** 0.9 for i in range(len(pool))]
    code_draws = rng.choices(pool, weights=weights, k=200_000)
    out.mkdir(parents=True, exist_ok=True)
    paths = {t: out / f"{t}.tsv.zip" for t in ("g_patent", "g_patent_abstract", "g_cpc_current")}
    archives = {t: zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) for t, p in paths.items()}
    streams = {t: archives[t].open(f"{t}.tsv", "w", force_zip64=True) for t in paths}
    headers = {"g_patent": G_PATENT, "g_patent_abstract": G_ABSTRACT, "g_cpc_current": G_CPC}
    buffers: dict[str, list[str]] = {t: [_line(headers[t])] for t in paths}
    previous = ""
    for i in range(n):
        pid = str(10_000_000 + i)
        year = 1976 + i * 49 // max(n, 1)
        buffers["g_patent"].append(
            _line(
                (
                    pid,
                    "utility",
                    f"{year}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    " ".join(rng.choices(vocabulary, k=6)).capitalize(),
                    "B2",
                    12,
                    0,
                    "ipg.xml",
                )
            )
        )
        if i % 100 == 99:
            abstract = previous  # the same invention filed twice
        else:
            abstract = f"Embodiment {i}: " + " ".join(rng.choices(sentences, k=rng.randint(5, 8)))
        previous = abstract
        buffers["g_patent_abstract"].append(_line((pid, abstract)))
        n_codes = min(20, max(1, int(rng.expovariate(1 / 8))))
        start = rng.randrange(len(code_draws) - n_codes)
        for seq, code in enumerate(dict.fromkeys(code_draws[start : start + n_codes])):
            kind = "inventional" if seq == 0 else "additional"
            buffers["g_cpc_current"].append(_line((pid, seq, code[0], code[:3], code[:4], code, kind)))
        if i % 20_000 == 19_999:
            _flush(streams, buffers)
    _flush(streams, buffers)
    for t in paths:
        streams[t].close()
        archives[t].close()
    return paths


def _flush(streams, buffers) -> None:
    for t, lines in buffers.items():
        streams[t].write("".join(lines).encode("utf-8"))
        lines.clear()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int)
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    for table, path in write_tables(args.n, args.out).items():
        print(f"{table}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
