"""The one table of API defaults: the pydantic models use these, and the CRD schema gets them.

Which layer applies a default: both, from this table. A field's pydantic default becomes the
OpenAPI `default:` in the generated CRD (api/crdgen keeps non-zero defaults only, since a zero
value means the same as an absent field), so the API server writes it into new objects and
`kubectl get -o yaml` shows what the operator will use; the pydantic model applies the same value
to objects stored before the CRD carried it. Serialising with `exclude_unset` leaves defaults the
user did not write out, so a parsed manifest round-trips unchanged.
"""

from __future__ import annotations

# CoreOS's default repository, kept for compatibility. Images are resolved by tag
# (`<repository>:v<version>`), so any mirror with the upstream etcd tags works.
DEFAULT_REPOSITORY = "quay.io/coreos/etcd"

# CoreOS defaulted to 3.2.13; ours is a current release (the local environment ships 3.6.16
# and 3.7.3). An existing cluster keeps the version the API server stored when it was created,
# so raising this never upgrades a running cluster behind the user's back.
DEFAULT_ETCD_VERSION = "3.6.16"

# CoreOS's default init-container image (busybox:latest's uclibc breaks name resolution).
DEFAULT_BUSYBOX_IMAGE = "busybox:1.28.0-glibc"

# CoreOS: 0 means the init container waits for its own DNS record indefinitely.
DEFAULT_DNS_TIMEOUT_IN_SECOND = 0

# CoreOS: no cluster domain by default, so member URLs are `<pod>.<cluster>.<ns>.svc`, which is
# exactly what the user story expects (`https://<pod>.example.default.svc:2380`). A value such as
# ".cluster.local" is appended to the `svc` names when set.
DEFAULT_CLUSTER_DOMAIN = ""

# Sizes CoreOS documents as valid ("The valid range of the size is from 1 to 7").
MIN_CLUSTER_SIZE = 1
MAX_CLUSTER_SIZE = 7

# Member pods are named `<cluster>-<suffix>` and their DNS labels must stay within 63 characters.
MAX_CLUSTER_NAME_LENGTH = 52
