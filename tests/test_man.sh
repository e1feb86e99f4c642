#!/bin/bash
# test_man.sh — the manual pages format without a warning and keep up with what they describe:
# netcore(7) has an entry for every variable of README.md's Configuration table, with its
# default, and no variable the table lacks, and one LIMITS item per item of the README's
# Limits; netcore(1) has an entry for every command of `netcore --help` and names every option
# of each command's --help. No root needed.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

man1=$NC_SRC/man/netcore.1
man7=$NC_SRC/man/netcore.7
readme=$NC_SRC/README.md
command -v groff >/dev/null || nc_skip "groff not installed"

# 1. Formatting: groff with every warning on says nothing; man and lexgrog, where installed,
#    render the page and find its NAME line.
for page in "$man1" "$man7"; do
    err=$(groff -ww -man -Tutf8 "$page" 2>&1 >/dev/null)
    [ -z "$err" ] || fail "groff -ww $(basename "$page"): $err"
    if command -v man >/dev/null; then
        err=$(MANWIDTH=80 man -l "$page" 2>&1 >/dev/null)
        [ -z "$err" ] || fail "man -l $(basename "$page"): $err"
    fi
    if command -v lexgrog >/dev/null; then
        lexgrog "$page" >/dev/null || fail "lexgrog finds no NAME line in $(basename "$page")"
    fi
done
echo "ok: both pages format without warnings"

# entry PAGE TAG: the roff of PAGE's .TP entry whose tag line is TAG, up to the next .TP or
# section heading.
entry() {
    awk -v tag="$2" '
        prev == ".TP" && $0 == tag { on = 1; print; prev = $0; next }
        on && (/^\.TP/ || /^\.S[HS] /) { exit }
        on { print }
        { prev = $0 }' "$1"
}

# 2. netcore(7) against the README's Configuration table: | `NAME` | default | meaning |.
vars=$(sed -n '/^## Configuration/,/^## /p' "$readme" | sed -n 's/^| `\(NETCORE_[A-Z_]*\)` |.*/\1/p')
[ "$(wc -w <<<"$vars")" -ge 10 ] || fail "cannot read the variable table of README.md"
for v in $vars; do
    e=$(entry "$man7" ".B $v")
    [ -n "$e" ] || fail "netcore(7) has no entry for $v"
    # The default is the first `value` of the row's second column, when it has one.
    def=$(grep "^| \`$v\` |" "$readme" | awk -F'|' '{ print $3 }' | sed -n 's/^[^`]*`\([^`]*\)`.*/\1/p')
    if [ -n "$def" ] && ! grep -qF -- "$def" <<<"$(sed 's/\\-/-/g' <<<"$e")"; then
        fail "netcore(7) on $v does not give the default $def"
    fi
done
for v in $(sed -n '/^\.SH ENVIRONMENT/,/^\.SH /p' "$man7" | sed -n 's/^\.B \(NETCORE_[A-Z_]*\)$/\1/p'); do
    grep -qx "$v" <<<"$vars" || fail "netcore(7) lists $v, which README.md's table lacks"
done
want=$(sed -n '/^## Limits/,/^## /p' "$readme" | grep -c '^- ')
got=$(sed -n '/^\.SH LIMITS/,/^\.SH /p' "$man7" | grep -c '^\.IP')
[ "$got" -eq "$want" ] || fail "netcore(7) LIMITS has $got items, README.md's Limits $want"
echo "ok: netcore(7): $(wc -w <<<"$vars") variables with their defaults, $want limits"

# 3. netcore(1) against the command's own help.
cmds=$("$NC_SRC/netcore" --help | awk '/^commands:/ { on = 1; next } on && !NF { exit } on { print $1 }')
[ "$(wc -w <<<"$cmds")" -ge 5 ] || fail "cannot read the commands of netcore --help"
for c in $cmds; do
    grep -qE "^\\\\fB$c\\\\fP( |\$)|^\.BR? $c( |\$)" <<<"$(sed -n '/^\.SH COMMANDS/,/^\.SH /p' "$man1")" ||
        fail "netcore(1) COMMANDS has no entry for $c"
    for opt in $("$NC_SRC/netcore" "$c" --help | grep -oE '(^|[ [])--[a-z][a-z-]*' | tr -d ' [' | sort -u); do
        grep -qF -- "${opt//-/\\-}" "$man1" || fail "netcore(1) does not mention $c $opt"
    done
done
for s in 'EXIT STATUS' ENVIRONMENT FILES EXAMPLES 'SEE ALSO'; do
    grep -qx "\.SH $s" "$man1" || fail "netcore(1) has no $s section"
done
grep -q '^\.B NETCORE_LIBDIR$' "$man1" || fail "netcore(1) ENVIRONMENT lacks NETCORE_LIBDIR"
grep -q '^\.BR netcore (7)' "$man1" || fail "netcore(1) does not point to netcore(7)"
echo "ok: netcore(1): commands $(tr '\n' ' ' <<<"$cmds")and their options"

echo "PASS: test_man"
