#!/usr/bin/env bash
# Gatehouse kiosk launcher: wait until the Gatehouse URL answers, then run Debian's Chromium in
# kiosk mode on it, and start it again whenever it exits (a crash, or someone closing it).
# Started by gatehouse-kiosk.service (systemd user unit) or gatehouse-kiosk.desktop (autostart).
set -u

URL="${GATEHOUSE_URL:-http://127.0.0.1:5000/kiosk/}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
# A dedicated profile rather than --incognito: the sign-in cookie survives a Chromium restart
# (the guard's session still ends after GATE_KIOSK_IDLE_MINUTES on the server), and the kiosk's
# own settings stay apart from anything else run by this user. Nothing else is stored there.
PROFILE="${GATEHOUSE_PROFILE:-${XDG_STATE_HOME:-$HOME/.local/state}/gatehouse-kiosk}"
WAIT_STEP=2   # seconds between tries while the Gatehouse is not answering yet
RESTART_PAUSE=3  # seconds before starting Chromium again, so a crash loop does not spin

log() { printf 'gatehouse-kiosk: %s\n' "$*" >&2; }

wait_for_gatehouse() {
    local said=0
    # Any HTTP answer will do (the kiosk URL redirects to the sign-in page); only a refused or
    # timed-out connection means the server is not up yet.
    until curl --silent --output /dev/null --max-time 5 "$URL"; do
        if [ "$said" -eq 0 ]; then
            log "waiting for $URL"
            said=1
        fi
        sleep "$WAIT_STEP"
    done
}

if [ ! -x "$CHROMIUM" ]; then
    log "$CHROMIUM not found: apt-get install chromium"
    exit 1
fi
if ! command -v curl >/dev/null 2>&1; then
    log "curl not found: apt-get install curl"
    exit 1
fi
mkdir -p "$PROFILE"

child=0
stop() {
    if [ "$child" -ne 0 ]; then
        kill "$child" 2>/dev/null
        wait "$child" 2>/dev/null
    fi
    exit 0
}
trap stop INT TERM

while true; do
    wait_for_gatehouse
    # After a crash Chromium offers to "restore pages" in a bubble; a clean exit flag stops it.
    if [ -f "$PROFILE/Default/Preferences" ]; then
        sed -i -e 's/"exited_cleanly":false/"exited_cleanly":true/' \
               -e 's/"exit_type":"[A-Za-z]*"/"exit_type":"Normal"/' "$PROFILE/Default/Preferences"
    fi
    "$CHROMIUM" \
        --kiosk \
        --user-data-dir="$PROFILE" \
        --noerrdialogs \
        --disable-pinch \
        --overscroll-history-navigation=0 \
        --disable-features=TranslateUI \
        --check-for-update-interval=31536000 \
        --no-first-run \
        --disable-session-crashed-bubble \
        --autoplay-policy=no-user-gesture-required \
        "$URL" &
    child=$!
    wait "$child"
    status=$?
    child=0
    log "chromium exited ($status); starting it again in ${RESTART_PAUSE}s"
    sleep "$RESTART_PAUSE"
done
