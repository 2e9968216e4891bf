"""Scale-out with Ray: embedding jobs as Ray Data pipelines (``index``), shards served by Ray actors."""

from jointspace.distributed.job import JobResult, check_address, index

__all__ = ["JobResult", "check_address", "index"]
