"""The missing-statement watchdog: which payer had a statement in the previous payment month but
none in the current one after its preliminary print date (`detect`), its event (`event`), and
the service stage that publishes it once (`pms_stream.service.missing_watch`)."""
