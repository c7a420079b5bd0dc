from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Direction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DIRECTION_UNSPECIFIED: _ClassVar[Direction]
    DIRECTION_INBOUND: _ClassVar[Direction]
    DIRECTION_OUTBOUND: _ClassVar[Direction]
DIRECTION_UNSPECIFIED: Direction
DIRECTION_INBOUND: Direction
DIRECTION_OUTBOUND: Direction

class HistoryEntry(_message.Message):
    __slots__ = ("message_id", "direction", "text", "created_at_ms")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    direction: Direction
    text: str
    created_at_ms: int
    def __init__(self, message_id: _Optional[str] = ..., direction: _Optional[_Union[Direction, str]] = ..., text: _Optional[str] = ..., created_at_ms: _Optional[int] = ...) -> None: ...

class ProcessingResult(_message.Message):
    __slots__ = ("normalized_text", "message_type", "language", "attributes", "language_confidence", "entities", "sentiment", "safety", "media", "location")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NORMALIZED_TEXT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_TYPE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    SENTIMENT_FIELD_NUMBER: _ClassVar[int]
    SAFETY_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    normalized_text: str
    message_type: str
    language: str
    attributes: _containers.ScalarMap[str, str]
    language_confidence: float
    entities: _containers.RepeatedCompositeFieldContainer[Entity]
    sentiment: Sentiment
    safety: Safety
    media: MediaSummary
    location: LocationSummary
    def __init__(self, normalized_text: _Optional[str] = ..., message_type: _Optional[str] = ..., language: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., language_confidence: _Optional[float] = ..., entities: _Optional[_Iterable[_Union[Entity, _Mapping]]] = ..., sentiment: _Optional[_Union[Sentiment, _Mapping]] = ..., safety: _Optional[_Union[Safety, _Mapping]] = ..., media: _Optional[_Union[MediaSummary, _Mapping]] = ..., location: _Optional[_Union[LocationSummary, _Mapping]] = ...) -> None: ...

