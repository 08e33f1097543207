#!/bin/sh
# Installs pg-s3-backup's host recipe for one database, or for every database of a server, as
# a deploy script would (in the spirit of the old after_install.sh that installed the cron
# line). Idempotent: run it again for each database, or after an upgrade; an existing
# environment file is never replaced (only the settings given below are set in it).
#
#   sudo task/host/install-host.sh <database>          systemd timer (the default)
#   sudo task/host/install-host.sh <database> --cron   an /etc/cron.d line instead
#   sudo task/host/install-host.sh --all-databases     one instance, 'all', for every database
#                                                      (--all-databases <name>: another name)
# Options, for either:
#   --ping-url-from FILE|-    BACKUP_PING_URL from the first line of FILE, or of stdin ('-'; on a
#                             terminal it is asked for and not echoed). Never given on the command
#                             line, never printed: the URL carries a token.
#   --metrics-file PATH       BACKUP_METRICS_FILE, a *.prom file in node_exporter's textfile directory.
#
# Needs the CLI installed first: npm install -g ./pg-s3-backup-<version>.tgz
# DESTDIR=<dir> stages the files under <dir> (packaging, tests): no user is created, nothing
# is chowned and systemd is not told.
set -eu
umask 022

usage() {
  echo "usage: $0 <database> [--cron] [--ping-url-from FILE|-] [--metrics-file PATH]" >&2
  echo "       $0 --all-databases [<name>] [--cron] [--ping-url-from FILE|-] [--metrics-file PATH]" >&2
  exit 2
}
DB=
ALL=
MODE=systemd
PING_FROM=
METRICS_FILE=
while [ $# -gt 0 ]; do
  case "$1" in
    --cron) MODE=cron ;;
    --all-databases) ALL=1 ;;
    --ping-url-from) [ $# -ge 2 ] || usage; PING_FROM=$2; shift ;;
    --metrics-file) [ $# -ge 2 ] || usage; METRICS_FILE=$2; shift ;;
    # Not an option: a URL on a command line is seen by every user (ps, /proc) and kept in shell history.
    --ping-url | --ping-url=*) echo "$0: the ping URL is not taken on the command line (it carries a token): use --ping-url-from - and paste it, or --ping-url-from FILE" >&2; exit 2 ;;
    -?*) usage ;;
    *) [ -z "$DB" ] || usage; DB=$1; [ -n "$DB" ] || usage ;;
  esac
  shift
done
if [ -n "$ALL" ]; then DB=${DB:-all}; fi
[ -n "$DB" ] || usage
# One name serves as a systemd instance, a file name and a cron line word: keep it plain.
case "$DB" in
  '' | -* | *[!A-Za-z0-9_.-]*) echo "$0: database name '$DB' must be letters, digits, '_', '.' or '-' (rename the unit for others)" >&2; exit 2 ;;
esac

# Root first, before a URL is asked for.
if [ -z "${DESTDIR:-}" ] && [ "$(id -u)" -ne 0 ]; then
  echo "$0: run as root (it creates a system user and installs units)" >&2
  exit 2
fi

