#!/bin/bash
# openclaw-remote setup from an MDM (Jamf, Kandji, ...), run as root, for the console user.
# Jamf script parameters: $4 Gateway host, $5 Gateway user, $6 (optional) the token file.
# The token is not a parameter: Jamf passes parameters on the script's command line, which `ps`
# shows. Deliver it as a root-only file (a package, your secret store's agent); it goes from
# there to the wizard's standard input, never onto a command line.
set -euo pipefail
host="${4:?Gateway host}" remote_user="${5:?Gateway user}"
token_file="${6:-/Library/Application Support/openclaw-remote/gateway-token}"
if [ "$(stat -f %u:%Lp "$token_file")" != "0:600" ]; then
    echo "$token_file: must exist, belong to root, mode 0600" >&2; exit 78
fi
user=$(stat -f %Su /dev/console)            # the user logged in at the screen
if [ -z "$user" ] || [ "$user" = root ] || [ "$user" = loginwindow ]; then
    echo "nobody is logged in: try again at login" >&2; exit 75   # no GUI session yet
fi
uid=$(id -u "$user")
wizard="/Users/$user/.local/bin/openclaw-remote"   # installed with pipx for that user
# In the user's launchd (GUI) session, as the user: their files, their Keychain, their agents.
# stdout is the JSON report (the MDM's log keeps it); the exit code is the wizard's.
launchctl asuser "$uid" sudo -u "$user" -H "$wizard" setup --yes --json --token-stdin \
    --host "$host" --user "$remote_user" --accept-host-key < "$token_file"
