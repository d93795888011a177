#!/usr/bin/env bash
# Regenerates Generated/*.pb.swift from proto/ (run rarely; the output is committed).
# Needs protoc (Debian: protobuf-compiler) and protoc-gen-swift built from apple/swift-protobuf
# at the version Package.swift uses:  swift build -c release --product protoc-gen-swift
set -euo pipefail
cd "$(dirname "$0")"
PLUGIN=${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to the protoc-gen-swift binary}
find proto -name '*.proto' | sort | xargs protoc --plugin=protoc-gen-swift="$PLUGIN" -I proto \
  --swift_opt=Visibility=Internal --swift_opt=FileNaming=PathToUnderscores --swift_out=Generated
