# Caxton tasks. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

# Guests (Rust crates under guests/) and where their components go.
guest_release := "target/wasm32-wasip2/release"

default:
    @just --list

# Build every guest into components/NAME.wasm (release, size-optimised).
build-guests:
    #!/usr/bin/env bash
    set -euo pipefail
    mkdir -p components
    echo "building guests (wasm32-wasip2, release)…"
    (cd guests && cargo build --release --quiet)
    for manifest in guests/agents/*/Cargo.toml guests/libs/*/Cargo.toml guests/test-agents/*/Cargo.toml guests/peers/*/Cargo.toml; do
        name=$(basename "$(dirname "$manifest")" | tr '-' '_')
        cp "{{guest_release}}/$name.wasm" "components/$name.wasm"
        printf '  %-28s %8d bytes\n' "components/$name.wasm" "$(stat -c %s "components/$name.wasm")"
    done
    # Python and JavaScript agents, each against its own world; AssemblyScript agents
    for app in guests/python/*/app.py guests/js/*/app.js guests/assemblyscript/*/app.ts; do
        [ -f "$app" ] && {{just_executable()}} --justfile {{justfile()}} build-agent "$(dirname "$app")"
    done

# Build the Python (app.py), JavaScript (app.js) or AssemblyScript (app.ts) agent in DIR into
# components/NAME_py|_js|_as.wasm. An AssemblyScript agent is built by `caxton build` (asc from
# npm, pinned by guests/assemblyscript/package.json; the component made by the host binary). Others are built
# against the world in DIR/world.wit: only the capabilities it imports there are imported (an agent
# without one gets the whole `agent` world: every capability). The WIT is assembled under
# target/wit/: the agent's world, with this checkout's wit/ and its dependencies as deps/.
# componentize-py (from PyPI) and componentize-qjs (from npm, into guests/js of this justfile's
# checkout, pinned by its package.json) are installed when missing.
build-agent DIR:
    #!/usr/bin/env bash
    set -euo pipefail
    dir="{{DIR}}"; dir="${dir%/}"; base=$(basename "$dir"); name=$(echo "$base" | tr '-' '_')
    wit=wit; world=agent
    if [ -f "$dir/world.wit" ]; then
        wit="target/wit/$(basename "$(dirname "$dir")")-$base"
        rm -rf "$wit"; mkdir -p "$wit/deps/caxton-agent"
        cp wit/*.wit "$wit/deps/caxton-agent/"
        cp -r wit/deps/. "$wit/deps/"
        cp "$dir/world.wit" "$wit/"
    fi
    mkdir -p components
    if [ -f "$dir/app.py" ]; then
        out="components/${name}_py.wasm"
        PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"
        command -v componentize-py >/dev/null || { echo "installing componentize-py…"; python3 -m pip install --quiet componentize-py; hash -r; }
        echo "  building $dir with componentize-py (a CPython component, ~10 s)…"
        componentize-py -d "$wit" -w "$world" componentize --stub-wasi -p "$(dirname "$dir")" -p "$dir" app -o "$out" >/dev/null
    elif [ -f "$dir/app.ts" ]; then
        # the host binary makes the component; $CAXTON names one already built
        [ -n "${CAXTON:-}" ] || cargo build --quiet --bin caxton --manifest-path {{justfile_directory()}}/Cargo.toml
        "${CAXTON:-{{justfile_directory()}}/target/debug/caxton}" build "$dir" --output "components/${name}_as.wasm" | sed 's/^/  /'
        exit 0
    elif [ -f "$dir/app.js" ]; then
        out="components/${name}_js.wasm"
        if [ ! -x {{justfile_directory()}}/guests/js/node_modules/.bin/componentize-qjs ]; then
            echo "installing componentize-qjs from npm…"
            npm install --prefix {{justfile_directory()}}/guests/js --no-audit --no-fund --loglevel=error
        fi
        echo "  building $dir with componentize-qjs…"
        {{justfile_directory()}}/guests/js/node_modules/.bin/componentize-qjs --wit "$wit" --js "$dir/app.js" \
            --module-root "$(dirname "$dir")" -n "$world" --sync --stub-wasi --opt-size -o "$out" >/dev/null
    else
        echo "error: $dir has no app.py, app.js or app.ts" >&2; exit 1
    fi
    printf '  %-28s %8d bytes\n' "$out" "$(stat -c %s "$out")"

# Plug library components into the agents that import them: the recipe components/compositions.toml,
# made by `caxton compose` (wac's composition graph, built in).
compose: build-guests build
    ./target/debug/caxton compose components/compositions.toml

# Build the host binary.
build:
    cargo build --bin caxton

# Build everything and serve the demo deployment on 127.0.0.1:8080 with data in ./data.
up: build-guests build
    ./target/debug/caxton serve --deployment policies/demo.toml --listen 127.0.0.1:8080 --data ./data

# Build what the tests need and run every test (the cluster tests start a real
# nats-server; the dashboard's tests drive a headless Chromium).
test: build-guests compose nats-server browser
    PATH="$PATH:/usr/sbin" cargo test --workspace --lib --bins --tests

# Install nats-server (Debian's package) when it is missing.
nats-server:
    #!/usr/bin/env bash
    set -euo pipefail
    export PATH="$PATH:/usr/sbin"
    if command -v nats-server >/dev/null 2>&1; then exit 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
    else
        echo "nats-server is missing: install it (Debian: sudo apt-get install nats-server)" >&2
        exit 1
    fi

# Install Chromium and ChromeDriver (Debian's packages) when missing: the dashboard's browser tests use them.
browser:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then exit 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing chromium and chromium-driver (Debian)…"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        echo "chromium is missing: install it (Debian: sudo apt-get install chromium chromium-driver)" >&2
        exit 1
    fi

# Refresh the dashboard's vendored chart library (uPlot, MIT) from npm into host/ui/vendor/.
# The page's own files need no build; the binary embeds host/ui/ as it is.
build-ui version="1.6.32":
    #!/usr/bin/env bash
    set -euo pipefail
    work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
    (cd "$work" && npm pack --silent "uplot@{{version}}" >/dev/null && tar xzf uplot-*.tgz)
    cp "$work/package/dist/uPlot.iife.min.js" "$work/package/dist/uPlot.min.css" host/ui/vendor/
    cp "$work/package/LICENSE" host/ui/vendor/uPlot.LICENSE
    echo "host/ui/vendor/: uPlot {{version}}"

# Run the benchmarks (release build) and regenerate BENCHMARKS.md; installs wrk
# (Debian) and wasmtime-cli (crates.io, a ~15 min build) for the HTTP peers when missing.
bench: build-guests nats-server
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v wrk >/dev/null; then
        echo "installing wrk (Debian)…"
        if [ "$(id -u)" = 0 ]; then apt-get install -y -q wrk >/dev/null; else sudo apt-get install -y -q wrk >/dev/null; fi
    fi
    if ! command -v wasmtime >/dev/null && [ ! -x "${CARGO_HOME:-$HOME/.cargo}/bin/wasmtime" ]; then
        echo "installing wasmtime-cli 48.0.8 from crates.io (a release build of ~20 min)…"
        cargo install wasmtime-cli --version 48.0.8 --locked
    fi
    cargo build --release --bin caxton
    cargo bench --bench storage
    cargo bench --bench runtime
    cargo bench --bench http

# Soak: 10,000 messages a second (HTTP and agent to agent, with kv writes)
# through the release binary for MINUTES; RSS, p99 per minute, messages lost. Not in CI.
soak MINUTES="10": build-guests
    cargo build --release --bin caxton
    cargo bench --bench soak -- {{MINUTES}}

# Run every fuzz target (tests/fuzz) for SECONDS each; `just test` runs them for 5 s.
fuzz SECONDS="60": build-guests
    CAXTON_FUZZ_SECONDS={{SECONDS}} cargo test -p caxton-tests --test fuzz -- --nocapture --test-threads 1

# Formatting and lints, both workspaces (warnings are errors).
lint:
    cargo fmt --all -- --check
    (cd guests && cargo fmt --all -- --check)
    cargo clippy --workspace --all-targets -- -D warnings
    (cd guests && cargo clippy --release --all-targets -- -D warnings)

# What CI runs.
ci: lint test

# Run one FIPA Contract-Net round (1 initiator, 5 bidders) and print the winner's answer.
contract-net task="translate the manual" budget="80": build-guests build
    #!/usr/bin/env bash
    set -euo pipefail
    data=$(mktemp -d)
    ./target/debug/caxton serve --deployment policies/contract-net.toml --listen 127.0.0.1:8181 --data "$data" &
    server=$!
    trap 'kill $server 2>/dev/null; rm -rf "$data"' EXIT
    for _ in $(seq 1 200); do
        ./target/debug/caxton directory --server http://127.0.0.1:8181 >/dev/null 2>&1 && break
        sleep 0.1
    done
    ./target/debug/caxton directory --server http://127.0.0.1:8181
    echo
    ./target/debug/caxton send initiator '{"action":"run","task":"{{task}}","budget":{{budget}}}' \
        --wait 10000 --server http://127.0.0.1:8181

# Start nats-server and two hosts on loopback with the Contract-Net society split
# across them (initiator and two bidders on host a, three bidders on host b), run a
# round through host a, and print the winner's answer.
cluster task="translate the manual" budget="80": build-guests build nats-server
    #!/usr/bin/env bash
    set -euo pipefail
    export PATH="$PATH:/usr/sbin"
    work=$(mktemp -d)
    pids=()
    trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
    nats-server -a 127.0.0.1 -p 4333 -js -sd "$work/nats" >"$work/nats.log" 2>&1 &
    pids+=($!)
    head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$work/cluster.key"
    host() {
        ./target/debug/caxton serve --cluster nats://127.0.0.1:4333 --cluster-key-file "$work/cluster.key" \
            --host-id "$1" --listen "127.0.0.1:$2" --data "$work/$1" \
            --deployment policies/contract-net.toml --agents "$3" 2>"$work/$1.log" &
        pids+=($!)
    }
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/4333) 2>/dev/null && break; sleep 0.1; done
    host a 8281 initiator,bidder-1,bidder-2
    host b 8282 bidder-3,bidder-4,bidder-5
    for _ in $(seq 1 300); do
        ./target/debug/caxton cluster --server http://127.0.0.1:8281 2>/dev/null | grep -q bidder-5 && break
        sleep 0.1
    done
    ./target/debug/caxton cluster --server http://127.0.0.1:8281
    echo
    ./target/debug/caxton send initiator '{"action":"run","task":"{{task}}","budget":{{budget}}}' \
        --wait 10000 --server http://127.0.0.1:8281