# The settings given, read and checked before anything is written; every problem is listed at once.
PROBLEMS=
problem() { PROBLEMS="$PROBLEMS
  - $1"; }
PING_URL=
PING_READ=
if [ -n "$PING_FROM" ]; then
  PING_READ=1
  if [ "$PING_FROM" = - ]; then
    if [ -t 0 ]; then
      printf 'Ping URL (not shown): ' >&2
      stty -echo
      trap 'stty echo' EXIT INT TERM
      IFS= read -r PING_URL || true
      stty echo
      trap - EXIT INT TERM
      echo >&2
    else
      IFS= read -r PING_URL || true
    fi
  elif [ -r "$PING_FROM" ] && [ -f "$PING_FROM" ]; then
    IFS= read -r PING_URL <"$PING_FROM" || true
  else
    problem "--ping-url-from: cannot read the file '$PING_FROM'"
    PING_READ=
  fi
  # No message below shows the URL: it carries the check's token.
  if [ -z "$PING_URL" ]; then
    [ -z "$PING_READ" ] || problem "--ping-url-from $PING_FROM: its first line is empty; give the check's ping URL, e.g. https://hc-ping.com/<uuid>"
  else
    case "$PING_URL" in
      https://?* | http://?*) ;;
      *) problem "--ping-url-from $PING_FROM: the ping URL must start with https:// (or http://)" ;;
    esac
    # The environment file is read by systemd and, for the cron line, by sh: these characters
    # need no quoting in either (no space, quote, \$, \`, ;, &, # or backslash).
    case "$PING_URL" in
      *[!A-Za-z0-9._~:/?@%+=,-]*) problem "--ping-url-from $PING_FROM: the ping URL holds a character other than letters, digits and . _ ~ : / ? @ % + = , - (percent-encode it)" ;;
    esac
    AUTHORITY=${PING_URL#*://}
    case "${AUTHORITY%%/*}" in
      *@*) problem "--ping-url-from $PING_FROM: the ping URL holds a user or password (user:password@), which pg-s3-backup refuses" ;;
    esac
  fi
