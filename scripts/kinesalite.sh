#!/usr/bin/env bash
# Runs kinesalite (the Node.js Kinesis Data Streams emulator, from the npm registry) on
# 127.0.0.1 as the peer `wharf-bench kinesis` is compared with (docs/benchmarks.md).
#
#   scripts/kinesalite.sh [--port N] [--path DIR] [--shard-limit N] [--install-only]
#
# kinesalite is installed on first use into ${KINESALITE_DIR:-$HOME/.cache/wharf-kinesalite}
# (outside the repository) with `npm install --prefix`; KINESALITE_VERSION (default 3.3.3) picks
# the version. The server runs in the foreground until SIGINT/SIGTERM, with
# createStreamMs/deleteStreamMs/updateStreamMs 0 (streams are ACTIVE at once) and a shard limit
# of --shard-limit (default 1000; kinesalite's own default of 10 refuses larger streams).
# Without --path the store is in memory (memdown); with --path DIR it is LevelDB in DIR,
# through the `leveldown` native module, which loads the prebuilt linux-x64 binary shipped in
# its npm package (npm 11 skips its install script; nothing is compiled).
#
# kinesalite's own cli.js listens on every interface; this script starts the server through
# kinesalite's module API instead, bound to 127.0.0.1 only.
set -euo pipefail

port=4567
store_path=""
shard_limit=1000
install_only=false
version="${KINESALITE_VERSION:-3.3.3}"
dir="${KINESALITE_DIR:-$HOME/.cache/wharf-kinesalite}"

usage() {
    # The header comment, from line 2 to the first line that is not a comment.
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) port="${2:?--port needs a value}"; shift 2 ;;
        --path) store_path="${2:?--path needs a directory}"; shift 2 ;;
        --shard-limit | --shardLimit) shard_limit="${2:?--shard-limit needs a value}"; shift 2 ;;
        --install-only) install_only=true; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "kinesalite.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

[[ "$port" =~ ^[0-9]+$ ]] || { echo "kinesalite.sh: --port must be a number" >&2; exit 2; }
[[ "$shard_limit" =~ ^[0-9]+$ ]] || { echo "kinesalite.sh: --shard-limit must be a number" >&2; exit 2; }
command -v node >/dev/null || { echo "kinesalite.sh: node is not installed (apt-get install nodejs npm)" >&2; exit 1; }

module="$dir/node_modules/kinesalite"
installed_version() {
    node -e 'try { console.log(require(process.argv[1] + "/package.json").version) } catch (e) {}' "$module"
}
if [[ "$(installed_version)" != "$version" ]]; then
    command -v npm >/dev/null || { echo "kinesalite.sh: npm is not installed (apt-get install npm)" >&2; exit 1; }
    echo "kinesalite.sh: installing kinesalite@$version into $dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "kinesalite@$version" >&2
fi

if [[ -n "$store_path" ]]; then
    # LevelDB needs leveldown's native binary; fail here with a clear word rather than inside
    # the server. Without --path (in memory) it is not needed.
    if ! node -e 'require(process.argv[1])' "$dir/node_modules/leveldown" 2>/dev/null; then
        echo "kinesalite.sh: leveldown (LevelDB for --path) does not load on this node ($(node --version));" >&2
        echo "  try: npm rebuild --prefix '$dir' leveldown   (needs a C++ toolchain and node's headers)," >&2
        echo "  or run kinesalite in memory (without --path)" >&2
        exit 1
    fi
    mkdir -p "$store_path"
fi

$install_only && exit 0

# The server, started through kinesalite's module API (bound to 127.0.0.1), written next to the
# installation so `ps` shows a readable command line.
cat > "$dir/wharf-serve.js" <<'EOF_JS'
const [moduleDir, port, storePath, shardLimit, version] = process.argv.slice(2);
const kinesalite = require(moduleDir);
const options = { createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: Number(shardLimit) };
if (storePath) options.path = storePath;
const server = kinesalite(options);
server.listen(Number(port), "127.0.0.1", () => {
  const address = server.address();
  const store = storePath ? "LevelDB at " + storePath : "in memory";
  console.log(`kinesalite ${version} listening at http://${address.address}:${address.port} (${store}, shard limit ${shardLimit})`);
});
const stop = () => {
  // Closing the server closes the store (flushes LevelDB); idle keep-alive clients are not waited for.
  setTimeout(() => process.exit(0), 3000).unref();
  if (server.closeAllConnections) server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
EOF_JS
exec node "$dir/wharf-serve.js" "$module" "$port" "$store_path" "$shard_limit" "$version"
