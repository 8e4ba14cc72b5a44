"""Customs domain facts the records refer to: entry numbers, statement numbers, fee classes,
payment types, delete sources and importer numbers. Pure functions and tables; used by the
codec's checks, the assembler's consistency checks, the reports and the generator."""
