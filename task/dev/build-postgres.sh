#!/usr/bin/env bash
# Builds PostgreSQL 18 (server and client) from Debian's source package into a cache, once,
# so that the tests, the demo and the bench can run the major the image ships (issue 12).
#
#   task/dev/build-postgres.sh           build if absent (a no-op when cached), print the bin dir
#   task/dev/build-postgres.sh --print   only print the bin dir it uses (built or not)
#   … --without-compression              the clients only (pg_dump, pg_restore, psql), built
#                                        without zstd and lz4: the pg_restore that must refuse
#                                        such archives (<cache>/postgresql-18-nocompression)
#
# `npm test` runs it (test/global-setup.js) when either build is missing from the cache.
#
# Cache layout (others ask `--print` for it: test/support/toolchains.js, test/support/postgres/local-postgres.ts):
#   <cache>/postgresql-18.<minor>/{bin,lib,share}   one installation, named by its exact version
#   <cache>/postgresql-18 -> postgresql-18.<minor>   what everything uses
# where <cache> is $XDG_CACHE_HOME/pg-s3-backup, else ~/.cache/pg-s3-backup, except as root
# without XDG_CACHE_HOME: /var/cache/pg-s3-backup, because root's test clusters run as the
# `postgres` user (initdb refuses root), which cannot enter /root (mode 0700).
#
# Bookworm has no PostgreSQL 18, but Debian's mirror has its source package in sid: a
# temporary deb-src entry for sid (derived from this machine's debian.sources) is added for
# `apt-get source` only, then removed with a second `apt-get update`, so that no binary
# package ever comes from sid. The build dependencies come from the machine's own suites.
set -euo pipefail

MAJOR=18
PRINT=""; VARIANT=""
for arg in "$@"; do
  case "$arg" in
    --print) PRINT=1 ;;
    --without-compression) VARIANT=-nocompression ;;
    *) echo "build-postgres: unknown argument $arg" >&2; exit 2 ;;
  esac
done
CACHE="${XDG_CACHE_HOME:+$XDG_CACHE_HOME/pg-s3-backup}"
if [ -z "$CACHE" ]; then
  if [ "$(id -u)" -eq 0 ]; then CACHE=/var/cache/pg-s3-backup; else CACHE="$HOME/.cache/pg-s3-backup"; fi
fi
LINK="$CACHE/postgresql-$MAJOR$VARIANT"
# What the tests, the demo and the bench run; a cache without one of them is rebuilt.
PROGRAMS=(initdb pg_ctl postgres psql pg_dump pg_dumpall pg_restore createdb pg_isready)
EXTENSIONS=(citext pgcrypto btree_gist) # what the sample app and the fixtures create
COMPRESSION=(--with-zstd --with-lz4)
if [ -n "$VARIANT" ]; then PROGRAMS=(psql pg_dump pg_restore); EXTENSIONS=(); COMPRESSION=(--without-zstd --without-lz4); fi

cached() {
  local p e
  for p in "${PROGRAMS[@]}"; do [ -x "$LINK/bin/$p" ] || return 1; done
  for e in "${EXTENSIONS[@]}"; do [ -f "$LINK/share/extension/$e.control" ] || return 1; done
}

if [ -n "$PRINT" ]; then echo "$LINK/bin"; exit 0; fi
if cached; then
  echo "PostgreSQL $MAJOR: cached, $("$LINK/bin/pg_dump" --version) in $(readlink -f "$LINK")/bin" >&2
  echo "$LINK/bin"
  exit 0
fi

SECONDS=0
say() { echo "== build-postgres ($SECONDS s): $*" >&2; }
trap 'echo "build-postgres: FAILED at line $LINENO ($BASH_COMMAND) after $SECONDS s" >&2' ERR

# apt-get (the build dependencies, the temporary deb-src entry) needs root: as another user, sudo.
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "build-postgres: needs root for apt-get (build dependencies, a temporary deb-src entry): run it as root, or install sudo" >&2; exit 1; }
  SUDO="sudo"
  say "needs root for apt-get (build dependencies, a temporary deb-src entry): running it with sudo, which may ask for a password"
