from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DataType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_TYPE_TEXT: _ClassVar[DataType]
    DATA_TYPE_AUDIO: _ClassVar[DataType]
    DATA_TYPE_IMAGE: _ClassVar[DataType]
    DATA_TYPE_VIDEO: _ClassVar[DataType]
    DATA_TYPE_PER: _ClassVar[DataType]

class DataStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_STATUS_BEGIN: _ClassVar[DataStatus]
    DATA_STATUS_CONTINUE: _ClassVar[DataStatus]
    DATA_STATUS_END: _ClassVar[DataStatus]
    DATA_STATUS_ONCE: _ClassVar[DataStatus]
DATA_TYPE_TEXT: DataType
DATA_TYPE_AUDIO: DataType
DATA_TYPE_IMAGE: DataType
DATA_TYPE_VIDEO: DataType
DATA_TYPE_PER: DataType
DATA_STATUS_BEGIN: DataStatus
DATA_STATUS_CONTINUE: DataStatus
DATA_STATUS_END: DataStatus
DATA_STATUS_ONCE: DataStatus

class Data(_message.Message):
    __slots__ = ("key", "type", "status", "desc", "data")
    class DescEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DESC_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    key: str
    type: DataType
    status: DataStatus
    desc: _containers.ScalarMap[str, str]
    data: bytes
    def __init__(self, key: _Optional[str] = ..., type: _Optional[_Union[DataType, str]] = ..., status: _Optional[_Union[DataStatus, str]] = ..., desc: _Optional[_Mapping[str, str]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Accept(_message.Message):
    __slots__ = ("key", "type", "attrs")
    class AttrsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    KEY_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ATTRS_FIELD_NUMBER: _ClassVar[int]
    key: str
    type: DataType
    attrs: _containers.ScalarMap[str, str]
    def __init__(self, key: _Optional[str] = ..., type: _Optional[_Union[DataType, str]] = ..., attrs: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CallRequest(_message.Message):
    __slots__ = ("sid", "params", "inputs", "accepts", "usr_tag", "pers_id")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTS_FIELD_NUMBER: _ClassVar[int]
    USR_TAG_FIELD_NUMBER: _ClassVar[int]
    PERS_ID_FIELD_NUMBER: _ClassVar[int]
    sid: str
    params: _containers.ScalarMap[str, str]
    inputs: _containers.RepeatedCompositeFieldContainer[Data]
    accepts: _containers.RepeatedCompositeFieldContainer[Accept]
    usr_tag: str
    pers_id: int
    def __init__(self, sid: _Optional[str] = ..., params: _Optional[_Mapping[str, str]] = ..., inputs: _Optional[_Iterable[_Union[Data, _Mapping]]] = ..., accepts: _Optional[_Iterable[_Union[Accept, _Mapping]]] = ..., usr_tag: _Optional[str] = ..., pers_id: _Optional[int] = ...) -> None: ...

class CallResponse(_message.Message):
    __slots__ = ("sid", "outputs")
    SID_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    sid: str
    outputs: _containers.RepeatedCompositeFieldContainer[Data]
    def __init__(self, sid: _Optional[str] = ..., outputs: _Optional[_Iterable[_Union[Data, _Mapping]]] = ...) -> None: ...

class DescribeRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Ability(_message.Message):
    __slots__ = ("service_id", "version", "route", "schema_json", "licence", "operations", "wrapper_version", "fingerprint", "wrapper")
    SERVICE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    LICENCE_FIELD_NUMBER: _ClassVar[int]
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    WRAPPER_VERSION_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    WRAPPER_FIELD_NUMBER: _ClassVar[int]
    service_id: str
    version: str
    route: str
    schema_json: str
    licence: int
    operations: _containers.RepeatedScalarFieldContainer[str]
    wrapper_version: str
    fingerprint: str
    wrapper: str
    def __init__(self, service_id: _Optional[str] = ..., version: _Optional[str] = ..., route: _Optional[str] = ..., schema_json: _Optional[str] = ..., licence: _Optional[int] = ..., operations: _Optional[_Iterable[str]] = ..., wrapper_version: _Optional[str] = ..., fingerprint: _Optional[str] = ..., wrapper: _Optional[str] = ...) -> None: ...
