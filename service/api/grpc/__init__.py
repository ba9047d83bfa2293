"""The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`), beside /v2 over
REST: the same V2 models (service/api/v2/models.py), batchers, limits, metrics and API key,
served by grpc.aio on the event loop uvicorn runs, in every worker process.

Imported only when `grpc_port` is set (service/app.py): the generated messages register the
protocol's `inference.*` names in protobuf's one descriptor pool, where tritonclient.grpc's
own copies of them clash (a test process holds both), and a server without gRPC need not
load grpcio at all.
"""