fi
SRC_ENTRY=/etc/apt/sources.list.d/pg-s3-backup-sid-src.sources
remove_src_entry() {
  if [ -e "$SRC_ENTRY" ]; then
    $SUDO rm -f "$SRC_ENTRY"
    say "removed $SRC_ENTRY; apt-get update (sid indexes dropped)"
    $SUDO apt-get update -qq || echo "build-postgres: WARNING: apt-get update after removing $SRC_ENTRY failed; run it by hand" >&2
  fi
}
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pg-s3-backup-build-postgres-XXXXXX")"
mkdir -p "$CACHE"
STAGE="$(mktemp -d "$CACHE/.staging-XXXXXX")" # same filesystem as the cache: the final rename is atomic
trap 'remove_src_entry; rm -rf "$WORK" "$STAGE"' EXIT
trap 'exit 130' INT TERM # so that Ctrl-C also removes the sid entry (the EXIT trap)
# Two runs at once (two CI jobs on one runner) would race on the apt entry: one at a time.
exec 9>"$CACHE/.build-postgres.lock"
flock 9
if cached; then echo "$LINK/bin"; exit 0; fi # another run built it while this one waited

# 1. Build dependencies, only those missing, from the machine's own suites (before any sid
# entry exists), and dpkg-dev for apt-get source.
DEPS=(build-essential dpkg-dev pkg-config bison flex libreadline-dev zlib1g-dev libzstd-dev liblz4-dev libxml2-dev libssl-dev)
missing=()
for d in "${DEPS[@]}"; do dpkg-query -W -f '${Status}' "$d" 2>/dev/null | grep -q 'ok installed' || missing+=("$d"); done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  $SUDO apt-get update -qq # a fresh machine may have no package lists yet
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# 2. The source package, from sid's deb-src, with the mirror, components and key of this
# machine's main Debian entry (the stanza whose URIs end in /debian).
SOURCES=/etc/apt/sources.list.d/debian.sources
[ -r "$SOURCES" ] || { echo "build-postgres: $SOURCES not found (a deb822 Debian apt configuration is needed)" >&2; exit 1; }
field() {
  awk -v f="$1" 'BEGIN { RS = ""; FS = "\n" } {
    hit = 0; v = ""
    for (i = 1; i <= NF; i++) {
      if ($i ~ /^URIs:/ && $i ~ /\/debian\/?( |$)/) hit = 1
      if (index($i, f ": ") == 1) v = substr($i, length(f) + 3)
    }
    if (hit) { print v; exit }
  }' "$SOURCES"
}
URIS="$(field URIs)"; COMPONENTS="$(field Components)"; SIGNED_BY="$(field Signed-By)"
[ -n "$URIS" ] && [ -n "$COMPONENTS" ] || { echo "build-postgres: no Debian archive stanza (URIs …/debian) in $SOURCES" >&2; exit 1; }
say "adding $SRC_ENTRY (deb-src sid from $URIS)"
printf 'Types: deb-src\nURIs: %s\nSuites: sid\nComponents: %s\n%s' "$URIS" "$COMPONENTS" "${SIGNED_BY:+Signed-By: $SIGNED_BY
}" | $SUDO tee "$SRC_ENTRY" >/dev/null
$SUDO apt-get update -qq
say "apt-get source postgresql-$MAJOR"
(cd "$WORK" && apt-get source -qq "postgresql-$MAJOR" >/dev/null)
remove_src_entry
SRCDIR="$(find "$WORK" -maxdepth 1 -type d -name "postgresql-$MAJOR-*" | head -n1)"
[ -n "$SRCDIR" ] || { echo "build-postgres: apt-get source left no postgresql-$MAJOR-* directory in $WORK" >&2; exit 1; }
VERSION="$(sed -n "s/^PACKAGE_VERSION='\(.*\)'$/\1/p" "$SRCDIR/configure")"
case "$VERSION" in "$MAJOR".*) ;; *) echo "build-postgres: unexpected version '$VERSION' in $SRCDIR/configure" >&2; exit 1 ;; esac
PREFIX="$CACHE/postgresql-$VERSION$VARIANT"

