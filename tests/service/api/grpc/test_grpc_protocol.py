"""The protocol definition: the committed Python code is what `make protocol` generates from
the .proto files, and every name and field number in them is the one Triton's clients use
(tritonclient ships Triton's own definitions: ganserve's must be a subset of them).

Read from descriptor sets that protoc writes, not by importing the generated modules: they
and tritonclient.grpc's name the same `inference.*` messages in protobuf's one pool.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from grpc_tools import protoc
from tritonclient.grpc import model_config_pb2, service_pb2

from scripts.generate_protocol import PROTOCOL, PROTOS, ROOT, generate


def test_the_committed_code_is_what_the_protos_generate(tmp_path: Path) -> None:
    generated = generate(tmp_path)
    committed = sorted(p for p in (ROOT / PROTOCOL).iterdir() if p.suffix in (".py", ".pyi"))
    committed = [p for p in committed if p.name != "__init__.py"]
    assert [p.name for p in generated] == [p.name for p in committed]
    for new, old in zip(generated, committed, strict=True):
        assert new.read_bytes() == old.read_bytes(), f"{old} drifted: run `make protocol`"


def _ours(tmp_path: Path) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    out = tmp_path / "ours.pb"
    args = ["protoc", f"-I{ROOT}", f"--descriptor_set_out={out}"]
    assert protoc.main([*args, *(str(PROTOCOL / p) for p in PROTOS)]) == 0
    files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
    return {Path(f.name).name: f for f in files}


def _theirs(module: object) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def _field(field: descriptor_pb2.FieldDescriptorProto) -> tuple:
    return (field.name, field.number, field.label, field.type, field.type_name)


def _same_subset(ours: descriptor_pb2.DescriptorProto, theirs: descriptor_pb2.DescriptorProto):
    where = ours.name
    fields = {f.number: f for f in theirs.field}
    for field in ours.field:
        assert field.number in fields, f"{where}.{field.name}: no field {field.number} in Triton's"
        assert _field(field) == _field(fields[field.number]), f"{where}.{field.name}"
    for enum in ours.enum_type:
        (their_enum,) = [e for e in theirs.enum_type if e.name == enum.name]
        assert {(v.name, v.number) for v in enum.value} <= {
            (v.name, v.number) for v in their_enum.value
        }
    nested = {m.name: m for m in theirs.nested_type}
    for message in ours.nested_type:
        assert message.name in nested, f"{where}.{message.name}"
        _same_subset(message, nested[message.name])


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("grpc_service.proto", service_pb2), ("model_config.proto", model_config_pb2)],
)
def test_every_name_and_number_is_tritons(tmp_path: Path, ours: str, theirs: object) -> None:
    mine, triton = _ours(tmp_path)[ours], _theirs(theirs)
    assert mine.package == triton.package == "inference"
    messages = {m.name: m for m in triton.message_type}
    for message in mine.message_type:
        assert message.name in messages, message.name
        _same_subset(message, messages[message.name])
    enums = {e.name: e for e in triton.enum_type}
    for enum in mine.enum_type:
        assert [(v.name, v.number) for v in enum.value] == [
            (v.name, v.number) for v in enums[enum.name].value
        ]
    services = {s.name: s for s in triton.service}
    for service in mine.service:
        methods = {m.name: m for m in services[service.name].method}
        for method in service.method:
            theirs_ = methods[method.name]
            assert (method.input_type, method.output_type) == (
                theirs_.input_type,
                theirs_.output_type,
            )


def test_the_service_serves_every_call_the_issue_names(tmp_path: Path) -> None:
    (service,) = _ours(tmp_path)["grpc_service.proto"].service
    assert service.name == "GRPCInferenceService"
    assert {m.name for m in service.method} == {
        "ServerLive",
        "ServerReady",
        "ModelReady",
        "ServerMetadata",
        "ModelMetadata",
        "ModelInfer",
        "RepositoryIndex",
        "ModelConfig",
        "ModelStatistics",
    }
