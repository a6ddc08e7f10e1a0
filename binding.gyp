{
  "targets": [
    {
      "target_name": "rdmq_native",
      "sources": [
        "addon/src/crc32c.cc",
        "addon/src/file-lock.cc",
        "addon/src/module.cc",
        "addon/src/peer-copy.cc",
        "addon/src/region.cc",
        "addon/src/round-trips.cc",
        "addon/src/transport.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["<!@(pkg-config --libs ucx libpmem2)"]
    }
  ]
}
