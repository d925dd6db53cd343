"""A DNS-01 hook for the tests: ``python challtestsrv_hook.py MGMT_URL set|remove NAME VALUE`` sets or clears the
TXT record in pebble-challtestsrv through its management API (what an admin's own hook does with their DNS host)."""

from __future__ import annotations

import json
import sys
import urllib.request


def main(argv: list[str]) -> int:
    """Exit 0 when challtestsrv took the change; anything else prints why and exits 1."""
    url, action, name, value = argv
    path, body = ("/set-txt", {"host": name, "value": value}) if action == "set" else ("/clear-txt", {"host": name})
    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            print(f"challtestsrv answered {response.status}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