fi
if [ -n "$METRICS_FILE" ]; then
  case "$METRICS_FILE" in
    /*.prom) ;;
    *) problem "--metrics-file '$METRICS_FILE' must be an absolute path ending in .prom (node_exporter's textfile collector reads only *.prom)" ;;
  esac
  case "$METRICS_FILE" in
    *[!A-Za-z0-9._/-]*) problem "--metrics-file '$METRICS_FILE' must be letters, digits, '_', '.', '-' and '/'" ;;
  esac
fi

HERE=$(cd "$(dirname "$0")" && pwd)
D=${DESTDIR:-}
USER_NAME=pg-s3-backup
ETC=$D/etc/pg-s3-backup
LOGS=$D/var/log/pg-s3-backup
ENV_FILE=$ETC/$DB.env
# An environment file of one database is not turned into an all-databases one behind its owner's back.
if [ -n "$ALL" ] && [ -e "$ENV_FILE" ] && ! grep -qiE '^BACKUP_ALL_DATABASES=(1|true|yes|on)$' "$ENV_FILE"; then
  problem "$ENV_FILE exists and is not an all-databases file (no BACKUP_ALL_DATABASES=1): add that line and remove PGDATABASE=$DB, or choose another name (--all-databases <name>)"
fi
if [ -n "$PROBLEMS" ]; then
  echo "$0: nothing was installed:$PROBLEMS" >&2
  exit 2
fi

own() { [ -n "$D" ] || chown "$@"; }

# Sets NAME=VALUE in an environment file, VALUE given in the variable SETTING_VALUE (never on a
# command line: awk reads it from its environment). Every active NAME= line is replaced by one,
# else the first commented #NAME= line, else it is appended. The file is rewritten beside
# itself, 0600 until it has the original's owner and mode, then renamed over it.
set_setting() {
  tmp=$1.new.$$
  trap 'rm -f "$tmp"' EXIT
  install -m 0600 /dev/null "$tmp"
  awk -v name="$2" '
    BEGIN { v = ENVIRON["SETTING_VALUE"] }
    $0 ~ "^" name "=" { if (!done) print name "=" v; done = 1; next }
    !done && $0 ~ "^#" name "=" { print name "=" v; done = 1; next }
    { print }
    END { if (!done) print name "=" v }
  ' "$1" >>"$tmp"
  chmod --reference="$1" "$tmp"
  [ -n "$D" ] || chown --reference="$1" "$tmp"
  mv -f "$tmp" "$1"
  trap - EXIT
}

if [ -z "$D" ]; then
  command -v pg-s3-backup >/dev/null 2>&1 || echo "$0: warning: pg-s3-backup is not on PATH yet: npm install -g ./pg-s3-backup-<version>.tgz" >&2
  # A system user with no shell, no home and no password: it only runs the CLI.
  getent passwd "$USER_NAME" >/dev/null || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group "$USER_NAME"
fi

# /etc/pg-s3-backup: root writes it, the backup user reads it, nobody else sees it.
install -d -m 0750 "$ETC"
own "root:$USER_NAME" "$ETC"
if [ ! -e "$ENV_FILE" ]; then
  install -m 0600 /dev/null "$ENV_FILE"
  if [ -n "$ALL" ]; then
    cat >>"$ENV_FILE" <<ENV
# pg-s3-backup settings for every database of the server, instance '$DB' (pg-s3-backup backup --help lists them all).
# Root-owned, readable by the $USER_NAME group only: it may name credentials.
# Every database the user may connect to, each an ordinary backup under <prefix>/<database>/;
# templates and databases without CONNECT are skipped and logged (docs/cli.md, All databases).
BACKUP_ALL_DATABASES=1
# Where the list of databases is read, not what is backed up (without it: postgres).
#PGDATABASE=postgres
# Databases to leave out (pg_dumpall --exclude-database patterns, comma-separated):
#BACKUP_EXCLUDE_DATABASE=scratch_*,tmp_*
ENV
  else
    cat >>"$ENV_FILE" <<ENV
# pg-s3-backup settings for the database '$DB' (pg-s3-backup backup --help lists them all).
# Root-owned, readable by the $USER_NAME group only: it may name credentials.
PGDATABASE=$DB
ENV
  fi
  cat >>"$ENV_FILE" <<ENV
# The server: a socket directory or a host name, the user, and TLS for a remote server.
PGHOST=/var/run/postgresql
PGUSER=backup
#PGSSLMODE=verify-full
# The password is never in this file's variables or on a command line: a passfile, 0600, owned by $USER_NAME.
PGPASSFILE=/etc/pg-s3-backup/pgpass
BACKUP_BUCKET=change-me
AWS_REGION=eu-west-1
# Keys are <prefix>/<database>/<YYYYMMDDHHmm>.dump; without a prefix, <database>/<YYYYMMDDHHmm>.dump, as the cron line made them.
#BACKUP_PREFIX=
# AWS credentials: the instance's role on EC2, or a credentials file only $USER_NAME can read.
#AWS_SHARED_CREDENTIALS_FILE=/etc/pg-s3-backup/aws-credentials
# What to leave out (pg_dump patterns, comma-separated):
#BACKUP_EXCLUDE_TABLE_DATA=public.audit_log,public.sessions
# Dead man's switch: a healthchecks.io check (period 1 day, grace 1 hour) and its ping URL;
# pinged at the start, on success, and at /fail with the cause. The URL is a secret: keep it here.
#BACKUP_PING_URL=https://hc-ping.com/<uuid>
# Chat: incoming webhook URLs (Slack, Mattermost). Several: separated by spaces, and then in
# double quotes (the cron line reads this file with sh, where an unquoted space would run the
# second URL as a command and print it).
#BACKUP_WEBHOOK_URLS="https://hooks.slack.com/services/<T>/<B>/<secret> https://chat.example.com/hooks/<secret>"
# Prometheus: node_exporter's textfile collector directory, writable by $USER_NAME
# (setfacl -m u:$USER_NAME:rwx /var/lib/prometheus/node-exporter); one file for every database.
#BACKUP_METRICS_FILE=/var/lib/prometheus/node-exporter/pg-s3-backup.prom
ENV
  own "root:$USER_NAME" "$ENV_FILE"
  chmod 0640 "$ENV_FILE"
  echo "Wrote $ENV_FILE: set BACKUP_BUCKET and the connection." >&2
fi
if [ -n "$PING_URL" ]; then
  SETTING_VALUE=$PING_URL set_setting "$ENV_FILE" BACKUP_PING_URL
  echo "Set BACKUP_PING_URL in $ENV_FILE (not shown: it carries a token)." >&2
fi
if [ -n "$METRICS_FILE" ]; then
  SETTING_VALUE=$METRICS_FILE set_setting "$ENV_FILE" BACKUP_METRICS_FILE
  echo "Set BACKUP_METRICS_FILE=$METRICS_FILE in $ENV_FILE; its directory must be writable by $USER_NAME (setfacl -m u:$USER_NAME:rwx $(dirname "$METRICS_FILE"))." >&2
  # The unit's file system is read-only but for node_exporter's directory (ReadWritePaths=).
  [ "$MODE" != systemd ] || [ "$(dirname "$METRICS_FILE")" = /var/lib/prometheus/node-exporter ] ||
    echo "$0: warning: the service may write only in /var/lib/prometheus/node-exporter: for $(dirname "$METRICS_FILE"), add ReadWritePaths=$(dirname "$METRICS_FILE") with systemctl edit pg-s3-backup@$DB.service" >&2
fi
PASSFILE=$ETC/pgpass
if [ ! -e "$PASSFILE" ]; then
  install -m 0600 /dev/null "$PASSFILE"
  own "$USER_NAME:$USER_NAME" "$PASSFILE"
  if [ -n "$ALL" ]; then
    echo "Created $PASSFILE (0600): add a host:port:*:user:password line (* matches every database)." >&2
  else
    echo "Created $PASSFILE (0600): add host:port:database:user:password lines." >&2
  fi
fi

if [ "$MODE" = systemd ]; then
  UNITS=$D/etc/systemd/system
  install -d -m 0755 "$UNITS"
  for unit in pg-s3-backup@.service pg-s3-backup@.timer pg-s3-backup-failed@.service; do
    install -m 0644 "$HERE/$unit" "$UNITS/$unit"
  done
  if [ -z "$D" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable --now "pg-s3-backup@$DB.timer"
    echo "Enabled pg-s3-backup@$DB.timer: systemctl list-timers 'pg-s3-backup@*'; run one now with systemctl start pg-s3-backup@$DB" >&2
  else
    echo "Installed the units; enable with: systemctl enable --now pg-s3-backup@$DB.timer" >&2
  fi
else
  # The log directory: the backup user appends, the adm group reads (as /var/log does).
  install -d -m 0750 "$LOGS"
  own "$USER_NAME:adm" "$LOGS"
  CRON=$D/etc/cron.d/pg-s3-backup
  install -d -m 0755 "$D/etc/cron.d"
  [ -e "$CRON" ] || grep -v '^0 4 ' "$HERE/pg-s3-backup.cron" >"$CRON"
  LINE=$(grep '^0 4 ' "$HERE/pg-s3-backup.cron")
  # What cron mails names an all-databases run as such (its log's summary names each database).
  [ -z "$ALL" ] || LINE=$(printf '%s\n' "$LINE" | sed 's/the backup of DATABASE failed/the all-databases backup DATABASE failed/')
  LINE=$(printf '%s\n' "$LINE" | sed "s/DATABASE/$DB/g")
  grep -qxF "$LINE" "$CRON" || printf '%s\n' "$LINE" >>"$CRON"
  chmod 0644 "$CRON"
  # Rotate the logs weekly, as the old /tmp log never was.
  install -d -m 0755 "$D/etc/logrotate.d"
  cat >"$D/etc/logrotate.d/pg-s3-backup" <<ROTATE
/var/log/pg-s3-backup/*.log {
	weekly
	rotate 12
	compress
	delaycompress
	missingok
	notifempty
	create 0640 $USER_NAME adm
}
ROTATE
  echo "Added the cron line for $DB to $CRON (04:00 in the host's time zone: check it is UTC)." >&2
fi
