"""The chapter's four printed reports (Figures 1-4) as fixed-width 132-column text pages.

`layout` holds every column position and heading taken from the figures; `render` turns a
`Statement` (the JSON contract) into pages of those lines; `pms_stream.commands.report` is the
command line around them. See docs/reports.md.

Flow: assembler -> model -> **reports** (`pms-stream report`).
"""

from __future__ import annotations
