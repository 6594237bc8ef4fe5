#!/bin/sh
# Entry point of the e2e mysqld_exporter stand-in (images/e2e-mysqld-exporter.Dockerfile):
# Debian bookworm ships mysqld_exporter 0.14, the pods pass 0.15 flags. Translates
# --mysqld.address / --mysqld.username + MYSQLD_EXPORTER_PASSWORD into 0.14's
# DATA_SOURCE_NAME, drops --config.my-cnf, passes every other flag through.
set -eu
addr=127.0.0.1:3306 user=root
for a in "$@"; do
  shift
  case $a in
    --mysqld.address=*) addr=${a#*=} ;;
    --mysqld.username=*) user=${a#*=} ;;
    --config.my-cnf=*) ;;
    *) set -- "$@" "$a" ;;
  esac
done
export DATA_SOURCE_NAME="$user:${MYSQLD_EXPORTER_PASSWORD:-}@tcp($addr)/"
exec /usr/bin/prometheus-mysqld-exporter "$@"