# 3. Configure like the servers users run (TLS, XML, zstd and lz4 compression); ICU is not
# needed by the tests (their clusters use the libc C.UTF-8 locale).
say "configure $VERSION --prefix=$PREFIX"
cd "$SRCDIR"
./configure -q --prefix="$PREFIX" --with-openssl --with-libxml "${COMPRESSION[@]}" --without-icu >"$WORK/configure.log" 2>&1 \
  || { tail -n 30 "$WORK/configure.log" >&2; exit 1; }

# 4. What a cluster and the clients need: the server and its catalog data (postgres.bki is
# installed by src/include/catalog), the encoding conversions, PL/pgSQL and the snowball
# dictionaries (initdb creates both), the time zone data, libpq and the client programs; and
# contrib, as Debian's postgresql-15 has it: the sample app and the fixtures create citext,
# pgcrypto and btree_gist. Not ecpg, the docs, the headers or the test programs.
PARTS=(src/backend src/include/catalog src/backend/utils/mb/conversion_procs src/backend/snowball src/timezone src/interfaces/libpq src/pl/plpgsql src/fe_utils src/bin contrib)
[ -z "$VARIANT" ] || PARTS=(src/interfaces/libpq src/fe_utils src/bin/pg_dump src/bin/psql)
JOBS="$(nproc)"
say "make -j$JOBS (${PARTS[*]})"
# The generated headers first: a sub-directory make does not order them before its objects.
make -s -C src/backend generated-headers >"$WORK/make.log" 2>&1 || { tail -n 30 "$WORK/make.log" >&2; exit 1; }
for p in "${PARTS[@]}"; do make -s -j"$JOBS" -C "$p" >>"$WORK/make.log" 2>&1 || { tail -n 30 "$WORK/make.log" >&2; exit 1; }; done
say "make install (staged in $STAGE)"
for p in "${PARTS[@]}"; do make -s -C "$p" install DESTDIR="$STAGE" >>"$WORK/make.log" 2>&1 || { tail -n 30 "$WORK/make.log" >&2; exit 1; }; done

# 5. Check it runs where it will live (the programs find lib/ and share/ relative to bin/,
# and libpq through the rpath set at link time to $PREFIX/lib, never the system's 15 libpq).
rm -rf "$PREFIX" # a leftover without the link (an interrupted earlier run past the rename)
mv -T "$STAGE$PREFIX" "$PREFIX"
for p in "${PROGRAMS[@]}"; do [ -x "$PREFIX/bin/$p" ] || { echo "build-postgres: $PREFIX/bin/$p was not installed" >&2; exit 1; }; done
for e in "${EXTENSIONS[@]}"; do [ -f "$PREFIX/share/extension/$e.control" ] || { echo "build-postgres: extension $e was not installed" >&2; exit 1; }; done
if ! ldd "$PREFIX/bin/pg_dump" | grep -q "libpq.so.* => $PREFIX/lib/"; then
  echo "build-postgres: $PREFIX/bin/pg_dump does not link its own libpq:" >&2; ldd "$PREFIX/bin/pg_dump" >&2; exit 1
fi
if [ -x "$PREFIX/bin/postgres" ] && [ "$(id -u)" -eq 0 ] && id -u postgres >/dev/null 2>&1; then
  runuser -u postgres -- "$PREFIX/bin/postgres" --version >/dev/null \
    || { echo "build-postgres: the postgres user cannot run $PREFIX/bin/postgres (test clusters run as it)" >&2; exit 1; }
fi
ln -sfn "postgresql-$VERSION$VARIANT" "$CACHE/.link-$$"
mv -T "$CACHE/.link-$$" "$LINK" # atomic: readers see the old state or the complete new one
say "done: $("$LINK/bin/pg_dump" --version) in $PREFIX/bin, built in $SECONDS s"
echo "$LINK/bin"
