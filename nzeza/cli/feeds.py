"""`nzeza feed …` commands: replay captures over a local websocket, record a websocket.

Argument handling only; the work is in `nzeza.feeds.replay`. Nothing heavy is imported at
module level.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"speed must be a number or 'max', not {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("speed must be positive")
    return value


def capture_paths(items: list[str]) -> list[Path]:
    """Capture files from paths, bundled capture names (binance_spot_btcusdt_20240808.jsonl.gz,
    or without its suffix) and bundled feed names (binance_btcusdt: all its files). Anything
    else is one `ValidationError` listing what there is."""
    from nzeza.engine.runner import BUNDLED_FEEDS
    from nzeza.errors import ValidationError
    from nzeza.feeds import capture

    have = sorted(p.name for p in capture.CAPTURES_DIR.glob("*.jsonl*"))
    out: list[Path] = []
    for text in items:
        path = Path(text)
        if path.is_file():
            out.append(path)
            continue
        if text in BUNDLED_FEEDS:
            out += [capture.bundled(n) for n in getattr(capture, BUNDLED_FEEDS[text][0])]
            continue
        named = [n for n in have if n == text or n.split(".jsonl")[0] == text]
        if len(named) == 1:
            out.append(capture.bundled(named[0]))
            continue
        raise ValidationError(
            "files",
            text,
            "neither a capture file nor a bundled capture: feeds "
            f"{', '.join(BUNDLED_FEEDS)}; files {', '.join(have)}",
        )
    return out


def register(sub: argparse._SubParsersAction) -> None:
    """Add this group's commands to `sub`."""
    feed = sub.add_parser("feed", aliases=["feeds"], help="real-time feeds: replay and record")
    cmds = feed.add_subparsers(dest="feed_command", metavar="COMMAND")
    feed.set_defaults(handler=lambda _args: feed.print_help())

    rep = cmds.add_parser(
        "replay",
        help="serve capture files over a websocket (+ Binance REST depth snapshots)",
        description="Serve captures in the venue's own format on 127.0.0.1 with fault injection.",
    )
    rep.add_argument(
        "files",
        nargs="+",
        help="capture files, bundled capture file names, or a bundled feed (binance_btcusdt)",
    )
    rep.add_argument("--host", default="127.0.0.1")
    rep.add_argument("--port", type=int, default=8765)
    rep.add_argument("--speed", type=_speed, default=1.0, help="1, 10, ... or max (default 1)")
    rep.add_argument("--loop", action="store_true", help="start again at the end")
    rep.add_argument("--drop-every", type=int, default=0, metavar="N")
    rep.add_argument("--delay-every", type=int, default=0, metavar="N")
    rep.add_argument("--delay-ms", type=float, default=0.0)
    rep.add_argument("--malformed-every", type=int, default=0, metavar="N")
    rep.add_argument("--duplicate-every", type=int, default=0, metavar="N")
    rep.add_argument("--gap-every", type=int, default=0, metavar="N")
    rep.set_defaults(handler=_replay)

    rec = cmds.add_parser(
        "record",
        help="record a websocket to a capture file (<ns> <json>)",
        description="Record what a websocket sends. With --venue and --symbol the venue's own "
        "subscriptions are sent: its public trades, or with --funding its funding rate and "
        "mark price (Binance USDⓈ-M markPrice on wss://fstream.binance.com, Hyperliquid "
        "activeAssetCtx, dYdX v4_markets); URL is then the venue's websocket base. A summary "
        "of the parsed events (the last funding rate per symbol included) is printed at the end.",
    )
    rec.add_argument("url")
    rec.add_argument(
        "--venue", default=None, help="subscribe the venue's way: binance, hyperliquid, dydx, ..."
    )
    rec.add_argument("--symbol", default=None, help="the symbol, any spelling (BTC/USDT, BTC)")
    rec.add_argument(
        "--funding", action="store_true", help="the funding rate and mark price, not the trades"
    )
    rec.add_argument(
        "--subscribe",
        action="append",
        default=[],
        metavar="JSON",
        help="a subscribe message to send (repeatable)",
    )
    rec.add_argument("--out", required=True, type=Path)
    rec.add_argument("--duration", type=float, default=None, help="seconds")
    rec.add_argument("--max-messages", type=int, default=None)
    rec.set_defaults(handler=_record)


def _replay(args: argparse.Namespace) -> int:
    import asyncio

    from nzeza.feeds.replay import Faults, ReplayServer

    paths = capture_paths(args.files)
    _print_summary(paths, None)
    faults = Faults(
        drop_every=args.drop_every,
        delay_every=args.delay_every,
        delay_s=args.delay_ms / 1000.0,
        malformed_every=args.malformed_every,
        duplicate_every=args.duplicate_every,
        gap_every=args.gap_every,
    )
    server = ReplayServer(
        paths,
        host=args.host,
        port=args.port,
        speed=args.speed,
        faults=faults,
        loop_forever=args.loop,
    )

    async def main() -> None:
        await server.start()
        print(
            f"replaying {len(server.tape.items)} messages on {server.url} "
            f"(REST {server.http_url}/api/v3/depth); Ctrl-C to stop",
            flush=True,
        )
        while not server.finished.is_set():
            await asyncio.sleep(0.5)
        print(f"replay finished: {server.sent} messages sent, {server.drops} drops", flush=True)
        await server.stop()

    asyncio.run(main())
    return 0


def _record(args: argparse.Namespace) -> int:
    import asyncio

    from nzeza.errors import ValidationError
    from nzeza.feeds.replay import record

    url, subs = args.url, []
    if args.funding and not args.venue:
        raise ValidationError("--funding", True, "needs --venue and --symbol")
    if args.venue:
        from nzeza.feeds.streams import funding_stream, trade_stream

        if not args.symbol:
            raise ValidationError("--symbol", None, f"required with --venue {args.venue}")
        make = funding_stream if args.funding else trade_stream
        stream = make(args.venue, args.url, args.symbol)
        url = stream.url() if callable(stream.url) else stream.url
        subs = list(stream.subscriptions)
    for text in args.subscribe:
        try:
            subs.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValidationError("--subscribe", text, f"not JSON: {exc.msg}") from None
    n = asyncio.run(
        record(url, subs, args.out, max_messages=args.max_messages, duration_s=args.duration)
    )
    print(f"recorded {n} messages to {args.out}")
    if n:
        _print_summary([args.out], args.venue)
    return 0


def _print_summary(paths: list[Path], venue: str | None) -> None:
    """The parsed events of captures (funding rates included), when a parser reads them."""
    import contextlib

    from nzeza.errors import DataError
    from nzeza.feeds.capture import event_summary

    # not market data any venue parser reads: the message count says what there is
    with contextlib.suppress(DataError):
        print(event_summary(paths, venue), flush=True)


__all__ = [
    "capture_paths",
    "register",
]
