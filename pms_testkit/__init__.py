"""The test and benchmark harness, shared by `tests/` and `bench/` (and not installed with the
package: `pip install pms-stream` ships `pms_stream` only).

- `kafka_helpers`: topics, produce, consume (read_committed), wait, against the real broker.
- `service_harness`: `pms-stream run` as a real process (`ServiceProcess`), its topics, its input
  and the output it should publish.
- `accounting`: lost / duplicated / wrong counts of what a run published (chaos tests, soak).
- `records_by_hand`: records typed from the chapter's tables, field by field.
- `strategies`: hypothesis strategies for every record layout.

Flow: sits beside the service, never inside it; nothing in `pms_stream` imports it.
"""
