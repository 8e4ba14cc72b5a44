"""The Kafka service (`pms-stream run`): the async shell around the pure core.

Pure parts (no asyncio, no aiokafka): `outputs` (events -> messages), `partition_task` (one input
partition: assemblers per stream key, checkpoints, replay). Async parts: `runner` (consumer,
transactional producers, rebalances, timers), `http` (/metrics, /healthz, /readyz), `metrics`,
`config`, `logs`.
"""
