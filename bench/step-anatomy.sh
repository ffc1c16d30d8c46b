#!/usr/bin/env bash
# Where a durable step's time goes on PostgreSQL, statement by statement, next to the floor
# `l9 bench workflow` compares with (a committed one-row insert). pgbench (C, prepared
# statements) drives each variant, so client overhead is the same for all and small:
#   floor         INSERT INTO raw_steps (run, v) VALUES (1, 'x')  — the bench's floor
#   packet, bare  one packet row into a table shaped like `packets` with its primary key only
#   packet        the same row into L9's `packets` (6 B-trees, generated tsvector, GIN)
#   + journal     packet and journal row in one statement (data-modifying CTE)
#   + fence       the lease checked FOR SHARE first
#   + parent      also the link to the step's parent packet (`packet_parents`, as the store
#                 keeps it: without foreign keys since schema 6): a step's rows as they are
#                 stored — L9's append before its journal tail, and `l9 bench workflow`'s
#                 step-rows floor
#   tail          L9's append as it is (journal.rs, one parent): the fence, the checks the
#                 tables' keys would make (sequence number taken, packet already filed, the
#                 parent known — here a filed packet, found after the probe for the run's
#                 previous entry in the tail misses), then one row into `journal_pending`;
#                 L9 files those rows into the tables above in bulk (tail.rs), off the
#                 step's path — here they stay in the tail
# Each runs with 1 client and with 16 (every client its own leased task), alternating,
# ROUNDS times, every variant on emptied tables after a checkpoint (what one variant leaves
# behind — its rows, dirty pages, WAL — would otherwise slow the next); prints steps/s and
# the ratio to the floor of the same round.
#   bench/step-anatomy.sh L9_BINARY POSTGRES_URL [ROUNDS] [SECONDS]
# The URL's role must be allowed to create databases and to CHECKPOINT (a superuser, or a
# member of pg_checkpoint); a scratch database is made and dropped.
set -euo pipefail
l9=${1:?usage: bench/step-anatomy.sh L9_BINARY POSTGRES_URL [ROUNDS] [SECONDS]}
url=${2:?usage: bench/step-anatomy.sh L9_BINARY POSTGRES_URL [ROUNDS] [SECONDS]}
rounds=${3:-3}
secs=${4:-5}
. "$(dirname "$0")/scratch-db.sh"
scratch_db "$l9" "$url" l9_step_anatomy
psql -q "$u" <<'EOF'
CREATE TABLE raw_steps (id BIGSERIAL PRIMARY KEY, run INT, v TEXT);
CREATE TABLE bare (LIKE packets INCLUDING DEFAULTS, PRIMARY KEY (id));
ALTER TABLE bare DROP COLUMN tsv;
INSERT INTO tasks (id, queue, kind, payload, priority, state, max_attempts, run_after,
                   lease_owner, lease_until, created_at, updated_at)
SELECT ('00000000-0000-0000-0000-0000000001' || lpad(i::text, 2, '0'))::uuid, 'q', 'k', '{}', 0,
       'leased', 0, now(), 'w', now() + interval '1 day', now(), now()
