"""The pure stream: one input partition's processing, without I/O.

`partition_task` (framing -> assembler -> outputs for one partition, its checkpoints and replay),
`outputs` (each event as a Kafka message: sink, key, value, headers) and `reroute_handler` (a
reroute request answered as output messages). Above the pure core (catair, statements, reroute),
below the async shell (`pms_stream.service`), which feeds it messages and publishes its outputs.
No asyncio, no aiokafka, no prometheus_client here (make lint checks it).
"""