class Entity(_message.Message):
    __slots__ = ("type", "text", "value", "start", "end")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    type: str
    text: str
    value: str
    start: int
    end: int
    def __init__(self, type: _Optional[str] = ..., text: _Optional[str] = ..., value: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class Sentiment(_message.Message):
    __slots__ = ("label", "score")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    label: str
    score: float
    def __init__(self, label: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class Safety(_message.Message):
    __slots__ = ("action", "categories")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    action: str
    categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, action: _Optional[str] = ..., categories: _Optional[_Iterable[str]] = ...) -> None: ...

class MediaSummary(_message.Message):
    __slots__ = ("type", "mime_type", "width", "height", "duration_seconds", "pages")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    type: str
    mime_type: str
    width: int
    height: int
    duration_seconds: float
    pages: int
    def __init__(self, type: _Optional[str] = ..., mime_type: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., pages: _Optional[int] = ...) -> None: ...

class LocationSummary(_message.Message):
    __slots__ = ("place", "region", "country", "latitude", "longitude")
    PLACE_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    place: str
    region: str
    country: str
    latitude: float
    longitude: float
    def __init__(self, place: _Optional[str] = ..., region: _Optional[str] = ..., country: _Optional[str] = ..., latitude: _Optional[float] = ..., longitude: _Optional[float] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("request_id", "tenant_id", "conversation_id", "channel", "user_id", "message_id", "text", "history", "session_context", "processing", "engine", "burst")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    SESSION_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_FIELD_NUMBER: _ClassVar[int]
    ENGINE_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    tenant_id: str
    conversation_id: str
    channel: str
    user_id: str
    message_id: str
    text: str
    history: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    session_context: _struct_pb2.Struct
    processing: ProcessingResult
    engine: EngineSettings
    burst: _containers.RepeatedCompositeFieldContainer[BurstMessage]
    def __init__(self, request_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., channel: _Optional[str] = ..., user_id: _Optional[str] = ..., message_id: _Optional[str] = ..., text: _Optional[str] = ..., history: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ..., session_context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., processing: _Optional[_Union[ProcessingResult, _Mapping]] = ..., engine: _Optional[_Union[EngineSettings, _Mapping]] = ..., burst: _Optional[_Iterable[_Union[BurstMessage, _Mapping]]] = ...) -> None: ...

class BurstMessage(_message.Message):
    __slots__ = ("message_id", "text", "created_at_ms", "processing")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    PROCESSING_FIELD_NUMBER: _ClassVar[int]
    message_id: str
    text: str
    created_at_ms: int
    processing: ProcessingResult
    def __init__(self, message_id: _Optional[str] = ..., text: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., processing: _Optional[_Union[ProcessingResult, _Mapping]] = ...) -> None: ...

class EngineSettings(_message.Message):
    __slots__ = ("backend", "model", "temperature", "system_prompt")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    temperature: float
    system_prompt: str
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., temperature: _Optional[float] = ..., system_prompt: _Optional[str] = ...) -> None: ...

class Button(_message.Message):
    __slots__ = ("title", "payload", "url", "phone")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    title: str
    payload: str
    url: str
    phone: str
    def __init__(self, title: _Optional[str] = ..., payload: _Optional[str] = ..., url: _Optional[str] = ..., phone: _Optional[str] = ...) -> None: ...

class QuickReplies(_message.Message):
    __slots__ = ("text", "options")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    text: str
    options: _containers.RepeatedCompositeFieldContainer[Button]
    def __init__(self, text: _Optional[str] = ..., options: _Optional[_Iterable[_Union[Button, _Mapping]]] = ...) -> None: ...

class Media(_message.Message):
    __slots__ = ("url", "mime_type", "caption")
    URL_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    url: str
    mime_type: str
    caption: str
    def __init__(self, url: _Optional[str] = ..., mime_type: _Optional[str] = ..., caption: _Optional[str] = ...) -> None: ...

class Card(_message.Message):
    __slots__ = ("title", "subtitle", "image_url", "buttons")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SUBTITLE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    BUTTONS_FIELD_NUMBER: _ClassVar[int]
    title: str
    subtitle: str
    image_url: str
    buttons: _containers.RepeatedCompositeFieldContainer[Button]
    def __init__(self, title: _Optional[str] = ..., subtitle: _Optional[str] = ..., image_url: _Optional[str] = ..., buttons: _Optional[_Iterable[_Union[Button, _Mapping]]] = ...) -> None: ...

class Buttons(_message.Message):
    __slots__ = ("text", "buttons")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    BUTTONS_FIELD_NUMBER: _ClassVar[int]
    text: str
    buttons: _containers.RepeatedCompositeFieldContainer[Button]
    def __init__(self, text: _Optional[str] = ..., buttons: _Optional[_Iterable[_Union[Button, _Mapping]]] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("latitude", "longitude", "name", "address")
    LATITUDE_FIELD_NUMBER: _ClassVar[int]
    LONGITUDE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    latitude: float
    longitude: float
    name: str
    address: str
    def __init__(self, latitude: _Optional[float] = ..., longitude: _Optional[float] = ..., name: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class ListItem(_message.Message):
    __slots__ = ("title", "subtitle", "image_url", "buttons", "payload")
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SUBTITLE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    BUTTONS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    title: str
    subtitle: str
    image_url: str
    buttons: _containers.RepeatedCompositeFieldContainer[Button]
    payload: str
    def __init__(self, title: _Optional[str] = ..., subtitle: _Optional[str] = ..., image_url: _Optional[str] = ..., buttons: _Optional[_Iterable[_Union[Button, _Mapping]]] = ..., payload: _Optional[str] = ...) -> None: ...

class ItemList(_message.Message):
    __slots__ = ("text", "items", "button")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    BUTTON_FIELD_NUMBER: _ClassVar[int]
    text: str
    items: _containers.RepeatedCompositeFieldContainer[ListItem]
    button: str
    def __init__(self, text: _Optional[str] = ..., items: _Optional[_Iterable[_Union[ListItem, _Mapping]]] = ..., button: _Optional[str] = ...) -> None: ...

class File(_message.Message):
    __slots__ = ("url", "filename", "mime_type", "caption")
    URL_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    url: str
    filename: str
    mime_type: str
    caption: str
    def __init__(self, url: _Optional[str] = ..., filename: _Optional[str] = ..., mime_type: _Optional[str] = ..., caption: _Optional[str] = ...) -> None: ...

class Template(_message.Message):
    __slots__ = ("name", "language", "components")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    COMPONENTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    language: str
    components: _containers.RepeatedCompositeFieldContainer[TemplateComponent]
    def __init__(self, name: _Optional[str] = ..., language: _Optional[str] = ..., components: _Optional[_Iterable[_Union[TemplateComponent, _Mapping]]] = ...) -> None: ...

class TemplateComponent(_message.Message):
    __slots__ = ("type", "sub_type", "index", "parameters")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SUB_TYPE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    type: str
    sub_type: str
    index: str
    parameters: _containers.RepeatedCompositeFieldContainer[TemplateParameter]
    def __init__(self, type: _Optional[str] = ..., sub_type: _Optional[str] = ..., index: _Optional[str] = ..., parameters: _Optional[_Iterable[_Union[TemplateParameter, _Mapping]]] = ...) -> None: ...

class TemplateParameter(_message.Message):
    __slots__ = ("type", "text", "payload", "image", "video", "document")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    type: str
    text: str
    payload: str
    image: TemplateMedia
    video: TemplateMedia
    document: TemplateMedia
    def __init__(self, type: _Optional[str] = ..., text: _Optional[str] = ..., payload: _Optional[str] = ..., image: _Optional[_Union[TemplateMedia, _Mapping]] = ..., video: _Optional[_Union[TemplateMedia, _Mapping]] = ..., document: _Optional[_Union[TemplateMedia, _Mapping]] = ...) -> None: ...

class TemplateMedia(_message.Message):
    __slots__ = ("link", "filename")
    LINK_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    link: str
    filename: str
    def __init__(self, link: _Optional[str] = ..., filename: _Optional[str] = ...) -> None: ...

class ReplyPart(_message.Message):
    __slots__ = ("text", "quick_replies", "media", "card", "template", "location", "buttons", "list", "file")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    QUICK_REPLIES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CARD_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    BUTTONS_FIELD_NUMBER: _ClassVar[int]
    LIST_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    text: str
    quick_replies: QuickReplies
    media: Media
    card: Card
    template: Template
    location: Location
    buttons: Buttons
    list: ItemList
    file: File
    def __init__(self, text: _Optional[str] = ..., quick_replies: _Optional[_Union[QuickReplies, _Mapping]] = ..., media: _Optional[_Union[Media, _Mapping]] = ..., card: _Optional[_Union[Card, _Mapping]] = ..., template: _Optional[_Union[Template, _Mapping]] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., buttons: _Optional[_Union[Buttons, _Mapping]] = ..., list: _Optional[_Union[ItemList, _Mapping]] = ..., file: _Optional[_Union[File, _Mapping]] = ...) -> None: ...

class ContextUpdate(_message.Message):
    __slots__ = ("set", "unset")
    SET_FIELD_NUMBER: _ClassVar[int]
    UNSET_FIELD_NUMBER: _ClassVar[int]
    set: _struct_pb2.Struct
    unset: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, set: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., unset: _Optional[_Iterable[str]] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("parts", "context_update", "intent", "confidence", "backend")
    PARTS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_UPDATE_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    parts: _containers.RepeatedCompositeFieldContainer[ReplyPart]
    context_update: ContextUpdate
    intent: str
    confidence: float
    backend: str
    def __init__(self, parts: _Optional[_Iterable[_Union[ReplyPart, _Mapping]]] = ..., context_update: _Optional[_Union[ContextUpdate, _Mapping]] = ..., intent: _Optional[str] = ..., confidence: _Optional[float] = ..., backend: _Optional[str] = ...) -> None: ...

class ResponseChunk(_message.Message):
    __slots__ = ("text_delta", "part", "context_update", "final", "response")
    TEXT_DELTA_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_UPDATE_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    text_delta: str
    part: ReplyPart
    context_update: ContextUpdate
    final: bool
    response: GenerateResponse
    def __init__(self, text_delta: _Optional[str] = ..., part: _Optional[_Union[ReplyPart, _Mapping]] = ..., context_update: _Optional[_Union[ContextUpdate, _Mapping]] = ..., final: _Optional[bool] = ..., response: _Optional[_Union[GenerateResponse, _Mapping]] = ...) -> None: ...

class UpdateContextRequest(_message.Message):
    __slots__ = ("tenant_id", "conversation_id", "update")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATE_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    conversation_id: str
    update: ContextUpdate
    def __init__(self, tenant_id: _Optional[str] = ..., conversation_id: _Optional[str] = ..., update: _Optional[_Union[ContextUpdate, _Mapping]] = ...) -> None: ...

class UpdateContextResponse(_message.Message):
    __slots__ = ("context",)
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    context: _struct_pb2.Struct
    def __init__(self, context: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...
