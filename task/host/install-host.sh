#!/bin/sh
# Installs pg-s3-backup's host recipe for one database, as a deploy script would (in the
# spirit of the old after_install.sh that installed the cron line). Idempotent: run it again
# for each database, or after an upgrade; an existing environment file is never overwritten.
#
#   sudo task/host/install-host.sh <database>          systemd timer (the default)
#   sudo task/host/install-host.sh <database> --cron   an /etc/cron.d line instead
#
# Needs the CLI installed first: npm install -g ./pg-s3-backup-<version>.tgz
# DESTDIR=<dir> stages the files under <dir> (packaging, tests): no user is created, nothing
# is chowned and systemd is not told.
set -eu
umask 022

usage() { echo "usage: $0 <database> [--cron]" >&2; exit 2; }
[ $# -ge 1 ] || usage
DB=$1
MODE=systemd
[ $# -lt 2 ] || { [ "$2" = --cron ] && MODE=cron; } || usage
# One name serves as a systemd instance, a file name and a cron line word: keep it plain.
case "$DB" in
  '' | -* | *[!A-Za-z0-9_.-]*) echo "$0: database name '$DB' must be letters, digits, '_', '.' or '-' (rename the unit for others)" >&2; exit 2 ;;
esac

HERE=$(cd "$(dirname "$0")" && pwd)
D=${DESTDIR:-}
USER_NAME=pg-s3-backup
ETC=$D/etc/pg-s3-backup
LOGS=$D/var/log/pg-s3-backup

own() { [ -n "$D" ] || chown "$@"; }

if [ -z "$D" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "$0: run as root (it creates a system user and installs units)" >&2; exit 2; }
  command -v pg-s3-backup >/dev/null 2>&1 || echo "$0: warning: pg-s3-backup is not on PATH yet: npm install -g ./pg-s3-backup-<version>.tgz" >&2
  # A system user with no shell, no home and no password: it only runs the CLI.
  getent passwd "$USER_NAME" >/dev/null || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin --user-group "$USER_NAME"
fi

# /etc/pg-s3-backup: root writes it, the backup user reads it, nobody else sees it.
install -d -m 0750 "$ETC"
own "root:$USER_NAME" "$ETC"
ENV_FILE=$ETC/$DB.env
if [ ! -e "$ENV_FILE" ]; then
  install -m 0600 /dev/null "$ENV_FILE"
  cat >>"$ENV_FILE" <<ENV
# pg-s3-backup settings for the database '$DB' (pg-s3-backup backup --help lists them all).
# Root-owned, readable by the $USER_NAME group only: it may name credentials.
PGDATABASE=$DB
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
# Chat: incoming webhook URLs (Slack, Mattermost), separated by spaces.
#BACKUP_WEBHOOK_URLS=https://hooks.slack.com/services/<T>/<B>/<secret>
# Prometheus: node_exporter's textfile collector directory, writable by $USER_NAME
# (setfacl -m u:$USER_NAME:rwx /var/lib/prometheus/node-exporter); one file for every database.
#BACKUP_METRICS_FILE=/var/lib/prometheus/node-exporter/pg-s3-backup.prom
ENV
  own "root:$USER_NAME" "$ENV_FILE"
  chmod 0640 "$ENV_FILE"
  echo "Wrote $ENV_FILE: set BACKUP_BUCKET and the connection." >&2
fi
PASSFILE=$ETC/pgpass
if [ ! -e "$PASSFILE" ]; then
  install -m 0600 /dev/null "$PASSFILE"
  own "$USER_NAME:$USER_NAME" "$PASSFILE"
  echo "Created $PASSFILE (0600): add host:port:database:user:password lines." >&2
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
  LINE=$(grep '^0 4 ' "$HERE/pg-s3-backup.cron" | sed "s/DATABASE/$DB/g")
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
