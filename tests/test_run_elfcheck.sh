#!/bin/bash
# test_run_elfcheck.sh — netcore-elfcheck (tools/elfcheck.c), with which `netcore run` reads
# the programs it may refuse, on crafted and malformed ELF files (tests/lib/elfgen.py): each
# gives the facts it should (class, machine, PT_INTERP, Go note, sanitizer DT_NEEDED), also a
# big-endian, a 32-bit and ones whose offsets, sizes and counts point past the file, wrap or
# exceed the caps; every prefix of several files and of a real program gives a well-formed
# line and no crash (valgrind: no invalid read, when installed). The script's own od(1)
# reading, its fallback, gives the same facts for each. The mode facts (set-ID bits, owner).
# And `netcore run` refuses with the same words and exit status with the checker, without
# one (a copy of the script alone), with an installed one, and with one that crashes or
# prints nonsense; a program it accepts gets the library (and a sanitizer build's runtimes
# first) in LD_PRELOAD. No root needed: `run --ns ''` stays in this namespace.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/netns.sh
. "$(dirname "$0")/lib/netns.sh"

checker=$NC_TOP/tools/netcore-elfcheck
lib=$NETCORE_LIBDIR/libnetcore.so
[ -x "$checker" ] || { echo "ERROR: tools/netcore-elfcheck not built" >&2; exit 99; }
[ -f "$lib" ] || { echo "ERROR: $lib not built" >&2; exit 99; }
command -v python3 >/dev/null || nc_skip "python3 not installed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/elf" "$tmp/cut"

# 1. The facts of each crafted file, all in one run of the checker.
python3 "$NC_SRC/tests/lib/elfgen.py" "$tmp/elf" >"$tmp/want"
mapfile -t names < <(cut -d' ' -f1 "$tmp/want")
out=$(cd "$tmp/elf" && "$checker" -- "${names[@]}") || fail "netcore-elfcheck: exit $?"
paste -d' ' <(printf '%s\n' "${names[@]}") <(cut -d' ' -f1-6 <<<"$out") >"$tmp/got"
diff "$tmp/want" "$tmp/got" >&2 || fail "netcore-elfcheck's facts differ from elfgen.py's (above)"
echo "ok: ${#names[@]} crafted files, each with the facts it should have"

# 2. Every prefix of some of them and the first 8 KiB of a real program, then the whole of
#    it: one line of eleven numbers each, and no crash.
cut_all() {  # cut_all FILE MAX: FILE cut at every length up to MAX into $tmp/cut
    python3 - "$1" "$2" "$tmp/cut/${1##*/}" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
for n in range(min(len(data), int(sys.argv[2])) + 1):
    open("%s.%05d" % (sys.argv[3], n), "wb").write(data[:n])
PY
}
for f in go_section asan64 ubsan32 be_ppc64_go note_truncated; do
    cut_all "$tmp/elf/$f" 100000
