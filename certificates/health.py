"""How a certificate stands (days left, a colour level, what needs a person's attention), for the pages; pure reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from certificates.models import Certificate

# Days left below which a certificate is shown as a warning, and as an error (as NPM and Caddy users expect).
WARN_DAYS = 14
ERROR_DAYS = 3


def days_left(cert: Certificate, now: dt.datetime | None = None) -> int | None:
    """Whole days until the certificate's not-after (negative once expired); None before it is issued."""
    if cert.not_after is None:
        return None
    return (cert.not_after - (now or timezone.now())) // dt.timedelta(days=1)


def level(cert: Certificate, now: dt.datetime | None = None) -> str:
    """``ok``, ``warning`` or ``error`` for the page's colour; ``pending`` while an order waits."""
    left = days_left(cert, now)
    if cert.status in (Certificate.Status.FAILED, Certificate.Status.EXPIRED) or (
        left is not None and left < ERROR_DAYS
    ):
        return "error"
    if left is None:
        return "pending"
    if cert.message or left < WARN_DAYS:
        return "warning"
    return "ok"


@dataclass(frozen=True)
class Attention:
    """A certificate a person should look at, and why."""

    certificate: Certificate
    level: str
    text: str


def attention(now: dt.datetime | None = None) -> list[Attention]:
    """Certificates that failed, expired, expire soon or whose last renewal or publication failed; worst first."""
    now = now or timezone.now()
    found = []
    for cert in Certificate.objects.all():
        grade = level(cert, now)
        if grade not in ("warning", "error"):
            continue
        left = days_left(cert, now)
        if cert.message:
            text = cert.message
        elif left is not None and left < 0 or cert.status == Certificate.Status.EXPIRED:
            text = _("Expired; domains that use it fail the TLS handshake in browsers.")
        else:
            left = left or 0
            text = ngettext("Expires in %(days)d day.", "Expires in %(days)d days.", left) % {"days": left}
        found.append(Attention(cert, grade, text))
    found.sort(key=lambda a: (a.level != "error", a.certificate.not_after or now))
    return found
