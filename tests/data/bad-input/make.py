#!/usr/bin/env python3
"""Writes the bad-input corpus (the files beside this script); run it from here.

Each case's expected outcome is in expected.json, which tests/../jobs/feedpipe/tests/
bad_input.rs checks by running `feedpipe local` on each file. The 2 MiB record is
not checked in: the test writes them (big-record.jsonl, as make_big_record() below;
very-deep.jsonl, as jobs/feedpipe/tests/bad_input.rs writes it).
"""
import gzip
import json


def rec(i, **kw):
    r = {"order_id": f"ORD-{i:05d}", "customer_id": f"C-{i % 7:05d}",
         "order_ts": f"2026-11-0{1 + i % 7}T1{i % 10}:15:00+01:00",
         "status": "paid", "currency": "EUR", "total": round(10 + i * 1.25, 2),
         "items": [{"sku": "SKU-1", "qty": 1 + i % 3, "unit_price": 10.0}]}
    r.update(kw)
    return json.dumps(r, ensure_ascii=False)


def lines(rs, sep="\n"):
    return (sep.join(rs) + sep).encode()


def make_big_record():
    big = rec(2, notes="x" * (2 * 1024 * 1024))
    return lines([rec(1), big, rec(3)])


def main():
    full = gzip.compress(lines([rec(i) for i in range(40)]), mtime=0)
    open("truncated.jsonl.gz", "wb").write(full[: len(full) * 2 // 3])
    bad_utf8 = rec(2, notes="caf\udce9").encode("utf-8", "surrogateescape")  # a lone 0xE9 byte
    open("invalid-utf8.jsonl", "wb").write(lines([rec(1)]) + bad_utf8 + b"\n" + lines([rec(3)]))
    open("empty.jsonl", "wb").write(b"")
    open("blank-lines.jsonl", "wb").write(b"\n\n   \n\t\n\n")
    open("trailing-comma.json", "wb").write(("[\n" + ",\n".join([rec(1), rec(2), rec(3)]) + ",\n]\n").encode())
    deep = "{\"a\":" * 199 + "1" + "}" * 199  # depth 200 counting the record itself
    open("deep-nesting.jsonl", "wb").write(lines([rec(1), rec(2)[:-1] + ",\"deep\":" + deep + "}", rec(3)]))
    open("int64-overflow.jsonl", "wb").write(
        lines([rec(1), rec(2).replace('"qty": 3', '"qty": 9223372036854775808'), rec(3)]))
    open("bad-offset.jsonl", "wb").write(lines([rec(1), rec(2, order_ts="2026-11-02T10:00:00+25:00"), rec(3)]))
    open("orders d'été ü.jsonl", "wb").write(lines([rec(1), rec(2)]))
    open("crlf.jsonl", "wb").write(lines([rec(1), rec(2), rec(3)], "\r\n"))
    open("bom.jsonl", "wb").write(b"\xef\xbb\xbf" + lines([rec(1), rec(2)]))
    # Element 2 opens a `[` it never closes, element 5 has a stray `"`: each is bad alone.
    elements = [rec(i) for i in range(1, 9)]
    elements[1] = elements[1].replace('"items": [{', '"items": [[{')
    elements[4] = elements[4].replace('"status": "paid"', '"status": "pa"id"')
    open("broken-array.json", "wb").write(("[\n" + ",\n".join(elements) + "\n]\n").encode())


if __name__ == "__main__":
    main()
