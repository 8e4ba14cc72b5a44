"""The Kafka service (`pms-stream run`): the async shell around the pure core.

Pure parts (no asyncio, no aiokafka): `outputs` (events -> messages), `partition_task` (one input
partition: assemblers per stream key, checkpoints, replay). Async parts: `runner` (consumer,
loop, rebalances, timers), `publisher` (producers, transactions, retries), `partitions`
(set-up of an assigned partition), `admin` and `topic_limits` (start-up against the broker),
`membership`, `http` (/metrics, /healthz, /readyz), `metrics`,
`config`, `logs`.
"""
