"""The ACH cash forecast: for every payer and due date, the amount that will be debited, from
the latest version of each statement (`aggregate`), its event (`event`), and the stream stage
that keeps it on the compacted forecasts topic (`pms_stream.service.forecast_stage`)."""
