"""Statement reroute: QR requests answered with QX acknowledgements and the matching statements
sent again. `rules` (validation with the chapter's codes, matching), `store` (the latest version
of every published statement, bounded), `answer` (the MQ block and the JSON acknowledgement)."""
