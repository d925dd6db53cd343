"""The Publisher for nginx: renders Portico's files and hands them to the nginx wrapper's backend."""

from __future__ import annotations

from django.conf import settings

from certificates.acme_client import AcmeError, challenge_root
from certificates.models import Certificate
from publishing.base import PublishError
from publishing.nginx import backends
from publishing.nginx.backends import Backend
from publishing.nginx.process import NginxError, listen_directive, resolvers, tls_listen_directive
from publishing.render import RenderOptions, TlsCert, render_config, render_warnings, tls_cert
from routes.schemas import ConfigDocument


class NginxPublisher:
    """Publishes to nginx (managed, system or container mode) through the nginx wrapper (publishing.nginx)."""

    name = "nginx"

    def __init__(self, backend: Backend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            try:
                self._backend = backends.backend()
            except NginxError as exc:
                raise PublishError(exc.message, exc.output) from None
        return self._backend

    def options(self) -> RenderOptions:
        try:
            acme_root = challenge_root(settings.PORTICO_ACME_CHALLENGE_DIR)
        except AcmeError as exc:
            raise PublishError(str(exc)) from None
        return RenderOptions(
            listen=listen_directive(),
            resolvers=resolvers(),
            listen_tls=tls_listen_directive(),
            tls_dir=self.backend.tls_dir,
            acme_root=acme_root,
        )

    def certificates(self, document: ConfigDocument) -> dict[int, TlsCert]:
        """The files of the certificates ``document``'s domains name (those with a chain; a pending one has none)."""
        wanted = {d.certificate for d in document.domains if d.certificate is not None}
        if not wanted:
            return {}
        rows = Certificate.objects.filter(pk__in=wanted).exclude(chain_pem="").values_list("pk", "chain_pem")
        return {pk: tls_cert(pk, chain) for pk, chain in rows}

    def render(self, document: ConfigDocument) -> dict[str, str]:
        """File name -> nginx config text (pure once the certificates' file names are known)."""
        return render_config(document, self.options(), self.certificates(document))

    def warnings(self, document: ConfigDocument) -> list[str]:
        return render_warnings(document, self.options(), self.certificates(document))

    def current(self) -> dict[str, str]:
        """The live files. Raises PublishError."""
        try:
            return self.backend.read_live()
        except NginxError as exc:
            raise PublishError(exc.message, exc.output) from None

    def push(self, desired: dict[str, str], previous: dict[str, str]) -> str:
        """Stage, test, swap, reload, verify; on failure the previous files are live again. Raises PublishError."""
        try:
            return self.backend.push(desired, previous)
        except NginxError as exc:
            raise PublishError(exc.message, exc.output, rolled_back=exc.rolled_back) from None

    def recover(self) -> str:
        """Undo an apply that a killed process left half done. Raises PublishError."""
        try:
            return self.backend.recover()
        except NginxError as exc:
            raise PublishError(exc.message, exc.output) from None
