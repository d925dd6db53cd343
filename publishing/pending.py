"""What differs between the desired state (the database) and the last applied revision's snapshot."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from publishing.operations import last_applied
from routes.state import export_state


def _index(document: dict[str, Any]) -> tuple[dict[str, dict], dict[str, dict]]:
    domains, routes = {}, {}
    for domain in document.get("domains") or []:
        domains[domain["name"]] = {k: v for k, v in domain.items() if k != "routes"}
        for route in domain.get("routes") or []:
            routes[f"{domain['name']}{route['path']}"] = route
    return domains, routes


def unapplied_changes() -> list[str]:
    """One line per domain or route that was added, changed or removed since the last applied revision.

    Compares the database with the snapshot of the last apply through the configured publisher: documents,
    not rendered files, so it is cheap enough for every page view and never waits on nginx or NPM. The plan
    page shows the real file diff, including files edited by hand.
    """
    last = last_applied(settings.PORTICO_PUBLISHER)
    applied: dict[str, Any] = (last.snapshot or {}) if last else {}
    old_domains, old_routes = _index(applied)
    new_domains, new_routes = _index(export_state())
    words = {
        "domain": (_("Domain %(key)s added"), _("Domain %(key)s removed"), _("Domain %(key)s changed")),
        "route": (_("Route %(key)s added"), _("Route %(key)s removed"), _("Route %(key)s changed")),
    }
    changes = []
    for kind, old, new in (("domain", old_domains, new_domains), ("route", old_routes, new_routes)):
        added, removed, changed = words[kind]
        for key in sorted(old.keys() | new.keys()):
            if key not in old:
                changes.append(added % {"key": key})
            elif key not in new:
                changes.append(removed % {"key": key})
            elif old[key] != new[key]:
                changes.append(changed % {"key": key})
    return changes
