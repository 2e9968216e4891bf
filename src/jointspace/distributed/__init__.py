"""Scale-out with Ray: embedding jobs as Ray Data pipelines (``index``), shards served by Ray actors."""

from jointspace.distributed.job import JobResult, check_address, index
from jointspace.distributed.serve import RaySharded, serve_shards

__all__ = ["JobResult", "RaySharded", "check_address", "index", "serve_shards"]
