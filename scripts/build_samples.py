"""Rebuild the bundled samples in `nzeza/data/samples/` from the raw files in `../shared/data`.

    .venv/bin/python scripts/build_samples.py [--src ../shared/data] [--out nzeza/data/samples]

Deterministic: the same raw files give byte-identical Parquet files (fixed writer settings, no
timestamps in metadata); `manifest.json` records the sha256 of every input and output and
what each reader fixed (swapped volumes, sort order, pre-listing rows), so NOTICE.md's
numbers can be checked against it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nzeza.data.sources import (  # noqa: E402
    read_bitstamp_1d_csv,
    read_btc_usd_1h_csv,
    read_coinbase_1h_csv,
)

BUILDS = {
    "btc_usd_1h": ("btc_usd_1h_2018-2022.csv.gz", read_btc_usd_1h_csv),
    "coinbase_btc_usd_1h": ("coinbase_btc_usd_1h_2017-2019.csv.gz", read_coinbase_1h_csv),
    "bitstamp_1d": ("bitstamp_btc_eth_ltc_1d_2014-2020.csv.gz", read_bitstamp_1d_csv),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _swap_segments(src: Path) -> list[list[str]]:
    """Contiguous runs of swapped-volume rows (first, last bar), for the notice."""
    import pandas as pd

    from nzeza.data.sources import fix_swapped_volume

    raw = pd.read_csv(src).iloc[::-1]
    _, swapped, _ = fix_swapped_volume(raw["volume"], raw["Volume USD"], raw["low"], raw["high"])
    times = pd.to_datetime(raw["unix"], unit="s", utc=True).to_numpy()
    edges = np.flatnonzero(np.diff(np.concatenate(([0], swapped.astype(int), [0]))))
    return [
        [str(pd.Timestamp(times[a])), str(pd.Timestamp(times[b - 1]))]
        for a, b in zip(edges[::2], edges[1::2], strict=True)
    ]


def write_parquet(df, path: Path) -> None:  # type: ignore[no-untyped-def]
    table = pa.Table.from_pandas(df, preserve_index=True)
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=19,
        use_dictionary=["symbol"] if "symbol" in df.columns else False,
        write_statistics=True,
        # Byte-stream split groups float64 bytes by significance: ~30 % smaller here.
        use_byte_stream_split=[c for c in df.columns if c != "symbol"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=ROOT / "nzeza" / "data" / "samples")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {}
    for name, (file, reader) in BUILDS.items():
        src = args.src / file
        df, notes = reader(src)
        dest = args.out / f"{name}.parquet"
        write_parquet(df, dest)
        if name == "btc_usd_1h":
            notes["volume_swapped_segments"] = _swap_segments(src)
        manifest[name] = {
            "source_file": file,
            "source_sha256": _sha256(src),
            "file": dest.name,
            "sha256": _sha256(dest),
            "bytes": dest.stat().st_size,
            "rows": len(df),
            "start": str(df.index.min()),
            "end": str(df.index.max()),
            "fixes": notes,
        }
        print(f"{name:22s} {len(df):6d} rows  {dest.stat().st_size / 1e3:8.1f} kB  {dest}")
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    total = sum(m["bytes"] for m in manifest.values())
    print(f"total {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
