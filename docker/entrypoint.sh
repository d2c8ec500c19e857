#!/bin/sh
# Container entrypoint: when DISKFERRY_AZURE_ENV names an azure.env (the local Azure's,
# shared through a volume), wait for it and export its settings; then run the command.
set -eu
if [ -n "${DISKFERRY_AZURE_ENV:-}" ]; then
    i=0
    while [ ! -s "$DISKFERRY_AZURE_ENV" ]; do
        i=$((i + 1))
        [ "$i" -gt 120 ] && { echo "no $DISKFERRY_AZURE_ENV after 60 s" >&2; exit 1; }
        sleep 0.5
    done
    set -a
    . "$DISKFERRY_AZURE_ENV"
    set +a
fi
exec "$@"
