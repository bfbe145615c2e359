"""The etcd.database.coreos.com/v1beta2 API types and the CRDs generated from them."""
