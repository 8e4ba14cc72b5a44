"""Statement queries for the back office: every version held of a statement, and statements by
filer, importer, payment month, status and due date, served over the service's HTTP server.
`store` holds them (pure), `api` answers the requests (pure), `pms_stream.service.query_stage`
wires them to the statements topic and the HTTP server."""
