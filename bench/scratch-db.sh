# Sourced by the bench/*-anatomy.sh scripts: a scratch database made by `l9 init` next to the
# URL's, dropped (with a temporary work directory) when the script exits.
#   scratch_db L9_BINARY POSTGRES_URL NAME   sets $u (the scratch URL) and $work
scratch_db() {
  local l9=$1 url=$2 db=$3 base=${2%/*}
  work=$(mktemp -d)
  trap "psql -q '$url' -c 'DROP DATABASE IF EXISTS $db' >/dev/null 2>&1 || true; rm -rf '$work'" EXIT
  psql -q -v ON_ERROR_STOP=1 "$url" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" \
    >/dev/null 2>"$work/psql.err" || { cat "$work/psql.err" >&2; exit 1; }
  (cd "$work" && "$l9" init --db "$base/$db" >/dev/null)
  u="$base/$db"
}
