"""``voice-agent purge``: delete call records and recordings past the retention period.

The service also purges on a timer (``VOICE_AGENT_PURGE_INTERVAL_S``); this
command is for a cron job or by hand.
"""

from __future__ import annotations

import argparse
import datetime
import time


def register(sub: argparse._SubParsersAction) -> None:
    purge = sub.add_parser(
        "purge", help="delete call records and recordings older than the retention period"
    )
    purge.add_argument(
        "--older-than-days",
        type=float,
        metavar="DAYS",
        help="instead of VOICE_AGENT_RECORDS_RETENTION_DAYS (90)",
    )
    purge.set_defaults(func=cmd_purge)


def cmd_purge(args: argparse.Namespace) -> int:
    import attrs

    from agent.base.errors import ConfigError
    from agent.media.recording import purge_recordings
    from agent.observe.process import ObservabilitySettings
    from agent.observe.records import open_record_store

    settings = ObservabilitySettings.from_env()
    records = settings.records
    if args.older_than_days is not None:
        if not args.older_than_days >= 0:
            raise ConfigError(f"--older-than-days {args.older_than_days}: must be 0 or more")
        records = attrs.evolve(records, retention_days=args.older_than_days)
    cutoff = records.purge_cutoff(time.time())
    with open_record_store(records) as store:
        calls = store.purge_sync(cutoff)
    recordings = purge_recordings(settings.recording.directory, cutoff)
    when = datetime.datetime.fromtimestamp(cutoff).isoformat(timespec="seconds")
    print(f"purged {calls} calls and {recordings} recordings from before {when}")
    return 0
