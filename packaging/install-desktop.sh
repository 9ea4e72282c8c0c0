#!/bin/sh
# Install ckpt-browser's desktop integration for the current user: the menu entry, the icon, the
# AppStream metadata and the file types (checkpoint .index and .data-* files, .meta graphs), so
# that a file manager opens checkpoints with the program. Nothing outside the user's data folder
# (${XDG_DATA_HOME:-~/.local/share}) is touched; --uninstall removes what this put there.
#
#   sh packaging/install-desktop.sh                  # the ckpt-browser on PATH, or .venv's
#   sh packaging/install-desktop.sh --exec PATH      # a given executable
#   sh dist/ckpt-browser/install-desktop.sh          # the standalone build (copied in there)
#   sh packaging/install-desktop.sh --uninstall
#
# Plain POSIX sh, so that it runs where the standalone build runs, with no Python around.
set -eu

APP_ID=io.github.ckpt_browser.ckpt_browser
ICON_SIZES="16 24 32 48 64 128 256"
HERE=$(cd "$(dirname "$0")" && pwd)

usage() {
    sed -n '2,11s/^# \{0,1\}//p' "$0"
    exit "$1"
}

fail() {
    echo "error: $*" >&2
    exit 2
}

executable=""
resources=""
action=install
while [ $# -gt 0 ]; do
    case "$1" in
        --exec) [ $# -ge 2 ] || fail "--exec needs a path"; executable=$2; shift 2 ;;
        --resources) [ $# -ge 2 ] || fail "--resources needs a folder"; resources=$2; shift 2 ;;
        --uninstall) action=uninstall; shift ;;
        -h | --help) usage 0 ;;
        *) echo "error: unknown argument '$1'" >&2; usage 2 ;;
    esac
done

data_home=${XDG_DATA_HOME:-$HOME/.local/share}
applications=$data_home/applications
icons=$data_home/icons/hicolor
mime=$data_home/mime
metainfo=$data_home/metainfo

# Run an optional cache tool when the system has it; the files work without, only more slowly
# or after the next login.
refresh_caches() {
    if command -v update-mime-database >/dev/null 2>&1; then
        update-mime-database "$mime"
    else
        echo "note: update-mime-database (shared-mime-info) is missing; file types need it" >&2
    fi
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database "$applications"
    fi
    # Only refresh an icon cache that exists: a cache made here would hide icons that other
    # programs later install without refreshing it.
    touch "$icons"
    if [ -f "$icons/icon-theme.cache" ] && command -v gtk-update-icon-cache >/dev/null 2>&1; then
        gtk-update-icon-cache --quiet --force --ignore-theme-index "$icons"
    fi
}

if [ "$action" = uninstall ]; then
    rm -f "$applications/$APP_ID.desktop" "$metainfo/$APP_ID.metainfo.xml" \
        "$mime/packages/$APP_ID.xml" "$icons/scalable/apps/$APP_ID.svg"
    for size in $ICON_SIZES; do
        rm -f "$icons/${size}x${size}/apps/$APP_ID.png"
    done
    mkdir -p "$applications" "$mime/packages" "$icons"
    refresh_caches
    echo "removed ckpt-browser's desktop integration from $data_home"
    exit 0
fi

# The resources: given, beside a standalone build, or in the checkout this script belongs to.
if [ -z "$resources" ]; then
    for candidate in "$HERE/_internal/ckpt_browser/resources" "$HERE/../resources"; do
        if [ -f "$candidate/$APP_ID.desktop" ]; then
            resources=$(cd "$candidate" && pwd)
            break
        fi
    done
fi
if [ -z "$resources" ] || [ ! -f "$resources/$APP_ID.desktop" ]; then
    fail "cannot find $APP_ID.desktop; give the resources folder with --resources DIR"
fi

# The program the menu entry and the file types start: given, the standalone build beside this
# script, the one on PATH, or the checkout's virtual environment.
if [ -z "$executable" ]; then
    for candidate in "$HERE/ckpt-browser" "$(command -v ckpt-browser || true)" \
        "$HERE/../.venv/bin/ckpt-browser"; do
        if [ -n "$candidate" ] && [ -f "$candidate" ] && [ -x "$candidate" ]; then
            executable=$candidate
            break
        fi
    done
fi
[ -n "$executable" ] || fail "cannot find ckpt-browser; give it with --exec PATH"
if [ ! -f "$executable" ] || [ ! -x "$executable" ]; then
    fail "$executable is not an executable file"
fi
executable=$(cd "$(dirname "$executable")" && pwd)/$(basename "$executable")
# The Exec key quotes the path; these characters would need escapes of their own there.
case "$executable" in
    *[\"\`\$\\%]*) fail "the path $executable has a character a .desktop Exec key cannot hold" ;;
esac

mkdir -p "$applications" "$metainfo" "$mime/packages" "$icons/scalable/apps"
sed -e "s|^Exec=ckpt-browser|Exec=\"$executable\"|" -e "s|^TryExec=.*|TryExec=$executable|" \
    "$resources/$APP_ID.desktop" >"$applications/$APP_ID.desktop"
cp "$resources/$APP_ID.metainfo.xml" "$metainfo/$APP_ID.metainfo.xml"
cp "$resources/$APP_ID.mime.xml" "$mime/packages/$APP_ID.xml"
cp "$resources/icons/ckpt-browser.svg" "$icons/scalable/apps/$APP_ID.svg"
for size in $ICON_SIZES; do
    mkdir -p "$icons/${size}x${size}/apps"
    cp "$resources/icons/ckpt-browser-$size.png" "$icons/${size}x${size}/apps/$APP_ID.png"
done
refresh_caches
echo "installed ckpt-browser's desktop integration in $data_home, starting $executable"
