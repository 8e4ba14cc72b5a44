"""Run the Kafka service: consume raw records from the input topic in a consumer group, publish
statements, reroute answers, rejects and metrics, exactly once (or at least once).

Configuration: flags > PMS_* environment variables > the TOML file given with --config >
defaults for a local broker on 127.0.0.1:9092 (docs/configuration.md lists every setting).
Stop with SIGTERM or Ctrl-C: the batch in flight is committed and the group left; the process
ends within PMS_SHUTDOWN_TIMEOUT_S (20 s) and a 5 s margin whatever it waits on (exit 1 if the
stop overran: what was not committed replays after the restart).

exit status: 0 after a clean stop (SIGTERM/SIGINT at any stage); 1 on an infrastructure error
(brokers unreachable or silent for PMS_CONNECT_TIMEOUT_S, authentication, authorization);
2 for bad configuration, including what the broker refuses (transaction and session timeouts,
replication factor, missing topics with PMS_CREATE_TOPICS=false, HTTP host or port); 3 when the
processing loop stalled; 4 when another instance fenced this one (a shared group_instance_id).
Each failure ends with one log line saying what, where and what to check.

examples:
  pms-stream run
  PMS_BOOTSTRAP_SERVERS=kafka:9092 PMS_GUARANTEE=at_least_once pms-stream run
  pms-stream run --config /etc/pms-stream.toml --http-port 9100
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from pms_stream.errors import ConfigError
from pms_stream.service import config

NAME = "run"
HELP = "run the Kafka service (consumer group, exactly once)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    try:
        settings = config.settings_from_args(args, os.environ)
    except ConfigError as exc:
        sys.stderr.write(f"pms-stream run: {exc}\n")
        return 2
    # Imported here: the offline commands must not pay for importing aiokafka.
    from pms_stream.service.logs import configure_logging, get_logger  # noqa: PLC0415
    from pms_stream.service.runner import Service  # noqa: PLC0415
    from pms_stream.service.warmup import warm_up  # noqa: PLC0415

    configure_logging(settings.log_format, settings.log_level)
    get_logger("pms_stream.service").info("warmed up", seconds=round(warm_up(), 3))
    return asyncio.run(Service(settings).run(bound_exit=True))
