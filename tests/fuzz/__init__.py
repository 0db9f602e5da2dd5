"""Coverage-guided fuzzing of everything a stranger can hand the node: bytes on the wire and in
storage (the codec, transactions, blocks), p2p frames and messages, RPC requests and chain specs.

`python -m tests.fuzz.run TARGET --seconds N` runs one target under atheris (libFuzzer);
`make fuzz` runs them all. Every input that ever made a target fail is kept under
`tests/fuzz/regressions/<target>/` and replayed by the test suite.
"""
