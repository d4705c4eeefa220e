#!/usr/bin/env bash
# Deploy, inspect or tear down the ANB stack (cloudformation/anb.yaml).
#
#   cloudformation/deploy.sh create|update|outputs|delete [stack-name]
#
# Environment:
#   PARAMETERS_FILE  CLI-format parameters (default: cloudformation/parameters.json; start from
#                    parameters.example.json)
#   AWS_REGION / AWS_PROFILE  the usual AWS CLI settings
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TEMPLATE="$SCRIPT_DIR/anb.yaml"
PARAMETERS_FILE="${PARAMETERS_FILE:-$SCRIPT_DIR/parameters.json}"
DEFAULT_STACK_NAME="anb"

usage() {
  cat >&2 <<EOF
usage: $(basename "$0") create|update|outputs|delete [stack-name]

  create   create the stack (parameters from \$PARAMETERS_FILE) and wait for it
  update   update the stack with the current template and parameters, and wait
  outputs  print the stack outputs (LoadBalancerDNS, S3BucketName, ...)
  delete   empty the media bucket, delete the stack, and wait

stack-name defaults to "$DEFAULT_STACK_NAME"; PARAMETERS_FILE defaults to
$SCRIPT_DIR/parameters.json (copy parameters.example.json and edit it).
EOF
  exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
ACTION="$1"
STACK="${2:-$DEFAULT_STACK_NAME}"
case "$ACTION" in
  create | update | outputs | delete) ;;
  *) usage ;;
esac

command -v aws >/dev/null 2>&1 || { echo "error: the AWS CLI (aws) is not installed" >&2; exit 1; }

require_parameters() {
  if [[ ! -f "$PARAMETERS_FILE" ]]; then
    echo "error: $PARAMETERS_FILE not found; copy $SCRIPT_DIR/parameters.example.json and edit it" >&2
    exit 1
  fi
}

output() { # output <OutputKey>: one stack output value
  aws cloudformation describe-stacks --stack-name "$STACK" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}

print_outputs() {
  aws cloudformation describe-stacks --stack-name "$STACK" \
    --query "Stacks[0].Outputs[].[OutputKey, OutputValue]" --output table
}

delete_all_versions() { # for a versioned bucket: remove every version and delete marker
  local bucket="$1" kind objects
  for kind in Versions DeleteMarkers; do
    while :; do
      objects=$(aws s3api list-object-versions --bucket "$bucket" --max-items 500 \
        --query "${kind}[].{Key: Key, VersionId: VersionId}" --output json)
      [[ -z "$objects" || "$objects" == "null" || "$objects" == "[]" ]] && break
      aws s3api delete-objects --bucket "$bucket" \
        --delete "{\"Objects\": $objects, \"Quiet\": true}" >/dev/null
    done
  done
}

case "$ACTION" in
  create)
    require_parameters
    aws cloudformation create-stack --stack-name "$STACK" \
      --template-body "file://$TEMPLATE" --parameters "file://$PARAMETERS_FILE"
    echo "waiting for $STACK to be created (RDS alone takes ~10 minutes)..."
    aws cloudformation wait stack-create-complete --stack-name "$STACK"
    print_outputs
    ;;
  update)
    require_parameters
    set +e
    result=$(aws cloudformation update-stack --stack-name "$STACK" \
      --template-body "file://$TEMPLATE" --parameters "file://$PARAMETERS_FILE" 2>&1)
    status=$?
    set -e
    if [[ $status -ne 0 ]]; then
      if [[ "$result" == *"No updates are to be performed"* ]]; then
        echo "$STACK is already up to date"
        exit 0
      fi
      echo "$result" >&2
      exit "$status"
    fi
    echo "$result"
    echo "waiting for $STACK to be updated..."
    aws cloudformation wait stack-update-complete --stack-name "$STACK"
    print_outputs
    ;;
  outputs)
    print_outputs
    ;;
  delete)
    # CloudFormation cannot delete a non-empty bucket: empty it first.
    bucket=$(output S3BucketName)
    if [[ -n "$bucket" && "$bucket" != "None" ]]; then
      echo "emptying s3://$bucket ..."
      aws s3 rm "s3://$bucket" --recursive
      versioning=$(aws s3api get-bucket-versioning --bucket "$bucket" --query Status --output text)
      if [[ "$versioning" == "Enabled" || "$versioning" == "Suspended" ]]; then
        delete_all_versions "$bucket"
      fi
    fi
    aws cloudformation delete-stack --stack-name "$STACK"
    echo "waiting for $STACK to be deleted..."
    aws cloudformation wait stack-delete-complete --stack-name "$STACK"
    echo "$STACK deleted"
    ;;
esac
