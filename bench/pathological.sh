#!/usr/bin/env bash
# The pathological-input suite: specs shaped to make a careless algorithm quadratic or worse,
# each at a size, through `l9 ir check` (compile, challenge, validate, every finding rendered)
# and `l9 sim` (that plus the deliberation and the three plans). Prints seconds and peak RSS
# per case and command, and FAILs a case over LIMIT_S seconds or LIMIT_MB MiB.
#   bench/pathological.sh L9_BINARY [REQUIREMENTS] [LIMIT_S] [LIMIT_MB]
# Shapes (REQUIREMENTS items each; 16,000 is a spec of ~0.4–1.6 MB):
#   tbd        every requirement has an open item (a question each in the deliberation)
#   numeric    one quantity bounded differently by every requirement (every pair conflicts)
#   equal      one quantity bounded the same by every requirement (no pair conflicts)
#   pages      one bound per page, sharing "p95 latency page" (subject words in common, no conflict)
#   dups       one requirement repeated (every pair says the same)
#   distinct   requirements sharing most words but not the same (duplicate candidates)
#   fewwords   requirements of 8 words drawn from 30 (every term common: duplicate candidates)
#   fewlong    requirements of 16 words drawn from 30 (too many variants: the pair index)
#   sections   a component heading per requirement (a plan group each)
#   nested     headings nested five deep, over and over
#   accept     an acceptance criterion with a gate per requirement, named by id
#   loose      as many criteria as requirements under one heading, naming none, sharing no
#              words (each would verify its whole section)
#   shared     requirements and criteria of 20 words drawn from the same 5,000 (each criterion
#              has ~1,000 requirements to weigh: the matching's bound of work)
#   risks      a risk per requirement, each sharing a rare word with one
#   gates      a fenced command per requirement under one acceptance heading
#   gherkin    scenarios of one feature
#   openapi    operations of one document (JSON on one line, not ASCII)
#   longline   one requirement of REQUIREMENTS×40 smell words on one line
# The CI suite holds the same shapes smaller, behind hang detectors (no timing assertion):
# `cargo test -p l9-ir` (robustness, challenge, plan).
set -euo pipefail
l9=${1:?usage: bench/pathological.sh L9_BINARY [REQUIREMENTS] [LIMIT_S] [LIMIT_MB]}
n=${2:-16000}
limit_s=${3:-10}
limit_mb=${4:-1024}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" "$n" <<'EOF'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
def md(name, lines, head="# Spec\n\n## Requirements\n"):
    with open(f"{work}/{name}.md", "w") as f:
        f.write(head + "\n".join(lines) + "\n")
