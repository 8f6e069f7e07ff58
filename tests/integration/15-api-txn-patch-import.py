#!/usr/bin/python3
"""Black-box tests of transactions, merge patches, import and export."""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import chtest  # noqa: E402

tap = chtest.Tap("txn: ")
EXAMPLE = os.path.join(chtest.ROOT, "examples", "example.json")


def code(body):
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def txn(srv, body):
    return srv.json("POST", "/v1/txn", json.dumps(body))


def test_txn(srv):
    st, h, b = txn(srv, {"if": [{"section": "app", "key": "port", "value": 8080}],
                         "then": [{"op": "put", "section": "app", "key": "port", "value": 9090},
                                  {"op": "delete", "section": "features", "key": "gift_cards"},
                                  {"op": "put", "ns": "team-b", "section": "s", "key": "k",
                                   "value": [1, 2]}],
                         "else": [{"op": "put", "section": "app", "key": "port", "value": 1}]})
    tap.ok(st == 200 and b["succeeded"] is True and b["revision"] == 2 and len(b["results"]) == 3,
           "conditions hold: then runs", b)
    tap.eq(b["results"][0], {"op": "put", "ns": "default", "section": "app", "key": "port",
                             "changed": True, "mod_revision": 2, "version": 2},
           "a put's result carries its mod_revision and version")
    _, _, port = srv.json("GET", "/v1/ns/default/app/port")
    _, _, other = srv.json("GET", "/v1/ns/team-b/s/k")
    _, _, gift = srv.json("GET", "/v1/ns/default/features/gift_cards")
    tap.eq((port, other, code(gift)), (9090, [1, 2], "not_found"),
           "every operation of the branch applied, across namespaces")
    _, _, meta = srv.json("GET", "/v1/ns/team-b/s/k?meta=true")
    tap.eq(meta["mod_revision"], 2, "the whole branch is one revision")

    st, h, b = txn(srv, {"if": [{"section": "app", "key": "port", "value": 8080}],
                         "then": [{"op": "put", "section": "app", "key": "port", "value": 1}],
                         "else": [{"op": "put", "section": "app", "key": "seen", "value": True}]})
    tap.ok(b["succeeded"] is False and b["revision"] == 3, "conditions fail: else runs", b)
    st, h, b = txn(srv, {"if": [{"section": "app", "key": "port", "value": 8080}]})
    tap.ok(st == 200 and b["succeeded"] is False and b["revision"] == 3 and b["results"] == [],
           "a failed condition with no else writes nothing and makes no revision", b)

    conds = [
        ({"section": "app", "key": "port", "mod_revision": 2}, True),
        ({"section": "app", "key": "port", "mod_revision": 2, "op": "!="}, False),
        ({"section": "app", "key": "port", "mod_revision": 3, "op": "<"}, True),
        ({"section": "app", "key": "port", "mod_revision": 1, "op": ">"}, True),
        ({"section": "app", "key": "port", "version": 2}, True),
        ({"section": "app", "key": "nope", "exists": False}, True),
        ({"section": "app", "key": "port", "exists": True}, True),
        ({"section": "app", "exists": True}, True),
        ({"ns": "nope", "exists": True}, False),
        ({"section": "app", "key": "timeouts", "value": {"idle_s": 60, "write_ms": 5000,
                                                         "read_ms": 2500}}, True),
        ({"section": "app", "key": "nope", "value": None, "op": "!="}, True),
        ({"section": "app", "key": "nope", "version": 0}, True),
    ]
    for cond, want in conds:
        st, _, b = txn(srv, {"if": [cond]})
        tap.ok(st == 200 and b["succeeded"] is want, "condition %s is %s" % (json.dumps(cond), want),
               b)

    st, _, b = txn(srv, {"then": [{"op": "put", "section": "app", "key": "port", "value": 1},
                                  {"op": "delete_section", "section": "app"}]})
    tap.ok(st == 400 and "then[0]" in b["error"]["message"] and "then[1]" in b["error"]["message"],
           "two operations on the same key are a 400 naming both", b)
    st, _, b = txn(srv, {"then": [{"op": "put", "section": "app", "key": "port", "value": 5},
                                  {"op": "delete", "section": "app", "key": "missing"}]})
    _, _, port = srv.json("GET", "/v1/ns/default/app/port")
    tap.ok(st == 404 and port == 9090, "a failing operation applies nothing of the branch", b)
    for bad, why in [({"then": [{"op": "frob"}]}, "unknown op"),
                     ({"then": [{"op": "put", "section": "a", "key": "k"}]}, "missing value"),
                     ({"then": [{"op": "put", "section": "a", "key": "k", "value": 1, "x": 1}]},
                      "unknown member"),
                     ({"if": [{"section": "a", "key": "k"}]}, "condition without a target"),
                     ({"if": [{"section": "a", "key": "k", "value": 1, "op": "<"}]},
                      "< on a value"),
                     ({"then": [{"op": "put", "section": "a/b", "key": "k", "value": 1}]},
                      "bad name"),
                     ([1], "not an object")]:
        st, _, b = txn(srv, bad)
        tap.ok(st == 400 and code(b) == "invalid_argument", "invalid transaction: %s" % why, b)


