"""Generates C++ Protobuf and gRPC code with Debian's protoc and grpc_cpp_plugin.

Bazel 4 offline cannot fetch rules_proto or gRPC's Bazel rules, so this macro
calls the system tools from a genrule. Proto imports resolve against the
workspace root and /usr/include (well-known types).
"""

def cc_grpc_proto_library(name, src, deps = [], grpc = True, visibility = None, testonly = False):
    """Declares `name` (cc_library) and `name + "_descriptor_set"` (.pb file).

    Args:
      name: target name of the generated cc_library.
      src: one .proto file in this package.
      deps: other cc_grpc_proto_library targets whose protos `src` imports.
      grpc: also generate the gRPC service stubs (.grpc.pb.*).
      visibility: visibility of the generated targets.
      testonly: whether the targets are testonly.
    """
    base = src[:-len(".proto")]
    pkg = native.package_name()
    prefix = pkg + "/" if pkg else ""
    outs = [base + ".pb.h", base + ".pb.cc"]
    if grpc:
        outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
    proto_deps = [d + "_proto_srcs" for d in deps]

    native.filegroup(
        name = name + "_proto_srcs",
        srcs = [src] + proto_deps,
        visibility = visibility,
        testonly = testonly,
    )

    grpc_flags = ""
    if grpc:
        grpc_flags = "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "
    native.genrule(
        name = name + "_gen",
        srcs = [src] + proto_deps,
        outs = outs,
        cmd = "/usr/bin/protoc -I. --cpp_out=$(GENDIR) " + grpc_flags + prefix + src,
        testonly = testonly,
    )

    native.genrule(
        name = name + "_descriptor_set",
        srcs = [src] + proto_deps,
        outs = [base + ".descriptor_set.pb"],
        cmd = "/usr/bin/protoc -I. --include_imports --include_source_info " +
              "--descriptor_set_out=$@ " + prefix + src,
        visibility = visibility,
        testonly = testonly,
    )

    lib_deps = ["//third_party:protobuf"] + deps
    if grpc:
        lib_deps.append("//third_party:grpc")
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        deps = lib_deps,
        visibility = visibility,
        testonly = testonly,
    )