md("tbd", [f"- The system MUST export report {i} in a format TBD." for i in range(n)])
md("numeric", [f"- Request latency MUST be under {i + 1} ms." for i in range(n)])
md("equal", ["- Request latency MUST be under 5 ms." for _ in range(n)])
def page(i):
    return "page" + "".join(chr(97 + (i // 26 ** k) % 26) for k in range(4))
md("pages", [f"- The p95 latency of the {page(i)} page MUST be under 200 ms." for i in range(n)])
md("dups", ["- Users MUST be able to export every note as Markdown." for _ in range(n)])
md("distinct", [f"- Widget{i} weight MUST be under {i % 9 + 1} kg and the gadget{i} report MUST list every item{i} entry." for i in range(n)])
words = ["".join(chr(97 + (i * 7 + k) % 26) for k in range(5)) for i in range(30)]
rng = __import__("random").Random(7)
md("fewwords", ["- The system MUST " + " ".join(rng.sample(words, 8)) + "." for _ in range(n)])
md("fewlong", ["- The system MUST " + " ".join(rng.sample(words, 16)) + "." for _ in range(n)])
md("sections", [f"## Component {i}\n\n- The component {i} MUST store item {i} durably.\n" for i in range(n)], "# Spec\n")
md("nested", ["#" * (2 + i % 5) + f" Part {i}\n\n- Part {i} MUST be TBD or fast.\n" for i in range(n)], "# Spec\n")
md("accept", [f"- REQ-{i}: Users MUST be able to export note {i}." for i in range(n)]
   + ["\n## Acceptance criteria\n"]
   + [f"- REQ-{i} export produces file {i}; run `cargo test t{i}`." for i in range(n)])
md("loose", [f"- The system MUST handle r{i}a r{i}b." for i in range(n)]
   + ["\n## Acceptance criteria\n"] + [f"- Given a{i}x then a{i}y." for i in range(n)])
vocab = [f"term{k}" for k in range(5000)]
def drawn():
    return " ".join(rng.sample(vocab, 20))
md("shared", [f"- The system MUST {drawn()}." for i in range(n)]
   + ["\n## Acceptance criteria\n"] + [f"- Then {drawn()}." for i in range(n)])
md("risks", [f"- The system MUST alert on disk{i} usage." for i in range(n)]
   + ["\n## Risks\n"] + [f"- The disk{i} fills up." for i in range(n)])
md("gates", [f"- The system MUST store item{i} durably." for i in range(n)]
   + ["\n## Acceptance criteria\n"] + [f"\n```sh\ncargo test item{i}_is_stored\n```\n" for i in range(n)])
md("longline", ["- The system MUST " + "keep it and it fast " * (n * 10) + "."])
with open(f"{work}/gherkin.feature", "w") as f:
    f.write("Feature: big\n")
    for i in range(n):
        f.write(f"  Scenario: case {i}\n    Given a user {i}\n    When they export note {i}\n    Then a file {i} exists\n")
paths = {f"/items{i}": {"get": {"summary": f"Get item {i} quickly TBD — café", "responses": {"200": {"description": "ok"}}}} for i in range(n)}
with open(f"{work}/openapi.json", "w", encoding="utf-8") as f:
    # One line, not ASCII (as a minified description is): columns must not be counted from
    # the line's start per span.
    json.dump({"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": paths}, f, ensure_ascii=False)
EOF
(cd "$work" && "$l9" init >/dev/null 2>&1)
printf '%-10s %-9s %8s %9s %10s  %s\n' shape command bytes seconds 'peak MiB' verdict
fails=0
for f in tbd.md numeric.md equal.md pages.md dups.md distinct.md fewwords.md fewlong.md sections.md nested.md accept.md \
    loose.md shared.md risks.md gates.md gherkin.feature openapi.json longline.md; do
    for cmd in check sim; do
        case $cmd in
            check) args=(ir check "$f") ;;
            sim) args=(sim "$f" --trials 10) ;;
        esac
        start=$(date +%s.%N)
        set +e
        (cd "$work" && /usr/bin/time -f '%M' -o "$work/rss" timeout $((limit_s * 3)) "$l9" "${args[@]}" \
            >/dev/null 2>"$work/err")
        rc=$?
        set -e
        secs=$(echo "$(date +%s.%N) - $start" | bc)
        mb=$(( $(tail -1 "$work/rss" | tr -dc 0-9) / 1024 ))
        verdict=ok
        if [ "$rc" -eq 124 ] || (( $(echo "$secs > $limit_s" | bc) )) || [ "$mb" -gt "$limit_mb" ]; then
            verdict=FAIL; fails=$((fails + 1))
        elif [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
            # 1 is `l9 ir check` finding errors; anything else must be a named refusal.
            verdict="refused (exit $rc): $(grep -m1 -i 'error' "$work/err" | cut -c1-60)"
        fi
        printf '%-10s %-9s %8s %9.2f %10s  %s\n' "${f%.*}" "$cmd" "$(stat -c %s "$work/$f")" "$secs" "$mb" "$verdict"
    done
done
echo "cases over ${limit_s} s or ${limit_mb} MiB: $fails"
[ "$fails" -eq 0 ]
