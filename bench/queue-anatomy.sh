#!/usr/bin/env bash
# Where a batched claim + complete's time goes on PostgreSQL, next to the floor `l9 bench queue`
# compares with. pgbench (C, prepared statements, one client) drives each variant: a
# transaction claims a batch (one statement, committed) and completes it (another), so client
# overhead is the same for all and small:
#   floor         the bench's raw queue: `raw_jobs (id BIGSERIAL, state, result)`, one partial
#                 index; claim = UPDATE … WHERE id = ANY(ARRAY(SELECT … FOR UPDATE SKIP
#                 LOCKED)), complete = UPDATE … WHERE id = ANY(ids)
#   task rows     the same two statements on a table made `LIKE tasks INCLUDING ALL` (L9's
#                 columns, keys and partial indexes), rows shaped like the bench's jobs, the
#                 columns L9's claim and finish set
#   + L9's SQL    L9's statements (`tasks.rs`), constants in place of their parameters: the
#                 claim also looks for expired leases and builds every column of the claimed
#                 rows (aggregated in the server here; L9 receives them); the finish joins the
#                 ids with their results (`unnest`) and checks the lease's owner
#   L9            `l9 bench queue --db` on the same database, same batch (its own floor run
#                 beside it in the same process)
# ROUNDS rounds, alternating; prints jobs/s and the ratio to the floor of the same round.
#   bench/queue-anatomy.sh L9_BINARY POSTGRES_URL [ROUNDS] [BATCH] [BATCHES]
# The URL's role must be allowed to create databases; a scratch database is made and dropped.
set -euo pipefail
usage="usage: bench/queue-anatomy.sh L9_BINARY POSTGRES_URL [ROUNDS] [BATCH] [BATCHES]"
l9=${1:?$usage}
url=${2:?$usage}
rounds=${3:-3}
batch=${4:-500}
batches=${5:-100}
jobs=$((batch * batches))
. "$(dirname "$0")/scratch-db.sh"
scratch_db "$l9" "$url" l9_queue_anatomy
psql -q "$u" <<'EOF'
CREATE TABLE raw_jobs (id BIGSERIAL PRIMARY KEY, state TEXT NOT NULL, result TEXT);
CREATE INDEX raw_jobs_q ON raw_jobs(id) WHERE state = 'queued';
CREATE TABLE tq (LIKE tasks INCLUDING ALL);
EOF
fill() { # table
  if [ "$1" = raw_jobs ]; then
    psql -q "$u" -c "TRUNCATE raw_jobs" \
      -c "INSERT INTO raw_jobs (state) SELECT 'queued' FROM generate_series(1, $jobs)"
  else
    # UUIDv7-like ids (time-ordered, as L9 makes them), the bench's queue, kind and payload.
    psql -q "$u" -c "TRUNCATE $1" -c "INSERT INTO $1 (id, queue, kind, payload, priority, state,
      max_attempts, run_after, created_at, updated_at)
      SELECT (lpad(to_hex(g), 12, '0') || '7000' || '8000' || substr(md5(g::text), 1, 12))::uuid,
             'bench', 'bench.job', '{\"i\":' || g || '}', 0, 'queued', 3, now(), now(), now()
      FROM generate_series(1, $jobs) g"
  fi
  psql -q "$u" -c "VACUUM ANALYZE $1"
}
cat > "$work/floor.sql" <<EOF
WITH c AS (UPDATE raw_jobs SET state = 'running' WHERE id = ANY(ARRAY(SELECT id FROM raw_jobs
  WHERE state = 'queued' ORDER BY id LIMIT $batch FOR UPDATE SKIP LOCKED)) RETURNING id)
SELECT array_agg(id)::text AS ids FROM c \gset
UPDATE raw_jobs SET state = 'done', result = 'ok' WHERE id = ANY(:ids::bigint[]);
EOF
cat > "$work/rows.sql" <<EOF
WITH c AS (UPDATE tq SET state = 'leased', attempts = attempts + 1, wake_pending = false,
  lease_owner = 'bench', lease_until = now() + interval '60 s', updated_at = now()
  WHERE id = ANY(ARRAY(SELECT id FROM tq WHERE state = 'queued' AND run_after <= now()
  ORDER BY priority DESC, run_after, id LIMIT $batch FOR UPDATE SKIP LOCKED)) RETURNING id)
SELECT array_agg(id)::text AS ids FROM c \gset
UPDATE tq SET state = 'succeeded', result = '1', error = NULL, lease_owner = NULL,
  lease_until = NULL, updated_at = now() WHERE id = ANY(:ids::uuid[]);
EOF
cols="id, queue, kind, payload, priority, state, attempts, failures, max_attempts, run_after, \
lease_owner, lease_until, idem_key, run_id, parent, result, error, created_at, updated_at"
cat > "$work/l9sql.sql" <<EOF
WITH e AS (SELECT EXISTS (SELECT 1 FROM tq WHERE state = 'leased' AND lease_until < now())
  AS expired), claimed AS (UPDATE tq SET state = 'leased', attempts = attempts + 1,
  wake_pending = false, lease_owner = 'bench', lease_until = now() + interval '60 s',
  updated_at = now() WHERE id = ANY(ARRAY(SELECT id FROM tq WHERE NOT (SELECT expired FROM e)
  AND state = 'queued' AND run_after <= now() AND (cardinality('{bench}'::text[]) = 0
  OR queue = ANY('{bench}'::text[])) ORDER BY priority DESC, run_after, id LIMIT $batch
  FOR UPDATE SKIP LOCKED)) RETURNING $cols),
  r AS (SELECT claimed.*, e.expired FROM e LEFT JOIN claimed ON true)
SELECT array_agg(id)::text AS ids, array_agg('1'::text)::text AS results,
  max(length(payload)) AS widest, bool_or(expired) AS expired FROM r \gset
UPDATE tq t SET state = 'succeeded', result = v.result, error = NULL, lease_owner = NULL,
  lease_until = NULL, updated_at = now()
  FROM unnest(:ids::uuid[], :results::text[]) AS v(id, result)
  WHERE t.id = v.id AND t.id = ANY(:ids::uuid[]) AND t.state = 'leased'
  AND t.lease_owner = 'bench' AND (NOT true OR t.parent IS NULL) RETURNING t.id, t.parent;
EOF
rate() { # script table
  fill "$2"
  pgbench -n -M prepared -f "$work/$1.sql" -c 1 -t "$batches" "$u" 2>&1 |
    awk -v b="$batch" '/^tps/{printf "%.0f", $3 * b}'
}
l9rate() {
  "$l9" bench queue --db "$u" --json --single 10 --jobs "$jobs" --batch "$batch" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f %.0f" % (d["batched_jobs_per_s"], d["baseline_batched_jobs_per_s"]))'
}
printf '%-6s %10s %16s %16s %16s %s\n' round floor "task rows" "+ L9's SQL" "L9" "(L9's own floor run)"
for r in $(seq "$rounds"); do
  f=$(rate floor raw_jobs); t=$(rate rows tq); s=$(rate l9sql tq); read -r l lf <<<"$(l9rate)"
  ratio() { python3 -c "print(f'{$1/$f:.2f}×')"; }
  printf '%-6s %10s %10s %5s %10s %5s %10s %5s (%s, L9 %s)\n' "$r" "$f" "$t" "$(ratio "$t")" \
    "$s" "$(ratio "$s")" "$l" "$(ratio "$l")" "$lf" "$(python3 -c "print(f'{$l/$lf:.2f}×')")"
done
