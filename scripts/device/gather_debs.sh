#!/usr/bin/env bash
# Gathers, on a Debian 12 machine, the Debian packages r1's build needs besides LibTorch and a C++
# toolchain, into .debs/ (git-ignored), for a GPU machine that has CUDA, PyTorch (its LibTorch), CMake
# and ninja but no C++ gRPC, protobuf, GiNaC, ... and no network. scripts/device/build_gpu.sh unpacks
# them into a private prefix there (never into /) and builds against it. docs/gpu.md.
# Needs dpkg-deb and xz (Debian has both); about a minute.
#
#   bash scripts/device/gather_debs.sh [DIR]     (default DIR: .debs in the checkout)
#
# The packages are the -dev packages of scripts/setup.sh that r1's libraries link, with their runtime
# libraries, minus what every Linux with a C++ compiler has (libc, libstdc++, zlib, OpenSSL, ...);
# they travel unpacked and trimmed, as one archive: .debs/prefix.tar.xz.
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:-${REPO_ROOT}/.debs}"

WANT=(
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc  # the rollout service
  nlohmann-json3-dev libcli11-dev libutf8proc-dev libsimdjson-dev         # configs, command line, tokenizer
  libicu-dev libginac-dev                                                 # rewards
  libseccomp-dev libpython3-dev                                           # the sandbox
  libgloo-dev                                                             # Gloo's headers, if LibTorch ships none
  libssl-dev zlib1g-dev                                                   # what gRPC's CMake package names
)
# On any machine that builds C++ already, or not needed to build and run r1's binaries.
SKIP_RE='^(libc6|libc6-dev|libc-dev-bin|libgcc-s1|libstdc\+\+6|libstdc\+\+-12-dev|libgcc-12-dev|gcc-12-base|zlib1g|libzstd1|libssl3|libcrypt1|libcrypt-dev|libtinfo6|libncursesw6|libreadline8|libsqlite3-0|libffi8|libbz2-1.0|liblzma5|libexpat1|libexpat1-dev|libuuid1|libdb5.3|libgdbm6|libgdbm-compat4|libnsl2|libnsl-dev|libtirpc3|libtirpc-dev|libtirpc-common|libgssapi-krb5-2|libkrb5-3|libk5crypto3|libkrb5support0|libcom-err2|libkeyutils1|libmpdec3|readline-common|debconf|cdebconf|dpkg|perl|perl-base|perl-modules-5.36|libperl5.36|tar|libselinux1|libpcre2-8-0|linux-libc-dev|media-types|tzdata|mime-support|mailcap|netbase|python3.11-minimal|python3-minimal|libpython3.11-minimal|python3.11|python3|adduser|passwd|libpam.*|libaudit.*|libacl1|libcap-ng0|libdebian-installer4|libmd0|libnewt0.52|libslang2|libtextwrap1|libsemanage.*|libsepol2|rpcsvc-proto|libgloo0|libibverbs.*|ibverbs-providers|libnl-.*|libhiredis.*|icu-devtools)$'
mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
                         --no-replaces --no-enhances "${WANT[@]}" 2>/dev/null |
                       grep -v '^ ' | grep -v '^<' | sort -u | grep -Ev "$SKIP_RE")
# The packages, unpacked and trimmed (documentation, static libraries) into one archive: what travels.
rm -rf "$OUT" && mkdir -p "$OUT/debs" "$OUT/prefix"
(cd "$OUT/debs" && apt-get download "${closure[@]}" 2>/dev/null >/dev/null)
for deb in "$OUT"/debs/*.deb; do dpkg-deb -x "$deb" "$OUT/prefix"; done
rm -rf "$OUT"/prefix/usr/share/{doc,man,info,locale,lintian,bug} "$OUT"/prefix/etc
find "$OUT/prefix" -name '*.a' -delete
printf '%s\n' "${closure[@]}" > "$OUT/prefix/PACKAGES"
tar -C "$OUT/prefix" -cJf "$OUT/prefix.tar.xz" .
rm -rf "$OUT/debs" "$OUT/prefix"
echo "[gather_debs] ${#closure[@]} packages, $(du -h "$OUT/prefix.tar.xz" | cut -f1) in $OUT/prefix.tar.xz"
