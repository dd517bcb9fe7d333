#!/usr/bin/env bash
# Builds vt-agent.exe for x86_64-pc-windows-gnu and runs the Windows test suite under Wine.
#
#   scripts/windows.sh build   cross-build target-windows/x86_64-pc-windows-gnu/release/vt-agent.exe
#   scripts/windows.sh test    build, then run crates/agent/tests/wine.rs against the .exe
#   scripts/windows.sh clippy  clippy for the Windows target
#
# Toolchain: Debian's rustc-web (Rust 1.96) with its standard-library source, built with
# -Zbuild-std because rustup cannot fetch another target's std here; mingw-w64 links, Wine 8
# runs. Missing Debian packages are installed (apt-get update first). The first build takes
# a few minutes on 2 cores (the standard library dominates); a fresh Wine prefix ~10 s.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET=x86_64-pc-windows-gnu
export CARGO_TARGET_DIR="${VT_WINDOWS_TARGET_DIR:-$ROOT/target-windows}"
EXE="$CARGO_TARGET_DIR/$TARGET/release/vt-agent.exe"

need_packages() {
    local missing=()
    command -v /usr/bin/cargo >/dev/null && [ -d /usr/lib/rustlib/src/rust/library ] || missing+=(rustc-web cargo-web rust-web-src)
    command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
    command -v wine >/dev/null || missing+=(wine wine64)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "windows.sh: installing ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # rustc-web is published through bookworm-security.
        apt-get install -y -qq -t bookworm-security rustc-web cargo-web rust-web-src >/dev/null 2>&1 \
            || apt-get install -y -qq rustc-web cargo-web rust-web-src
        apt-get install -y -qq gcc-mingw-w64-x86-64 wine wine64
    fi
}

# Debian's cargo/rustc must come first: the rustup proxies have no rust-src for -Zbuild-std.
win_cargo() {
    PATH=/usr/bin:$PATH RUSTC_BOOTSTRAP=1 cargo "$@" -Zbuild-std=std,panic_abort --target "$TARGET"
}

build() {
    need_packages
    cd "$ROOT"
    win_cargo build --release -p vt-agent
    # Test-only ProcessPrng shim for Wine 8 (see scripts/windows/prng_shim.c); it sits next
    # to the test exe and is never part of a release artifact.
    local shim="$(dirname "$EXE")/bcryptprimitives.dll"
    if [ ! -f "$shim" ] || [ "$ROOT/scripts/windows/prng_shim.c" -nt "$shim" ]; then
        x86_64-w64-mingw32-gcc -shared -O2 -o "$shim" "$ROOT/scripts/windows/prng_shim.c" -ladvapi32
    fi
    echo "windows.sh: built $EXE"
}

clippy() {
    need_packages
    # Debian's clippy matching rustc-web (the rustup one cannot use -Zbuild-std here).
    [ -x /usr/bin/cargo-clippy ] || apt-get install -y -qq -t bookworm-security rust-web-clippy \
        || apt-get install -y -qq rust-web-clippy
    cd "$ROOT"
    win_cargo clippy -p vt-agent -- -D warnings
}

run_tests() {
    build
    prefix="$(mktemp -d /tmp/vt-wineprefix.XXXXXX)"
    trap 'wineserver -k >/dev/null 2>&1 || true; rm -rf "$prefix"' EXIT
    export WINEPREFIX="$prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    # One persistent wineserver for the whole suite, started before the prefix exists: a
    # wineserver that exits when idle is restarted by the next call, which re-runs Wine's
    # boot and starts automatic services in the middle of the tests.
    wineserver -p
    echo "windows.sh: creating Wine prefix $WINEPREFIX (first run ~10 s)"
    timeout 120 wineboot -i >/dev/null 2>&1 || true
    cd "$ROOT"
    # The test harnesses are normal Linux test binaries (rustup toolchain), built in the
    # usual target directory so they share the workspace build instead of redoing it.
    # `--workspace` keeps the feature set of `cargo test --workspace`, so nothing rebuilds.
    # wine: the probes and the service; wine_fleet: the fleet loop with the Windows agent
    # enrolling into a Linux vt-server, auditing and reporting.
    env -u CARGO_TARGET_DIR VT_WINE_AGENT="$EXE" cargo test --workspace --test wine --test wine_fleet -- --test-threads=1
}

case "${1:-}" in
    build) build ;;
    test) run_tests ;;
    clippy) clippy ;;
    *) echo "usage: $0 build|test|clippy" >&2; exit 2 ;;
esac
