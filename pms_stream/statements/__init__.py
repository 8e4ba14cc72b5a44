"""Statements: the JSON contract (model), consistency checks, and the assembler that builds them."""
