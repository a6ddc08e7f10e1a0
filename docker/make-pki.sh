#!/bin/sh
# Makes the cluster secret and the control plane's TLS files for the compose
# cluster into DIR (once: an existing secret is kept): a CA, and one member
# certificate named for every member service, localhost and $RDMQ_HOST.
set -eu
dir=${1:?usage: make-pki.sh DIR}
cd "$dir"
[ -s cluster-secret ] && exit 0
umask 077
openssl rand -hex 32 > cluster-secret.tmp
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
# shellcheck disable=SC2086
openssl req -x509 $ec -keyout ca.key -out ca.pem -days 3650 -subj /CN=rdmq-compose-ca 2>/dev/null
# shellcheck disable=SC2086
openssl req $ec -keyout member.key -out member.csr -subj /CN=rdmq-member 2>/dev/null
names="DNS:localhost,IP:127.0.0.1"
for m in storage-0 storage-1 storage-2 broker-0 broker-1 gateway-0 gateway-1; do names="$names,DNS:$m"; done
case "${RDMQ_HOST:-}" in
  *[!0-9.]*) names="$names,DNS:$RDMQ_HOST" ;;
  ?*) names="$names,IP:$RDMQ_HOST" ;;
esac
printf 'subjectAltName=%s\n' "$names" > member.ext
openssl x509 -req -in member.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out member.pem -days 3650 -extfile member.ext 2>/dev/null
chmod 644 ca.pem member.pem
mv cluster-secret.tmp cluster-secret
