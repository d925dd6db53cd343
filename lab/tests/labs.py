"""The lab the tests build: host networking, a unique prefix and free 127.0.0.1 ports (network rule)."""

import uuid

from lab.spec import LabSpec
from tests.support import free_port


def host_network_spec(image: str) -> LabSpec:
    """A lab spec no other test shares: its own prefix, domain and ports."""
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    return LabSpec(
        prefix=prefix,
        image=image,
        host_network=True,
        domain=f"{prefix}gctask.test",
        front_port=free_port(),
        task_port=free_port(),
        user_port=free_port(),
    )
