#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/ from the project's own data.

Seeds are small, meaningful inputs in each fuzzer's input format (see the
comment at the top of each *_fuzzer.cc):
  sse_framer_fuzzer       every case of ../shared/conformance/sse_framing_cases.json
  request_builder_fuzzer  queries and Last-Event-ID values from the tests
  json_renderer_fuzzer    real serialized responses (protoc --encode)
  config_fuzzer           docs/configuration.md's YAML blocks, examples/*.yaml,
                          bench/*.yaml and the configs of gateway/config/config_test.cc

Run from the repository root: python3 fuzz/make_seeds.py. Existing seed files
of the same name are overwritten; regression seeds (crash-*) are kept.
"""

import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def write(fuzzer, name, data):
    directory = os.path.join(CORPUS, fuzzer)
    os.makedirs(directory, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(directory, name), "wb") as out:
        out.write(data)


def framer_seeds():
    path = os.path.join(ROOT, "..", "shared", "conformance",
                        "sse_framing_cases.json")
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    for index, case in enumerate(cases):
        message = case["message"]
        flags = 0
        parts = []
        for bit, key in ((1, "id"), (2, "event"), (4, "data"), (8, "retry_ms")):
            if key in message:
                flags |= bit
                parts.append(str(message[key]).encode("utf-8"))
            else:
                parts.append(b"")
        parts.append(b"")  # no comment
        # Split the parsed stream in the middle (top bits = 3 of 7).
        flags |= 3 << 5
        write("sse_framer_fuzzer", "%02d_%s" % (index, case["name"]),
              bytes([flags]) + b"\xff".join(parts))
    # A heartbeat comment before the message, and a refused comment.
    write("sse_framer_fuzzer", "comment_then_event",
          bytes([1 | 2 | 4 | 16]) + b"7\xffupdate\xff{\"a\":1}\xff\xffheartbeat")
    write("sse_framer_fuzzer", "comment_with_lf",
          bytes([4 | 16]) + b"\xff\xffx\xff\xffa\nb")


REQUEST_SEEDS = {
    "count": "count=1",
    "count_and_prefix": "count=2&key_prefix=k-",
    "bad_escape": "count=%zz",
    "empty_key": "=1",
    "plus_space_and_escapes":
        "count=0&fail_code=14&fail_message=down%0D%0Adata:%20forged+x",
    "repeated_singular": "count=1&count=2",
    "int_limits":
        "echo.a_int32=-2147483648&echo.a_int64=9223372036854775807"
        "&echo.a_uint32=4294967295&echo.a_uint64=18446744073709551615"
        "&echo.a_sint32=2147483647&echo.a_sint64=-9223372036854775808"
        "&echo.a_fixed32=4294967295&echo.a_fixed64=18446744073709551615"
        "&echo.a_sfixed32=-2147483648&echo.a_sfixed64=9223372036854775807"
        "&count=%2B7",
    "floats": "echo.a_double=0.1&echo.a_float=-2.5e-3",
    "float_specials": "echo.a_double=-Infinity&echo.aFloat=NaN",
    "bool_json_name": "holdOpen=1&hold_open=true",
    "string_utf8": "echo.a_string=h%C3%A9llo+%F0%9F%98%80+%26+%3D",
    "bytes_base64": "echo.a_bytes=aGVsbG8&echo.a_bytes=aGVsbG8%3D",
    "enums": "echo.color=COLOR_GREEN&echo.colors=2&echo.colors=COLOR_RED",
    "repeated": "echo.many_int64=1&echo.manyInt64=-9223372036854775808"
                "&echo.names=a&echo.names=",
    "nested": "echo.filter.child.region=eu&echo.filter.tags=a"
              "&echo.filter.tags=b",
    "wrapper_timestamp": "echo.wrapped_int64=-9223372036854775808"
                         "&echo.when=2024-01-02T05:04:05%2B02:00",
    "oneof_optional": "echo.choice_number=0&echo.maybe_int32=0",
    "oneof_twice": "echo.choice_number=1&echo.choice_text=x",
    "unknown": "nope=1&echo.filter.nope=1",
    "map_refused": "echo.labels=a&initial_metadata_entries=k%3Dv",
    "resume_after_seq": "count=2\n41",
    "resume_max": "count=1\n18446744073709551615",
    "resume_overflow": "\n18446744073709551616",
    "resume_negative": "\n-1",
    "resume_string": "\nk-7\nkey_prefix",
    "resume_nested": "\n2024-01-02T03:04:05.5Z\necho.when",
    "resume_float": "\n1e-45\necho.a_float",
    "resume_enum": "\nCOLOR_RED\necho.color",
    "well_known": "duration=1.5s&mask=aInt32,filter.childRegion"
                  "&a_double=NaN&an_int64=-1&a_bytes=-_8&when=1970-01-01T00:00:00Z"
                  "\n3\nan_int32\nfuzz.v1.WellKnown",
    "well_known_resume": "\n-315576000000.999999999s\nduration\nfuzz.v1.WellKnown",
}


def request_seeds():
    for name, text in REQUEST_SEEDS.items():
        write("request_builder_fuzzer", name, text)


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, payload):
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def encode(type_name, text):
    files = ["testing/v1/testing.proto", "google/protobuf/struct.proto",
             "google/protobuf/any.proto", "google/protobuf/duration.proto",
             "google/protobuf/field_mask.proto",
             "google/protobuf/wrappers.proto"]
    return subprocess.run(
        ["protoc", "-I" + os.path.join(ROOT, "proto"), "-I/usr/include",
         "--encode=" + type_name] + files,
        input=text.encode("utf-8"), stdout=subprocess.PIPE, check=True).stdout


# Type selector byte: bits 0-1 type, bits 2-4 options (json_renderer_fuzzer.cc).
STREAM_RESPONSE, ALL_TYPES, WELL_KNOWN, STRUCT = 0, 1, 2, 3


def json_seeds():
    response = encode("testing.v1.StreamResponse", """
        seq: 3 key: "k-3" last_event_id_metadata: "2"
        has_last_event_id_metadata: true color: COLOR_RED
        big: -9223372036854775808
        request { count: 3 key_prefix: "k-" initial_metadata { key: "a" value: "b" } }
    """)
    all_types = encode("testing.v1.AllTypes", r"""
        a_double: -0.0 a_float: 1e-45 a_int32: -1 a_int64: 9007199254740993
        a_uint32: 4294967295 a_uint64: 18446744073709551615 a_sint32: -2
        a_sint64: -3 a_fixed32: 4 a_fixed64: 5 a_sfixed32: -6 a_sfixed64: -7
        a_bool: true a_string: "h\303\251\n\"\\</script>\342\200\250"
        a_bytes: "\000\377" color: COLOR_GREEN
        filter { region: "eu" tags: "a" child { child { region: "x" } } }
        many_int64: [1, -1] colors: [COLOR_RED, COLOR_UNSPECIFIED]
        names: ["", "b"] labels { key: "k" value: "v" } labels { key: "" value: "" }
        when { seconds: 253402300799 nanos: 999999999 }
        wrapped_int64 { value: -1 } maybe_int32: 0 choice_text: ""
    """)
    nan_double = bytes([1 << 3 | 1]) + b"\x00\x00\x00\x00\x00\x00\xf8\x7f"
    unknown = varint(999 << 3 | 0) + varint(5)
    struct = encode("google.protobuf.Struct", """
        fields { key: "n" value { number_value: 1.5 } }
        fields { key: "s" value { string_value: "x" } }
        fields { key: "z" value { null_value: NULL_VALUE } }
        fields { key: "l" value { list_value { values { bool_value: true }
                                             values { struct_value {} } } } }
    """)
    value = encode("google.protobuf.Value", "list_value { values { number_value: 2 } }")
    any_all = encode("google.protobuf.Any", """
        [type.googleapis.com/testing.v1.AllTypes] { a_int32: 5 when { seconds: 1 } }
    """)
    any_struct = encode("google.protobuf.Any", """
        [type.googleapis.com/google.protobuf.Struct] { fields { key: "a" value { number_value: 1 } } }
    """)
    any_duration = encode("google.protobuf.Any", """
        [type.googleapis.com/google.protobuf.Duration] { seconds: -1 nanos: -500000000 }
    """)
    duration = encode("google.protobuf.Duration", "seconds: 315576000000 nanos: 999999999")
    mask = encode("google.protobuf.FieldMask", 'paths: "a_int32" paths: "filter.child_region"')
    well_known = b"".join([
        field(1, any_all), field(2, struct), field(3, value),
        field(5, duration), field(6, mask),
        field(8, nan_double),
        field(10, varint(1 << 3) + varint(2 ** 64 - 1)),
        field(15, field(1, b"s")), field(16, field(1, b"\x01\x02")),
        field(17, field(1, b"k") + field(2, value)),
        field(18, varint(1 << 3) + varint(7) + field(2, all_types)),
        field(19, any_struct), field(19, any_duration),
        field(20, b""),
        field(24, varint(1 << 3) + varint(1) + field(2, b"yes")),
        field(25, response),
        field(26, field(26, field(7, b""))),
    ])
    seeds = {
        "stream_response": (STREAM_RESPONSE, response),
        "stream_response_unknown_field": (STREAM_RESPONSE, response + unknown),
        "stream_response_emit_defaults": (STREAM_RESPONSE | 4, b""),
        "all_types": (ALL_TYPES, all_types),
        "all_types_proto_names_enum_ints": (ALL_TYPES | 8 | 16, all_types),
        "all_types_nan": (ALL_TYPES, nan_double),
        "well_known": (WELL_KNOWN, well_known),
        "well_known_all_options": (WELL_KNOWN | 4 | 8 | 16, well_known),
        "struct": (STRUCT, struct),
    }
    for name, (selector, payload) in seeds.items():
        write("json_renderer_fuzzer", name, bytes([selector]) + payload)


def config_seeds():
    sources = []
    with open(os.path.join(ROOT, "docs", "configuration.md"),
              encoding="utf-8") as f:
        for index, block in enumerate(
                re.findall(r"```yaml\n(.*?)```", f.read(), re.S)):
            sources.append(("docs_configuration_%02d.yaml" % index, block))
    for directory in ("examples", "bench"):
        for name in sorted(os.listdir(os.path.join(ROOT, directory))):
            if name.endswith(".yaml"):
                with open(os.path.join(ROOT, directory, name),
                          encoding="utf-8") as f:
                    sources.append(("%s_%s" % (directory, name), f.read()))
    with open(os.path.join(ROOT, "gateway", "config", "config_test.cc"),
              encoding="utf-8") as f:
        for index, block in enumerate(
                re.findall(r'R"\((.*?)\)"', f.read(), re.S)):
            sources.append(("config_test_%02d.yaml" % index, block))
    sources.append(("anchors_and_aliases.yaml",
                    "listen: &l 127.0.0.1:0\nbackend: *l\n"
                    "routes: [{path: /a, method: a.B/C, event: &e x}, "
                    "{path: /b, method: a.B/C, event: *e}]\n"))
    sources.append(("json_flow.yaml",
                    '{"listen": "[::1]:0", "backends": [{"name": "a", '
                    '"address": "unix:/tmp/s", "channels": 2}], '
                    '"routes_from_annotations": true}\n'))
    for name, text in sources:
        write("config_fuzzer", name, text)


def main():
    framer_seeds()
    request_seeds()
    json_seeds()
    config_seeds()
    for fuzzer in sorted(os.listdir(CORPUS)):
        count = len(os.listdir(os.path.join(CORPUS, fuzzer)))
        print("%s: %d seeds" % (fuzzer, count))


if __name__ == "__main__":
    sys.exit(main())
