#!/usr/bin/env bash
# The man pages: each renders without a warning from man/groff, and says what
# the programs really do. Every option (and command) a page documents is in
# the program's --help, and every one in --help is in the page; every key of
# docs/ref/config.md is in porchlight.toml(5).
#
# Usage: man_check.sh MANDIR PORCHLIGHTD PORCHLIGHTCTL PORCHLIGHT_VAULT CONFIG_MD
set -uo pipefail

mandir=$1
declare -A program=([porchlightd.8]=$2 [porchlightctl.1]=$3 [porchlight-vault.1]=$4)
config_md=$5
passed=0
failed=0
check() {
    local what=$1 problem=$2
    if [ -z "$problem" ]; then
        passed=$((passed + 1))
    else
        echo "FAILED: $what: $problem" >&2
        failed=$((failed + 1))
    fi
}

# Words in bold (.B, .BR, .BI, .IB lines) of a page, as roff writes them: "\-" is "-".
bold_words() {
    grep -E '^\.(B|BR|BI|IB|OP) ' "$1" | sed -E 's/\\-/-/g; s/\\[%&]//g; s/^\.[A-Z]+ //' |
        tr ' ,"()[]|' '\n' | grep -E '^[a-z-][a-z0-9_.-]*$' | sort -u
}
# The long options of a page, and of a --help text.
page_options() { bold_words "$1" | grep -E '^--[a-z]' | sort -u; }
# (An option quoted with another program's name, "porchlightd --bus", is that one's.)
help_options() { grep -oE -- '(porchlightd )?--[a-z][a-z-]*' | grep -v '^porchlightd ' | sort -u; }
# The commands of a page (the tags of its COMMANDS section), and of a --help
# text (the first word of each line of its "Commands:" block).
page_commands() {
    awk '/^\.SH /{ in_cmds = ($2 == "COMMANDS"); next }
         in_cmds && prev == ".TP" { print $2 } { prev = $1 }' "$1" | sed 's/\\-/-/g' | sort -u
}
help_commands() {
    awk '/^Commands:/{ c = 1; next } /^[^ ]/{ c = 0 } c && /^  [a-z]/{ print $1 }' | sort -u
}

for page in porchlightd.8 porchlightctl.1 porchlight-vault.1 porchlight.toml.5; do
    file=$mandir/$page
    if [ ! -f "$file" ]; then
        check "$page exists" "missing in $mandir"
        continue
    fi
    warnings=$(MANWIDTH=80 man --warnings -l "$file" 2>&1 >/dev/null)
    check "$page renders without warnings" "$warnings"
    rendered=$(MANWIDTH=80 man -l "$file" 2>/dev/null)
    check "$page has NAME and SEE ALSO" \
        "$(grep -q '^NAME' <<<"$rendered" && grep -q '^SEE ALSO' <<<"$rendered" || echo "sections missing")"
    check "$page has every @VARIABLE@ filled in" "$(grep -o '@[A-Z]*@' "$file" | sort -u | paste -sd' ')"

    exe=${program[$page]:-}
    [ -n "$exe" ] || continue
    help=$("$exe" --help 2>&1)
    # Options: both ways.
    only_page=$(comm -23 <(page_options "$file") <(help_options <<<"$help") | paste -sd' ')
    only_help=$(comm -13 <(page_options "$file") <(help_options <<<"$help") | paste -sd' ')
    check "$page: its options exist in $(basename "$exe") --help" "${only_page:+not in --help: $only_page}"
    check "$page: documents every option of --help" "${only_help:+not in the page: $only_help}"
    # Commands: both ways, for the programs that have them.
    if grep -q '^Commands:' <<<"$help"; then
        only_page=$(comm -23 <(page_commands "$file") <(help_commands <<<"$help") | paste -sd' ')
        only_help=$(comm -13 <(page_commands "$file") <(help_commands <<<"$help") | paste -sd' ')
        check "$page: its commands exist in --help" "${only_page:+not in --help: $only_page}"
        check "$page: documents every command of --help" "${only_help:+not in the page: $only_help}"
    fi
done

# porchlight.toml(5) names every key of the configuration reference (the
# first column of its tables), in bold or in a section title ([camera.mask]).
keys=$(grep -oE '^\| `[a-z_]+`' "$config_md" | grep -oE '[a-z_]+' | sort -u)
page_keys=$({
    bold_words "$mandir/porchlight.toml.5"
    grep -E '^\.SS ' "$mandir/porchlight.toml.5" | tr '[].' '\n\n\n'
} | sort -u)
missing=$(comm -23 <(echo "$keys") <(echo "$page_keys") | paste -sd' ')
check "porchlight.toml(5) has every key of config.md ($(wc -w <<<"$keys") keys)" "${missing:+missing: $missing}"

echo "$passed passed, $failed failed"
test "$failed" = 0
