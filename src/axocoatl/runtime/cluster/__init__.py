"""Several nodes sharing work over NATS JetStream: the connection, the work queue (docs/scale-out.md)."""

from axocoatl.runtime.cluster.connection import NatsConnection, default_node_id, node_id_of
from axocoatl.runtime.cluster.workqueue import QueueStatus, WorkItem, WorkQueue

__all__ = ["NatsConnection", "QueueStatus", "WorkItem", "WorkQueue", "default_node_id", "node_id_of"]
