#!/bin/sh
# A stand-in for a coding agent CLI (claude, codex, aider, …) for examples/todo-api: it reads
# the task on stdin, as `[agents.NAME] command = ["sh", "examples/todo-api/agent.sh"]`
# passes it, and edits the worktree it runs in. It makes the same slip a person might (it
# forgets to make todo.sh executable), which the run's integration step catches and has it
# fix. With L9_TODO_AGENT_LOG set (and passed through: env = ["L9_TODO_AGENT_LOG"]) it
# appends each prompt and its environment's variable names there.
prompt=$(cat)
if [ -n "$L9_TODO_AGENT_LOG" ]; then
  { echo "=== prompt"; printf '%s\n' "$prompt"; echo "=== environment"; env | cut -d= -f1 | sort; } >> "$L9_TODO_AGENT_LOG"
fi
case "$prompt" in
  *Integration:*)
    chmod +x todo.sh; echo "made todo.sh executable"; exit 0 ;;
  *"Write the design record"*)
    mkdir -p docs/design
    cat > docs/design/architecture.md <<'MD'
# Design: todo API
## Context
A to-do list kept in a plain text file, one item per line.
## Decision
Two POSIX sh scripts: one stores and lists lines, one adds and counts items.
## Consequences
No dependencies; every script stays executable.
MD
    echo "wrote the design record"; exit 0 ;;
  *"Write the tests for storage "*)
    mkdir -p tests
    cat > tests/storage.sh <<'SH'
export TODO_FILE=$(mktemp)
sh store.sh add milk && sh store.sh add eggs || exit 1
test "$(sh store.sh list)" = "$(printf '1 milk\n2 eggs')"
SH
    echo "wrote tests/storage.sh"; exit 0 ;;
  *"Write the tests for commands "*)
    mkdir -p tests
    cat > tests/commands.sh <<'SH'
export TODO_FILE=$(mktemp)
sh todo.sh add a && sh todo.sh add b || exit 1
test "$(sh todo.sh count)" = 2
SH
    echo "wrote tests/commands.sh"; exit 0 ;;
  *"Implement Storage"*)
    cat > store.sh <<'SH'
#!/bin/sh
f=${TODO_FILE:-todo.txt}
case "$1" in
  add) printf '%s\n' "$2" >> "$f" ;;
  list) [ -f "$f" ] && awk '{ print NR " " $0 }' "$f" ;;
  *) echo "usage: store.sh add TEXT | list" >&2; exit 2 ;;
esac
SH
    chmod +x store.sh; echo "wrote store.sh"; exit 0 ;;
  *"Implement Commands"*)
    cat > todo.sh <<'SH'
#!/bin/sh
f=${TODO_FILE:-todo.txt}
case "$1" in
  add) printf '%s\n' "$2" >> "$f" ;;
  count) if [ -f "$f" ]; then wc -l < "$f" | tr -d ' '; else echo 0; fi ;;
  *) echo "usage: todo.sh add TEXT | count" >&2; exit 2 ;;
esac
SH
    echo "wrote todo.sh"; exit 0 ;;
esac
echo "I do not know how to do this task" >&2
exit 1
