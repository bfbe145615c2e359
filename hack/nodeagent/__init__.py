"""Local node agent: runs the Pods bound to its Nodes as real processes (see README)."""