def test_txn_limit():
    with chtest.Server(args=["--max-txn-ops", "3"]) as srv:
        ops = [{"op": "put", "section": "s", "key": "k%d" % i, "value": i} for i in range(4)]
        st, _, b = txn(srv, {"then": ops})
        tap.ok(st == 413 and "max-txn-ops" in b["error"]["message"],
               "more operations than max-txn-ops is 413 naming the limit", b)
        st, _, b = txn(srv, {"then": ops[:3]})
        tap.eq((st, b.get("succeeded")), (200, True), "at the limit is fine")


def test_patch(srv):
    hdr = {"Content-Type": "application/merge-patch+json"}
    st, _, b = srv.json("PATCH", "/v1/ns/default",
                        '{"app":{"port":null,"owner":"ops","timeouts":{"idle_s":30}},'
                        '"regions":null,"new":{"k":1}}', hdr)
    tap.eq((st, b["changed"]), (200, True), "PATCH namespace")
    _, _, app = srv.json("GET", "/v1/ns/default/app")
    tap.ok("port" not in app and app["owner"] == "ops" and
           app["timeouts"] == {"read_ms": 2500, "write_ms": 5000, "idle_s": 30},
           "merge patch: null deletes, objects merge recursively", app)
    st, _, _ = srv.json("GET", "/v1/ns/default/regions")
    tap.eq(st, 404, "merge patch: a null section is deleted")
    _, _, meta = srv.json("GET", "/v1/ns/default/new/k?meta=true")
    _, _, owner = srv.json("GET", "/v1/ns/default/app/owner?meta=true")
    tap.eq(meta["mod_revision"], owner["mod_revision"], "the whole patch is one revision")
    st, _, b = srv.json("PATCH", "/v1/ns/default/app", '{"owner":"ops"}', hdr)
    tap.eq(b["changed"], False, "a patch that changes nothing is a no-op")
    st, _, b = srv.json("PATCH", "/v1/ns/default/database", '{"pool":{"max":50}}', hdr)
    _, _, pool = srv.json("GET", "/v1/ns/default/database/pool")
    tap.eq(pool, {"min": 2, "max": 50, "acquire_timeout_ms": 1000}, "PATCH section merges values")
    st, _, b = srv.json("PATCH", "/v1/ns/default/database", '{"pool":1}',
                        {"Content-Type": "application/merge-patch+json", "If-Match": '"1"'})
    tap.eq(st, 412, "PATCH honours If-Match")
    st, _, b = srv.json("PATCH", "/v1/ns/default", '[1]', hdr)
    tap.eq(st, 400, "a patch that makes the document a non-object is refused")


