#!/usr/bin/env bash
# Writes the secrets deploy/compose.yaml mounts, random and consistent with each other, into
# deploy/secrets/ (git-ignored). Existing files are kept, so running it again changes nothing.
#   scripts/compose-secrets.sh [DIR]      (default: deploy/secrets beside this script's repo)
set -euo pipefail

dir="${1:-$(cd "$(dirname "$0")/.." && pwd)/deploy/secrets}"
mkdir -p "$dir"
chmod 700 "$dir"
umask 077

random() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; } # hex: safe in URLs and INI files

put() { # put NAME VALUE: write once
    [ -s "$dir/$1" ] || printf '%s\n' "$2" >"$dir/$1"
}

put postgres_password "$(random 24)"
put s3_access_key "cnai-$(random 6)"
put s3_secret_key "$(random 24)"
put cnai_auth_token "$(random 32)"
put grafana_admin_password "$(random 16)"
put cnai_store "postgresql+psycopg://cnai:$(head -n1 "$dir/postgres_password")@postgres:5432/cnai"
put s3_credentials "$(printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s' \
    "$(head -n1 "$dir/s3_access_key")" "$(head -n1 "$dir/s3_secret_key")")"
# The containers run as other users (cnai: 10001, postgres: 999, grafana: 472) and compose mounts
# these files as they are: readable by all, inside a directory only the owner can enter.
chmod 644 "$dir"/*
echo "secrets in $dir: cnai's admin token is $dir/cnai_auth_token, Grafana's admin password $dir/grafana_admin_password"
