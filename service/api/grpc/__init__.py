"""The Open Inference Protocol over gRPC (`inference.GRPCInferenceService`): its definition and
generated code in protocol/."""
