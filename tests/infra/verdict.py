"""What the tests/infra checks share: printing a check's verdict, and the mutation
proof that a check can fail (each mutation must add a failure the unmutated inputs do
not have)."""

import re


def verdict(what: str, problems: list[str]) -> int:
    """Prints `ok` or `FAIL` for `what`, with the problems; 1 when there are any."""
    if not problems:
        print(f"ok   {what}")
        return 0
    print(f"FAIL {what}")
    for p in problems:
        print(f"     {p}")
    return 1


def mutations_missed(check, texts: dict[str, str], baseline: set[str], mutations, flags=0) -> list[str]:
    """Applies each `(description, file, pattern, replacement)` once to `texts[file]`
    and runs `check` on the result; returns the mutations it did not catch."""
    missed = []
    for description, rel, pattern, replacement in mutations:
        mutated, n = re.subn(pattern, replacement, texts.get(rel, ""), count=1, flags=flags)
        if n != 1:
            missed.append(f"mutation {description!r}: pattern no longer matches {rel}; update the mutation")
            continue
        result = [r for r in check({**texts, rel: mutated}) if r not in baseline]
        if result:
            print(f"  detected: {description} -> {result[0]}")
        else:
            missed.append(f"mutation {description!r} was NOT detected")
    return missed


def mutation_verdict(missed: list[str], total: int) -> int:
    """Prints whether all `total` mutations were caught; 1 when some were not."""
    if missed:
        return verdict(f"{len(missed)} of {total} mutations not caught", missed)
    print(f"ok   all {total} mutations caught")
    return 0
