"""The etcd operator: controller runtime, reconcilers and the process that runs them."""
