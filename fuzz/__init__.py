"""Fuzzing of the pure core: framing, codec, assembler and the partition task (see README.md).

`targets` holds one harness per target (bytes in, documented outputs or a `Violation` out),
`seeds` the valid inputs every run starts from, `mutate` the seeded random mutator, `engine`
the loop that times and measures each input, `run` the command line (`python -m fuzz.run`) and
`atheris_target` the coverage-guided entry point that the command starts when atheris is there.
"""
