"""etcd-domain helpers shared by the reconcilers (which never import each other)."""