def test_import_export(srv):
    doc = {"svc": {"url": "http://x", "retries": 3}, "flags": ["a", "b"], "limit": 1.5}
    st, _, b = srv.json("PUT", "/v1/ns/imp/import?dry_run=true", json.dumps(doc))
    tap.ok(st == 200 and b["dry_run"] is True and len(b["added"]) == 4 and b["changed"] == [] and
           b["removed"] == [], "dry run lists what would be added", b)
    st, _, _ = srv.json("GET", "/v1/ns/imp")
    tap.eq(st, 404, "a dry run writes nothing")
    st, _, b = srv.json("PUT", "/v1/ns/imp/import", json.dumps(doc))
    tap.ok(st == 201 and b["added"] == 4 and b["changed"] is True, "import creates a namespace", b)
    _, _, got = srv.json("GET", "/v1/ns/imp")
    tap.eq(got, doc, "the imported document reads back the same")
    doc2 = {"svc": {"url": "http://y"}, "extra": {"k": None}}
    st, _, b = srv.json("PUT", "/v1/ns/imp/import?mode=merge&dry_run=true", json.dumps(doc2))
    tap.ok(len(b["added"]) == 1 and len(b["changed"]) == 1 and b["removed"] == [] and
           b["changed"][0]["old"] == "http://x" and b["changed"][0]["new"] == "http://y",
           "merge dry run: old and new values", b)
    st, _, b = srv.json("PUT", "/v1/ns/imp/import?mode=merge", json.dumps(doc2))
    _, _, got = srv.json("GET", "/v1/ns/imp")
    tap.eq(got, {"svc": {"url": "http://y", "retries": 3}, "flags": ["a", "b"], "limit": 1.5,
                 "extra": {"k": None}}, "merge keeps the keys the document does not name")
    st, _, b = srv.json("PUT", "/v1/ns/imp/import", json.dumps(doc2))
    _, _, got = srv.json("GET", "/v1/ns/imp")
    tap.ok(got == doc2 and b["removed"] == 3, "replace removes what the document does not name",
           b)
    st, _, b = srv.json("PUT", "/v1/ns/imp/import", '{"a":\n  {"b": 1,,}}')
    tap.ok(st == 400 and b["error"]["line"] == 2 and "request body:2:" in b["error"]["message"],
           "a bad document is 400 with line and column", b)
    st, _, b = srv.json("PUT", "/v1/ns/imp/import", '[1,2]')
    tap.eq(st, 400, "a list is not a namespace document")
    st, _, b = srv.json("PUT", "/v1/ns/imp/import?mode=sideways", '{}')
    tap.eq(st, 400, "an unknown mode is 400")
    st, _, b = srv.json("PUT", "/v1/ns/imp/import?format=xml", '{}')
    tap.eq(st, 400, "an unknown format is 400")

    st, h, body = srv.request("GET", "/v1/ns/imp/export")
    tap.ok(st == 200 and json.loads(body) == doc2 and h["content-type"] == "application/json",
           "export as JSON", body)
    st, h, body = srv.request("GET", "/v1/ns/imp/export?pretty=true")
    tap.ok(b"\n  " in body and json.loads(body) == doc2, "?pretty=true indents", body)
    st, h, body = srv.request("GET", "/v1/ns/nope/export")
    tap.eq(st, 404, "export of a missing namespace is 404")
    st, h, body = srv.request("PUT", "/v1/ns/imp/export", "1")
    tap.eq((st, h.get("allow")), (405, "GET"), "the export route shadows a section named export")
    st, h, body = srv.json("PUT", "/v1/ns/imp/%65xport", '{"a":1}')
    _, _, sec = srv.json("GET", "/v1/ns/imp/%65xport")
    tap.eq((st, sec), (201, {"a": 1}), "a section named export is reachable percent-encoded")


def main():
    with chtest.Server(seed=EXAMPLE) as srv:
        test_txn(srv)
        test_patch(srv)
        test_import_export(srv)
    test_txn_limit()
    tap.done()


main()
