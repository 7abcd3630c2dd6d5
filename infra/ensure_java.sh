#!/usr/bin/env bash
# Java for pyspark in local mode (the Spark engine's tests and benchmarks): Debian's headless JRE 17, installed
# only when no `java` is on the PATH (CI: root on a fresh Debian machine). About 45 MB of packages.
set -euo pipefail
if command -v java >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "pyspark needs Java 17: install a JRE (Debian: apt-get install openjdk-17-jre-headless)" >&2
  exit 1
fi
start=$(date +%s)
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
echo "installed Java $(java -version 2>&1 | head -1) in $(( $(date +%s) - start )) s"
