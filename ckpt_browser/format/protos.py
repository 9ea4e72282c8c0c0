"""TensorFlow's protocol buffer messages, defined here rather than imported from TensorFlow.

Why by hand: importing TensorFlow takes seconds, and generated `_pb2` modules tie the project to
one protobuf release (gencode refuses an older or a newer major runtime). Building the descriptors
at import time works on every protobuf runtime from 4 to 7 and costs a millisecond.

Only the fields the browser uses are declared; the protobuf runtime keeps the others as unknown
fields. Field numbers follow TensorFlow's `.proto` files (see docs/checkpoint-format.md, section 6
and 7). Enum fields are declared as int32, which is the same on the wire. Messages live in the
private package `ckpt_browser.tf` of a private pool, so they never clash with TensorFlow's own.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "ckpt_browser.tf"

# Short type names for the schema below. A capitalised name is a message of this file.
_SCALARS = {
    "int32": _F.TYPE_INT32,
    "int64": _F.TYPE_INT64,
    "uint32": _F.TYPE_UINT32,
    "uint64": _F.TYPE_UINT64,
    "fixed32": _F.TYPE_FIXED32,
    "float": _F.TYPE_FLOAT,
    "double": _F.TYPE_DOUBLE,
    "bool": _F.TYPE_BOOL,
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
}

# message -> [(field name, number, type, "repeated" | "oneof:<name>" | "map:<value type>" | "")]
# A map field's type is its key type.
_SCHEMA: dict[str, list[tuple[str, int, str, str]]] = {
    # tensor_shape.proto, tensor_slice.proto, versions.proto
    "TensorShapeProto": [("dim", 2, "Dim", "repeated"), ("unknown_rank", 3, "bool", "")],
    "Dim": [("size", 1, "int64", ""), ("name", 2, "string", "")],
    "TensorSliceProto": [("extent", 1, "Extent", "repeated")],
    "Extent": [("start", 1, "int64", ""), ("length", 2, "int64", "oneof:has_length")],
    "VersionDef": [
        ("producer", 1, "int32", ""),
        ("min_consumer", 2, "int32", ""),
        ("bad_consumers", 3, "int32", "repeated"),
    ],
    # tensor_bundle.proto
    "BundleHeaderProto": [
        ("num_shards", 1, "int32", ""),
        ("endianness", 2, "int32", ""),
        ("version", 3, "VersionDef", ""),
    ],
    "BundleEntryProto": [
        ("dtype", 1, "int32", ""),
        ("shape", 2, "TensorShapeProto", ""),
        ("shard_id", 3, "int32", ""),
        ("offset", 4, "int64", ""),
        ("size", 5, "int64", ""),
        ("crc32c", 6, "fixed32", ""),
        ("slices", 7, "TensorSliceProto", "repeated"),
    ],
    # saved_tensor_slice.proto (V1 checkpoints): one tensor of the metadata entry (the messages
    # around it are walked by hand, see v1/metadata.py). A name is declared as bytes
    # so that a name that is not UTF-8 (TensorFlow writes them) is read, not refused.
    "SavedSliceMeta": [
        ("name", 1, "bytes", ""),
        ("shape", 2, "TensorShapeProto", ""),
        ("type", 3, "int32", ""),
        ("slice", 4, "TensorSliceProto", "repeated"),
    ],
    # checkpoint_state.proto (a text-format file named `checkpoint`)
    "CheckpointState": [
        ("model_checkpoint_path", 1, "string", ""),
        ("all_model_checkpoint_paths", 2, "string", "repeated"),
        ("all_model_checkpoint_timestamps", 3, "double", "repeated"),
        ("last_preserved_timestamp", 4, "double", ""),
    ],
    # trackable_object_graph.proto (TF2 object-based checkpoints)
    "TrackableObjectGraph": [("nodes", 1, "TrackableObject", "repeated")],
    "TrackableObject": [
        ("children", 1, "ObjectReference", "repeated"),
        ("attributes", 2, "SerializedTensor", "repeated"),
        ("slot_variables", 3, "SlotVariableReference", "repeated"),
        ("registered_saver", 4, "RegisteredSaver", ""),
        ("has_checkpoint_values", 5, "BoolValue", ""),
    ],
    "ObjectReference": [("node_id", 1, "int32", ""), ("local_name", 2, "string", "")],
    "SerializedTensor": [
        ("name", 1, "string", ""),
        ("full_name", 2, "string", ""),
        ("checkpoint_key", 3, "string", ""),
        ("optional_restore", 4, "bool", ""),
    ],
    "SlotVariableReference": [
        ("original_variable_node_id", 1, "int32", ""),
        ("slot_name", 2, "string", ""),
        ("slot_variable_node_id", 3, "int32", ""),
    ],
    # tensor.proto
    "TensorProto": [
        ("dtype", 1, "int32", ""),
        ("tensor_shape", 2, "TensorShapeProto", ""),
        ("version_number", 3, "int32", ""),
        ("tensor_content", 4, "bytes", ""),
        ("float_val", 5, "float", "repeated"),
        ("double_val", 6, "double", "repeated"),
        ("int_val", 7, "int32", "repeated"),
        ("string_val", 8, "bytes", "repeated"),
        ("scomplex_val", 9, "float", "repeated"),
        ("int64_val", 10, "int64", "repeated"),
        ("bool_val", 11, "bool", "repeated"),
        ("dcomplex_val", 12, "double", "repeated"),
        ("half_val", 13, "int32", "repeated"),
        ("uint32_val", 16, "uint32", "repeated"),
        ("uint64_val", 17, "uint64", "repeated"),
        ("float8_val", 18, "bytes", ""),
    ],
    # attr_value.proto, node_def.proto, graph.proto
    "AttrValue": [
        ("list", 1, "ListValue", "oneof:value"),
        ("s", 2, "bytes", "oneof:value"),
        ("i", 3, "int64", "oneof:value"),
        ("f", 4, "float", "oneof:value"),
        ("b", 5, "bool", "oneof:value"),
        ("type", 6, "int32", "oneof:value"),
        ("shape", 7, "TensorShapeProto", "oneof:value"),
        ("tensor", 8, "TensorProto", "oneof:value"),
        ("placeholder", 9, "string", "oneof:value"),
        ("func", 10, "NameAttrList", "oneof:value"),
    ],
    "ListValue": [
        ("s", 2, "bytes", "repeated"),
        ("i", 3, "int64", "repeated"),
        ("f", 4, "float", "repeated"),
        ("b", 5, "bool", "repeated"),
        ("type", 6, "int32", "repeated"),
        ("shape", 7, "TensorShapeProto", "repeated"),
        ("tensor", 8, "TensorProto", "repeated"),
        ("func", 9, "NameAttrList", "repeated"),
    ],
    "NameAttrList": [("name", 1, "string", ""), ("attr", 2, "string", "map:AttrValue")],
    "NodeDef": [
        ("name", 1, "string", ""),
        ("op", 2, "string", ""),
        ("input", 3, "string", "repeated"),
        ("device", 4, "string", ""),
        ("attr", 5, "string", "map:AttrValue"),
    ],
    "FunctionDefLibrary": [("function", 1, "FunctionDef", "repeated")],
    "FunctionDef": [
        ("signature", 1, "OpDef", ""),
        ("node_def", 3, "NodeDef", "repeated"),
        ("ret", 4, "string", "map:string"),
        ("control_ret", 6, "string", "map:string"),
    ],
    "OpDef": [
        ("name", 1, "string", ""),
        ("input_arg", 2, "ArgDef", "repeated"),
        ("output_arg", 3, "ArgDef", "repeated"),
    ],
    "GraphDef": [
        ("node", 1, "NodeDef", "repeated"),
        ("library", 2, "FunctionDefLibrary", ""),
        ("version", 3, "int32", ""),
        ("versions", 4, "VersionDef", ""),
    ],
    # meta_graph.proto, saver.proto, variable.proto, saved_model.proto
    "MetaGraphDef": [
        ("meta_info_def", 1, "MetaInfoDef", ""),
        ("graph_def", 2, "GraphDef", ""),
        ("saver_def", 3, "SaverDef", ""),
        ("collection_def", 4, "string", "map:CollectionDef"),
        ("signature_def", 5, "string", "map:SignatureDef"),
        ("object_graph_def", 7, "SavedObjectGraph", ""),
    ],
    "MetaInfoDef": [
        ("meta_graph_version", 1, "string", ""),
        ("tags", 4, "string", "repeated"),
        ("tensorflow_version", 5, "string", ""),
        ("tensorflow_git_version", 6, "string", ""),
    ],
    "CollectionDef": [
        ("node_list", 1, "NodeList", "oneof:kind"),
        ("bytes_list", 2, "BytesList", "oneof:kind"),
        ("int64_list", 3, "Int64List", "oneof:kind"),
        ("float_list", 4, "FloatList", "oneof:kind"),
        ("any_list", 5, "AnyList", "oneof:kind"),
    ],
    "NodeList": [("value", 1, "string", "repeated")],
    "BytesList": [("value", 1, "bytes", "repeated")],
    "Int64List": [("value", 1, "int64", "repeated")],
    "FloatList": [("value", 1, "float", "repeated")],
    "AnyList": [("value", 1, "bytes", "repeated")],
    "SignatureDef": [
        ("inputs", 1, "string", "map:TensorInfo"),
        ("outputs", 2, "string", "map:TensorInfo"),
        ("method_name", 3, "string", ""),
    ],
    "TensorInfo": [
        ("name", 1, "string", ""),
        ("dtype", 2, "int32", ""),
        ("tensor_shape", 3, "TensorShapeProto", ""),
    ],
    "SaverDef": [
        ("filename_tensor_name", 1, "string", ""),
        ("save_tensor_name", 2, "string", ""),
        ("restore_op_name", 3, "string", ""),
        ("max_to_keep", 4, "int32", ""),
        ("sharded", 5, "bool", ""),
        ("keep_checkpoint_every_n_hours", 6, "float", ""),
        ("version", 7, "int32", ""),
    ],
    "VariableDef": [
        ("variable_name", 1, "string", ""),
        ("initializer_name", 2, "string", ""),
        ("snapshot_name", 3, "string", ""),
        ("save_slice_info_def", 4, "SaveSliceInfoDef", ""),
        ("is_resource", 5, "bool", ""),
        ("initial_value_name", 6, "string", ""),
        ("trainable", 7, "bool", ""),
    ],
    "SaveSliceInfoDef": [
        ("full_name", 1, "string", ""),
        ("full_shape", 2, "int64", "repeated"),
        ("var_offset", 3, "int64", "repeated"),
        ("var_shape", 4, "int64", "repeated"),
    ],
    "SavedModel": [
        ("saved_model_schema_version", 1, "int64", ""),
        ("meta_graphs", 2, "MetaGraphDef", "repeated"),
    ],
    # The same SavedModel read for its tag sets only: the graphs are skipped, not built.
    "SavedModelTags": [("meta_graphs", 2, "MetaGraphTags", "repeated")],
    "MetaGraphTags": [("meta_info_def", 1, "MetaInfoDef", "")],
    # trackable_object_graph.proto, google/protobuf/wrappers.proto (same wire format)
    "RegisteredSaver": [("name", 1, "string", ""), ("object_name", 2, "string", "")],
    "BoolValue": [("value", 1, "bool", "")],
    # op_def.proto: a function's arguments (type is a DataType, or named by a type attribute)
    "ArgDef": [
        ("name", 1, "string", ""),
        ("type", 3, "int32", ""),
        ("type_attr", 4, "string", ""),
        ("number_attr", 5, "string", ""),
        ("type_list_attr", 6, "string", ""),
        ("is_ref", 16, "bool", ""),
    ],
    # saved_object_graph.proto (TF2 SavedModel); unused kinds are kept as raw bytes
    "SavedObjectGraph": [("nodes", 1, "SavedObject", "repeated")],
    "SavedObject": [
        ("children", 1, "ObjectReference", "repeated"),
        ("slot_variables", 3, "SlotVariableReference", "repeated"),
        ("user_object", 4, "SavedUserObject", "oneof:kind"),
        ("asset", 5, "bytes", "oneof:kind"),
        ("function", 6, "bytes", "oneof:kind"),
        ("variable", 7, "SavedVariable", "oneof:kind"),
        ("bare_concrete_function", 8, "bytes", "oneof:kind"),
        ("constant", 9, "bytes", "oneof:kind"),
        ("resource", 10, "bytes", "oneof:kind"),
        ("captured_tensor", 12, "bytes", "oneof:kind"),
    ],
    "SavedUserObject": [("identifier", 1, "string", "")],
    "SavedVariable": [
        ("dtype", 1, "int32", ""),
        ("shape", 2, "TensorShapeProto", ""),
        ("trainable", 3, "bool", ""),
        ("name", 6, "string", ""),
        ("device", 7, "string", ""),
    ],
}


def _add_field(
    message: descriptor_pb2.DescriptorProto, name: str, number: int, type_name: str, label: str
) -> None:
    field = message.field.add(name=name, number=number)
    if label.startswith("map:"):
        # A map is a repeated nested "<Name>Entry" message {key = 1; value = 2} with map_entry set.
        entry_name = "".join(part.capitalize() for part in name.split("_")) + "Entry"
        entry = message.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        _add_field(entry, "key", 1, type_name, "")
        _add_field(entry, "value", 2, label[4:], "")
        field.label = _F.LABEL_REPEATED
        field.type = _F.TYPE_MESSAGE
        field.type_name = f".{_PACKAGE}.{message.name}.{entry_name}"
        return
    field.label = _F.LABEL_REPEATED if label == "repeated" else _F.LABEL_OPTIONAL
    if type_name in _SCALARS:
        field.type = _SCALARS[type_name]
    else:
        field.type = _F.TYPE_MESSAGE
        field.type_name = f".{_PACKAGE}.{type_name}"
    if label.startswith("oneof:"):
        oneof = label[6:]
        names = [o.name for o in message.oneof_decl]
        if oneof not in names:
            message.oneof_decl.add(name=oneof)
            names.append(oneof)
        field.oneof_index = names.index(oneof)


def _build() -> dict[str, type]:
    file = descriptor_pb2.FileDescriptorProto(
        name="ckpt_browser/tf.proto", package=_PACKAGE, syntax="proto3"
    )
    for message_name, fields in _SCHEMA.items():
        message = file.message_type.add(name=message_name)
        for field in fields:
            _add_field(message, *field)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _SCHEMA
    }


_CLASSES = _build()

TensorShapeProto = _CLASSES["TensorShapeProto"]
TensorSliceProto = _CLASSES["TensorSliceProto"]
VersionDef = _CLASSES["VersionDef"]
BundleHeaderProto = _CLASSES["BundleHeaderProto"]
BundleEntryProto = _CLASSES["BundleEntryProto"]
CheckpointState = _CLASSES["CheckpointState"]
SavedSliceMeta = _CLASSES["SavedSliceMeta"]
TrackableObjectGraph = _CLASSES["TrackableObjectGraph"]
TensorProto = _CLASSES["TensorProto"]
AttrValue = _CLASSES["AttrValue"]
NodeDef = _CLASSES["NodeDef"]
GraphDef = _CLASSES["GraphDef"]
MetaGraphDef = _CLASSES["MetaGraphDef"]
CollectionDef = _CLASSES["CollectionDef"]
SaverDef = _CLASSES["SaverDef"]
VariableDef = _CLASSES["VariableDef"]
SavedModel = _CLASSES["SavedModel"]
SavedModelTags = _CLASSES["SavedModelTags"]
SavedObjectGraph = _CLASSES["SavedObjectGraph"]
