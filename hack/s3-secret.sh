#!/usr/bin/env bash
# Creates the seed's `aws` Secret (step 6 of the user story) for the local S3 server, and a
# bucket in it:
#   NAME: credentials, config   (AWS shared-file format, profile default; region in config)
#   usage: hack/s3-secret.sh [NAME=aws] [NAMESPACE=default] [BUCKET=etcd-bucket]
# Needs .local/env sourced (kubectl, and the AWS_* variables of the S3 server).
set -euo pipefail
name=${1:-aws}
ns=${2:-default}
bucket=${3:-etcd-bucket}
: "${AWS_ENDPOINT_URL_S3:?source .local/env first}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
  "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" >"$dir/credentials"
printf '[default]\nregion = %s\n' "$AWS_REGION" >"$dir/config"
kubectl -n "$ns" create secret generic "$name" --from-file=credentials="$dir/credentials" \
  --from-file=config="$dir/config" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

# CreateBucket, signed by curl. The key goes through a config file on stdin, not the command
# line (readable by every user); S3 wants the payload's hash, here that of an empty body.
empty_sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
answer=$(printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" |
  curl -sS -K - -X PUT --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
    -H "x-amz-content-sha256: $empty_sha256" -w '\n%{http_code}' "$AWS_ENDPOINT_URL_S3/$bucket")
code=${answer##*$'\n'}
if [ "$code" != 200 ] && [[ "$answer" != *BucketAlreadyOwnedByYou* ]]; then
  echo "s3-secret: creating bucket $bucket failed (HTTP $code): ${answer%$'\n'*}" >&2
  exit 1
fi
echo "s3-secret: secret $name in namespace $ns, bucket $bucket at $AWS_ENDPOINT_URL_S3" >&2