FROM generate_series(0, 31) i;
EOF
# Empties what the variants write, puts back the roots (each client's parent packet) and
# checkpoints, so every variant starts alike.
reset() {
  PGOPTIONS="-c client_min_messages=warning" psql -q "$u" <<'EOF'
TRUNCATE raw_steps, bare, journal, journal_pending, packets CASCADE;
INSERT INTO packets (id, v, kind, schema_v, actor, at, body, blobs, hash)
SELECT ('00000000-0000-0000-0000-0000000002' || lpad(i::text, 2, '0'))::uuid, 2, 'run.start', 1,
       'worker', now(), '{}', '[]', '\x00'
FROM generate_series(0, 31) i;
CHECKPOINT;
EOF
}
cols="v, kind, schema_v, run_id, task_id, actor, at, body, text, blobs, effect, hash"
vals="2, 'journal.step', 1, '00000000-0000-0000-0000-000000000002', \
'00000000-0000-0000-0000-000000000100', 'worker', now(), \
'{\"key\":\"step#1\",\"status\":\"completed\",\"value\":12345}', NULL, '[]', \
'{\"idempotent\":{\"key\":\"x/1\"}}', \
'\\x0011223344556677889900112233445566778899001122334455667788990011'"
task="('00000000-0000-0000-0000-0000000001' || lpad((:client_id % 32)::text, 2, '0'))::uuid"
root="('00000000-0000-0000-0000-0000000002' || lpad((:client_id % 32)::text, 2, '0'))::uuid"
cat > "$work/floor.sql" <<EOF
INSERT INTO raw_steps (run, v) VALUES (1, 'x');
EOF
cat > "$work/bare.sql" <<EOF
INSERT INTO bare (id, $cols) VALUES (gen_random_uuid(), $vals);
EOF
cat > "$work/packet.sql" <<EOF
INSERT INTO packets (id, $cols) VALUES (gen_random_uuid(), $vals);
EOF
cat > "$work/journal.sql" <<EOF
\\set s random(1, 2000000000)
WITH p AS (INSERT INTO packets (id, $cols) VALUES (gen_random_uuid(), $vals) RETURNING id)
INSERT INTO journal (run_id, seq, key, status, packet)
SELECT gen_random_uuid(), :s, 'step#1', 'completed', p.id FROM p;
EOF
cat > "$work/fence.sql" <<EOF
\\set s random(1, 2000000000)
WITH fence AS (SELECT id FROM tasks WHERE id = $task AND state = 'leased' AND lease_owner = 'w' FOR SHARE),
p AS (INSERT INTO packets (id, $cols) SELECT gen_random_uuid(), $vals FROM fence RETURNING id)
INSERT INTO journal (run_id, seq, key, status, packet)
SELECT gen_random_uuid(), :s, 'step#1', 'completed', p.id FROM p;
EOF
cat > "$work/parent.sql" <<EOF
\\set s random(1, 2000000000)
WITH fence AS (SELECT id FROM tasks WHERE id = $task AND state = 'leased' AND lease_owner = 'w' FOR SHARE),
p AS (INSERT INTO packets (id, $cols) SELECT gen_random_uuid(), $vals FROM fence RETURNING id),
pp AS (INSERT INTO packet_parents (child_id, parent_id, ord) SELECT p.id, $root, 0 FROM p)
INSERT INTO journal (run_id, seq, key, status, packet)
SELECT gen_random_uuid(), :s, 'step#1', 'completed', p.id FROM p;
EOF
cat > "$work/tail.sql" <<EOF
\\set s random(1, 2000000000)
WITH n AS (SELECT gen_random_uuid() AS id, gen_random_uuid() AS run),
fence AS (SELECT id FROM tasks WHERE id = $task AND state = 'leased' AND lease_owner = 'w' FOR SHARE),
chk AS (
  SELECT (SELECT 1 FROM journal WHERE run_id = n.run AND seq = :s) IS NOT NULL AS taken,
         (SELECT 1 FROM packets WHERE id = n.id) IS NOT NULL AS filed,
         CASE WHEN (SELECT q.id = $root FROM journal_pending q
                    WHERE q.run_id = n.run AND q.seq = :s - 1) THEN true
              WHEN (SELECT 1 FROM packets WHERE id = $root) IS NOT NULL THEN true
              ELSE (SELECT 1 FROM journal_pending q WHERE q.id = $root LIMIT 1) IS NOT NULL
         END AS known
  FROM n),
ok AS (SELECT 1 FROM fence, chk WHERE NOT chk.taken AND NOT chk.filed AND chk.known),
j AS (
  INSERT INTO journal_pending (run_id, seq, key, status, id, ${cols/run_id/packet_run}, parents)
  SELECT n.run, :s, 'step#1', 'completed', n.id, $vals, ARRAY[$root] FROM n, ok RETURNING 1)
SELECT (SELECT count(*) FROM fence), chk.taken, chk.filed, chk.known, (SELECT count(*) FROM j)
FROM chk;
EOF
tps() {
  reset
  pgbench -n -M prepared -f "$work/$1.sql" -c "$2" -j 2 -T "$secs" "$u" 2>&1 | awk '/^tps/{printf "%.0f", $3}'
}
printf '%-6s %-8s %10s %14s %10s %12s %12s %12s %12s\n' round clients floor "packet, bare" packet \
  "+ journal" "+ fence" "+ parent" "tail"
for r in $(seq "$rounds"); do
  for c in 1 16; do
    f=$(tps floor $c); b=$(tps bare $c); p=$(tps packet $c); j=$(tps journal $c); x=$(tps fence $c)
    y=$(tps parent $c); t=$(tps tail $c)
    ratio() { python3 -c "print(f'{$1/$f:.2f}×')"; }
    printf '%-6s %-8s %10s %8s %5s %6s %5s %6s %5s %6s %5s %6s %5s %6s %5s\n' "$r" "$c" "$f" \
      "$b" "$(ratio "$b")" "$p" "$(ratio "$p")" "$j" "$(ratio "$j")" "$x" "$(ratio "$x")" \
      "$y" "$(ratio "$y")" "$t" "$(ratio "$t")"
  done
done
