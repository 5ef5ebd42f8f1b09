# bash completion for porchlightctl: commands, options, and camera ids asked
# of the running daemon (nothing is offered when it does not answer).

_porchlightctl_cameras() {
    local bus=$1
    # The JSON is one key per line; this avoids needing jq on the device.
    porchlightctl ${bus:+"$bus"} --json cameras 2>/dev/null |
        sed -n 's/^ *"id": *"\([^"]*\)".*/\1/p'
}

# COMPREPLY from the words in $1 that start with $2.
_porchlightctl_reply() {
    mapfile -t COMPREPLY < <(compgen -W "$1" -- "$2")
}

_porchlightctl() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        # Sourced by hand, without the bash-completion package.
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi

    local commands='status cameras retention recordings events ring reload setup-code'
    local global='--user --json --help --version'

    case $prev in
        --days | --bytes)
            _porchlightctl_reply 'none' "$cur"
            return
            ;;
        --since | --until)
            _porchlightctl_reply 'today yesterday now 1h 1d 1w' "$cur"
            return
            ;;
    esac

    # The command and the arguments after it, skipping options and their values.
    local i command='' bus='' args=0
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in
            --user) bus=--user ;;
            --days | --bytes | --since | --until) ((i++)) ;;
            -*) ;;
            *)
                if [[ -z $command ]]; then
                    command=${words[i]}
                else
                    ((args++))
                fi
                ;;
        esac
    done

    if [[ -z $command ]]; then
        _porchlightctl_reply "$commands $global" "$cur"
        return
    fi

    local options=''
    case $command in
        retention) options='--days --bytes' ;;
        recordings | events) options='--since --until' ;;
    esac
    if [[ $cur == -* ]]; then
        _porchlightctl_reply "$options --user --json" "$cur"
        return
    fi
    case $command in
        retention | recordings | events | ring)
            if ((args == 0)); then
                _porchlightctl_reply "$(_porchlightctl_cameras "$bus")" "$cur"
                return
            fi
            ;;
    esac
    _porchlightctl_reply "$options" "$cur"
} && complete -F _porchlightctl porchlightctl
