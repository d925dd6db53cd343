"""The nginx wrapper: the only code that runs nginx or touches live nginx config files.

process.py runs the binary (NginxError carries nginx's own words), tls.py writes the certificate files,
verify.py proves by request that nginx serves what was applied, backends.py is where nginx runs (managed, system,
container) and the one way files go live (stage, test, swap, reload, verify, restore on failure), publisher.py is
the nginx Publisher that renders the desired state and hands it to a backend.
"""