done
cut_all "$checker" 8192
mapfile -t cuts < <(cd "$tmp/cut" && ls)
rc=0
out=$(cd "$tmp/cut" && "$checker" -- "${cuts[@]}" "$checker") || rc=$?
[ "$rc" -eq 0 ] || fail "netcore-elfcheck on the cut files: exit $rc"
n=$(grep -cE '^[0-9]+( [0-9]+){10}$' <<<"$out") || true
[ "$n" -eq $((${#cuts[@]} + 1)) ] ||
    fail "$n well-formed lines for $((${#cuts[@]} + 1)) files"
# A prefix is never more than the file: no Go note or PT_INTERP appears where the whole has none.
[ "$(tail -n 1 <<<"$out" | cut -d' ' -f1-5)" = "1 $(od -An -tu1 -j4 -N1 "$checker" | tr -d ' ') \
$(od -An -tu2 -j18 -N2 "$checker" | tr -d ' ') 1 0" ] ||
    fail "the checker's own facts: $(tail -n 1 <<<"$out")"
echo "ok: ${#cuts[@]} cut files and the whole checker: well-formed facts, no crash"

# Not on a sanitizer build's checker (build --enable-sanitize): ASan and valgrind exclude
# each other, and ASan has been watching every run above.
if command -v valgrind >/dev/null && ! ldd "$checker" | grep -q 'libasan\.so'; then
    (cd "$tmp/elf" && valgrind -q --error-exitcode=9 "$checker" -- "${names[@]}") \
        >/dev/null 2>"$tmp/vg" || { cat "$tmp/vg" >&2; fail "valgrind: the checker erred"; }
    mapfile -t some < <(printf '%s\n' "${cuts[@]}" | awk 'NR % 7 == 0')
    (cd "$tmp/cut" && valgrind -q --error-exitcode=9 "$checker" -- "${some[@]}") \
        >/dev/null 2>"$tmp/vg" || { cat "$tmp/vg" >&2; fail "valgrind: the checker erred"; }
    echo "ok: valgrind: no error on the crafted files and ${#some[@]} cut ones"
fi

# 3. The script's od(1) reading agrees: the script, sourced, defines its functions only; with
#    no checker found, run_facts reads with od. Every crafted file, and every 29th cut one.
mapfile -t some < <(printf '%s\n' "${cuts[@]}" | awk 'NR % 29 == 1')
# shellcheck disable=SC2016 # the inner script's own variables
bash -c '
    . "$1"   # the script, sourced: its functions only
    lib=$2
    shift 2
    elfcheck_bin() { REPLY=; }   # as where no checker is found
    for f; do
        run_facts "$lib" "$f"
        echo "$P_ELF $P_CLASS $P_MACHINE $P_INTERP $P_GO $P_SUID $P_SGID $P_UID $P_GID"
    done
' sh "$NC_SRC/netcore" "$lib" "${names[@]/#/$tmp/elf/}" "${some[@]/#/$tmp/cut/}" "$checker" \
    "$lib" >"$tmp/sh" || fail "the script's od reading failed"
for f in "${names[@]/#/$tmp/elf/}" "${some[@]/#/$tmp/cut/}" "$checker" "$lib"; do
    "$checker" -- "$f" | cut -d' ' -f1-5,7-10
done >"$tmp/c" || fail "netcore-elfcheck failed"
paste -d'|' <(printf '%s\n' "${names[@]}" "${some[@]}" checker lib) "$tmp/c" "$tmp/sh" |
    awk -F'|' '$2 != $3 { print "differ: " $0; bad = 1 } END { exit bad }' >&2 ||
    fail "the script's od reading and netcore-elfcheck differ (name|checker|script)"
echo "ok: the script's od reading agrees on $(wc -l <"$tmp/c") files"

# 4. Mode facts: set-user-ID and set-group-ID bits and the owner; no capabilities on a plain
#    copy (CAPS 0 where the file system can tell).
cp "$checker" "$tmp/suid"
chmod 6755 "$tmp/suid"
read -r -a m < <("$checker" -- "$tmp/suid")
[ "${m[6]} ${m[7]} ${m[8]} ${m[9]}" = "1 1 $(id -u) $(id -g)" ] ||
    fail "mode facts of a 6755 copy: ${m[*]}"
chmod 755 "$tmp/suid"
read -r -a m < <("$checker" -- "$tmp/suid")
[ "${m[6]} ${m[7]}" = "0 0" ] || fail "mode facts of a 755 copy: ${m[*]}"
echo "ok: set-ID bits and owner: ${m[*]}"

# 5. netcore run: the same refusal whichever way the facts come. A copy of the script alone
#    finds no checker; copies "installed" with a checker in LIBEXECDIR: the real one behind a
#    wrapper that notes its run, one that crashes, one that prints nonsense.
mkdir -p "$tmp/bin" "$tmp/real" "$tmp/crash" "$tmp/junk"
cp "$NC_SRC/netcore" "$tmp/bin/alone"
printf '#!/bin/sh\necho ran >>"%s"\nexec "%s" "$@"\n' "$tmp/real/ran" "$checker" \
    >"$tmp/real/netcore-elfcheck"
printf '#!/bin/sh\nkill -SEGV $$\n' >"$tmp/crash/netcore-elfcheck"
printf '#!/bin/sh\necho "1 2 62 1 0 0 0"\n' >"$tmp/junk/netcore-elfcheck"
chmod 755 "$tmp"/*/netcore-elfcheck
for d in real crash junk; do
    sed "s|^NETCORE_INSTALLED_LIBEXECDIR=.*|NETCORE_INSTALLED_LIBEXECDIR='$tmp/$d'|" \
        "$NC_SRC/netcore" >"$tmp/bin/$d"
done
chmod 755 "$tmp"/bin/*
chmod 755 "$tmp"/elf/*
for f in static64 go_static elf32_i386 phnum_257; do
    want=''
    for s in "$NC_SRC/netcore" "$tmp/bin/alone" "$tmp/bin/real" "$tmp/bin/crash" \
             "$tmp/bin/junk"; do
        rc=0
        err=$("$s" run --ns '' -- "$tmp/elf/$f" 2>&1 >/dev/null) || rc=$?
        [ "$rc" -eq 126 ] || fail "${s##*/} run $f: exit $rc, want 126 (refused): $err"
        grep -qF -- 'pass --allow-kernel' <<<"$err" || fail "${s##*/} run $f: $err"
        err=${err/#"netcore run: "/}
        [ -n "$want" ] || want=$err
        [ "$err" = "$want" ] || fail "${s##*/} run $f says '$err', the tree's script '$want'"
    done
    echo "ok: $f refused alike by each: $want"
done
[ -s "$tmp/real/ran" ] || fail "the installed copy did not run its checker"
echo "ok: the installed copy ran the checker in its libexec directory"

# A program it lets run gets the library, after the sanitizer runtimes a sanitizer build
# needs (ldd's answer, looked for only when the checker sees them among DT_NEEDED).
san=$(ldd "$lib" 2>/dev/null | awk '/lib(asan|ubsan)\.so/ { printf "%s:", $3 }')
for s in "$NC_SRC/netcore" "$tmp/bin/alone" "$tmp/bin/real"; do
    got=$(env -u LD_PRELOAD "$s" run --ns '' -- printenv LD_PRELOAD) ||
        fail "${s##*/} run printenv: exit $?"
    [ "$got" = "$san$lib" ] || fail "${s##*/} run: LD_PRELOAD=$got, want $san$lib"
done
echo "ok: printenv runs with LD_PRELOAD=$san$lib"

echo "PASS: test_run_elfcheck"
