#!/usr/bin/env bash
# Assembles KVPilot's base image as a `docker save` tarball, with no registry and no Docker daemon:
#   a jlink'ed Java 17 runtime (with jdk.incubator.vector) under /opt/java/openjdk, the glibc/libstdc++ libraries it
#   and libtorch need (copied from this Debian build machine), /etc/passwd with the non-root user 10001, and /tmp.
# Jib then builds the application image on it (from.image = tar://...). With a registry, -Dimage.base=<reference>
# (e.g. eclipse-temurin:17-jre) replaces this base entirely; docs/operations.md explains both.
# Usage: container/base-image.sh <output directory>   → <output directory>/kvpilot-base.tar
set -euo pipefail
out=${1:?output directory}
java_home=${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}
jlink=$java_home/bin/jlink
[ -x "$jlink" ] || { echo "base-image.sh: no jlink in $java_home (install openjdk-17-jdk-headless)" >&2; exit 1; }
[ -d "$java_home/jmods" ] || { echo "base-image.sh: no jmods in $java_home" >&2; exit 1; }

# Spring Boot (java.desktop for java.beans, java.sql, java.naming, java.management), Reactor Netty (jdk.unsupported),
# DJL and the engine's Vector API kernels (jdk.incubator.vector), JFR and JMX for diagnostics.
modules=java.base,java.compiler,java.desktop,java.instrument,java.logging,java.management,java.management.rmi,\
java.naming,java.net.http,java.prefs,java.rmi,java.scripting,java.security.jgss,java.security.sasl,java.sql,\
java.transaction.xa,java.xml,jdk.crypto.ec,jdk.incubator.vector,jdk.jfr,jdk.management,jdk.management.jfr,\
jdk.naming.dns,jdk.net,jdk.unsupported,jdk.zipfs

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/opt/java" "$root/etc" "$root/tmp" "$out"
"$jlink" --module-path "$java_home/jmods" --add-modules "$modules" --strip-debug --no-man-pages \
    --no-header-files --compress=2 --output "$root/opt/java/openjdk"

# shared libraries: what the runtime links against (AWT's native parts aside: the service runs headless, java.desktop
# is there for java.beans), plus what libtorch and the tokenizer library need
libs=$( (find "$root/opt/java/openjdk" -name '*.so' -o -path '*/bin/*' -type f \
    | grep -Ev '/lib(awt|awt_xawt|awt_headless|splashscreen|jsound|fontmanager|lcms|javajpeg|mlib_image)\.so$' \
    | xargs ldd 2>/dev/null || true) \
    | awk '$3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
for name in libstdc++.so.6 libgcc_s.so.1 libdl.so.2 libpthread.so.0 librt.so.1 libm.so.6 libc.so.6 libz.so.1; do
    # no early exit in awk: under pipefail ldconfig would die of SIGPIPE (status 141) and fail the build
    libs="$libs $(ldconfig -p | awk -v n="$name" '$1 == n && /x86-64/ && !found {print $NF; found = 1}')"
done
for lib in $(echo "$libs" | tr ' ' '\n' | grep -v "^$root" | sort -u); do
    # keep the path the dynamic loader searches; copy the file the symlink names under the link's name
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done

printf 'root:x:0:0:root:/root:/sbin/nologin\nkvpilot:x:10001:10001:kvpilot:/tmp:/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:x:0:\nkvpilot:x:10001:\n' > "$root/etc/group"
chmod 1777 "$root/tmp"

# one layer, reproducible: fixed owner and time
(cd "$root" && tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/layer.tar" .)
diff_id=sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
cat > "$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",
 "config":{"Env":["PATH=/opt/java/openjdk/bin:/usr/bin:/bin","JAVA_HOME=/opt/java/openjdk","LANG=C.UTF-8"]},
 "rootfs":{"type":"layers","diff_ids":["$diff_id"]},
 "history":[{"created":"1970-01-01T00:00:00Z","created_by":"container/base-image.sh","comment":"java runtime and system libraries"}]}
JSON
echo '[{"Config":"config.json","RepoTags":["kvpilot-base:local"],"Layers":["layer.tar"]}]' > "$work/manifest.json"
tar -C "$work" -cf "$out/kvpilot-base.tar" manifest.json config.json layer.tar
echo "base image: $out/kvpilot-base.tar ($(du -h "$out/kvpilot-base.tar" | cut -f1))"
