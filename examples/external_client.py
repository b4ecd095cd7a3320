#!/usr/bin/env python3
"""An external Databox client: plain HTTP and a token, Python's standard library only.

It reads the catalogue, reads the newest point and an hourly mean of each SOURCE it was
granted, writes the hourly mean of the first SOURCE into TARGET, and copes with refusals: when
the box refuses a raw read (403, e.g. a grant of hourly statistics only) it prints the box's
reason and falls back to the newest hourly statistics.

    export DATABOX_URL=http://127.0.0.1:5990 DATABOX_TOKEN=...   # the token the owner minted
    python3 examples/external_client.py home/temperature home/power --write reports/heating

Prints one `name key=value ...` line per finding (for people and for scripts) and exits 0; exits
1 on an unexpected error (box unreachable, bad token, a refused write, any other failure) and 2
on bad arguments.
"""

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

PREFIX = "/api/v1/stores"


class BoxError(Exception):
    """A request failed in a way the program cannot work around."""


class Refused(BoxError):
    """The box refused the request (403): the token does not reach it. `reason` says why."""

    def __init__(self, status, reason):
        super().__init__(f"refused ({status}): {reason}")
        self.status = status
        self.reason = reason


class Box:
    """The box's HTTP API with one bearer token."""

    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method, path, body=None):
        """Sends a request; returns the decoded JSON answer or raises BoxError/Refused."""
        url = self.url + path
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            # Every error of the box is {"error": "...", "status": code}.
            try:
                reason = json.load(e).get("error", "")
            except (ValueError, AttributeError):
                reason = e.reason
            if e.code == 403:
                raise Refused(e.code, reason) from None
            raise BoxError(f"{method} {path}: {e.code} {reason}") from None
        except urllib.error.URLError as e:
            raise BoxError(f"cannot reach the box at {self.url}: {e.reason}") from None
        except (ValueError, OSError) as e:
            raise BoxError(f"{method} {path}: {e}") from None

    def read(self, source, query):
        store, ds = source
        return self.call("GET", f"{PREFIX}/{q(store)}/ts/{q(ds)}/{query}")

    def write(self, target, point):
        store, ds = target
        return self.call("POST", f"{PREFIX}/{q(store)}/ts/{q(ds)}", point)


def q(segment):
    """One path segment, percent-encoded."""
    return urllib.parse.quote(segment, safe="")


def store_datasource(text):
    store, sep, ds = text.partition("/")
    if not (store and sep and ds):
        raise argparse.ArgumentTypeError(f"{text!r} is not STORE/DATASOURCE")
    return (store, ds)


def name(source):
    return "/".join(source)


def meta(item, rel):
    """The value of a Hypercat item's metadata relation, if it has one."""
    for m in item.get("item-metadata", []):
        if m.get("rel") == rel:
            return m.get("val")
    return None


def catalogue(box):
    """Walks the Hypercat catalogue: the root lists the stores the token may see, each store's
    catalogue the datasources. Returns (stores, ["store/datasource", ...])."""
    stores, datasources = [], []
    for item in box.call("GET", "/cat")["items"]:
        stores.append(meta(item, "urn:X-databox:rels:hasStore"))
        # Follow the link by its path only: the token goes to this box and nowhere else.
        for ds in box.call("GET", urllib.parse.urlsplit(item["href"]).path)["items"]:
            datasources.append(
                f"{meta(ds, 'urn:X-databox:rels:hasStore')}/{meta(ds, 'urn:X-databox:rels:hasDatasourceid')}"
            )
    return sorted(stores), sorted(datasources)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sources", nargs="+", type=store_datasource, metavar="SOURCE",
                        help="STORE/DATASOURCE of a numeric series to read")
    parser.add_argument("--write", required=True, type=store_datasource, metavar="TARGET",
                        help="STORE/DATASOURCE to write the hourly mean of the first SOURCE to")
    parser.add_argument("--hours", type=int, default=24,
                        help="how many hours back the hourly mean covers (default 24)")
    args = parser.parse_args()
    token = os.environ.get("DATABOX_TOKEN", "").strip()
    if not token:
        parser.error("set DATABOX_TOKEN to the token the box's owner minted for this client")
    box = Box(os.environ.get("DATABOX_URL", "http://127.0.0.1:5990"), token)

    stores, datasources = catalogue(box)
    print(f"catalogue stores={','.join(stores)}")
    print(f"catalogue datasources={','.join(datasources)}")

    since = int(time.time() * 1000) - args.hours * 3_600_000
    means = {}
    for source in args.sources:
        try:
            rows = box.read(source, "latest")
            if rows:
                print(f"{name(source)} latest={rows[0]['data']['value']} timestamp={rows[0]['timestamp']}")
            else:
                print(f"{name(source)} latest=none")
        except Refused as r:
            # Not an error: the owner allows less than raw points here. Say why, then ask for
            # what the grant may allow.
            print(f"{name(source)} refused status={r.status} reason={r.reason}")
            rows = box.read(source, "hourly/latest")
            if rows:
                hour = rows[0]
                print(f"{name(source)} latest_hour_mean={hour['data']['mean']} hour={hour['timestamp']}")
        mean = box.read(source, f"hourly/since/{since}/mean")["result"]
        means[source] = mean
        print(f"{name(source)} hourly_mean_{args.hours}h={mean}")

    first = args.sources[0]
    if means[first] is None:
        print(f"{name(first)} has no data in the last {args.hours} hours: nothing to write")
        return 0
    point = {"value": means[first], "source": name(first), "hours": str(args.hours)}
    try:
        written = box.write(args.write, point)
    except Refused as r:
        print(f"{name(args.write)} refused status={r.status} reason={r.reason}")
        print(f"error: the box refused the result: {r.reason}", file=sys.stderr)
        return 1
    print(f"{name(args.write)} wrote value={means[first]} timestamp={written['timestamp']}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BoxError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
