"""Strategies shared by the fuzzing tests (test_fuzz_*.py): mutations of real input."""

from __future__ import annotations

from hypothesis import strategies as st


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with random byte flips, cuts, insertions and deletions (the shapes a fuzzer's mutator makes)."""

    def apply(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
        buf = bytearray(data)
        for kind, where, byte in edits:
            at = where % (len(buf) + 1)
            if kind == 0 and buf:
                buf[at % len(buf)] ^= 1 << (byte % 8)
            elif kind == 1:
                buf.insert(at, byte)
            elif kind == 2 and buf:
                del buf[at % len(buf)]
            elif kind == 3:
                del buf[at:]
            elif kind == 4 and buf:
                buf[at % len(buf)] = byte
        return bytes(buf)

    edit = st.tuples(st.integers(0, 4), st.integers(0, 1 << 16), st.integers(0, 255))
    return st.builds(apply, st.just(seed), st.lists(edit, min_size=1, max_size=6))
