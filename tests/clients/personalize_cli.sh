#!/usr/bin/env bash
# Drives an openpersonalize server with the AWS CLI (`aws` on PATH), as a user's shell script would:
# list/describe/paginate, create/delete, tags, GetRecommendations with filters, GetPersonalizedRanking,
# PutEvents, and errors surfacing as the AWS exception codes. Outputs are parsed with the CLI's own
# --query (JMESPath). Stops at the first failure; ends with the line "N passed, M failed".
#
# Environment (tests/test_clients.py sets it from resources it trained): OP_ENDPOINT, OP_REGION,
# OP_ACCESS_KEY_ID, OP_SECRET_ACCESS_KEY, OP_DATASET_GROUP_ARN, OP_SOLUTION_ARN, OP_SOLUTION_VERSION_ARN,
# OP_CAMPAIGN_ARN, OP_RANKING_CAMPAIGN_ARN, OP_GENRE_FILTER_ARN (INCLUDE ... GENRE IN ($GENRE)),
# OP_NO_COMEDY_FILTER_ARN, OP_EVENT_TRACKER_ARN, OP_TRACKING_ID, OP_COMEDY_USER, OP_DRAMA_USER,
# OP_COMEDY_ITEMS, OP_DRAMA_ITEMS (space-separated item ids of each genre).
set -uo pipefail

export AWS_ACCESS_KEY_ID="$OP_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$OP_SECRET_ACCESS_KEY"
export AWS_DEFAULT_REGION="$OP_REGION" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard AWS_PAGER=""
unset AWS_PROFILE AWS_SESSION_TOKEN

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ERR="$TMP/stderr"
RUN_ID="cli-$$-$RANDOM"
passed=0
calls=0
OUT=""

fail() {
  echo "FAIL: $*" >&2
  echo "$passed passed, 1 failed"
  exit 1
}

# run ARGS...: one aws call (JSON unless ARGS say otherwise); its stdout lands in $OUT.
run() {
  calls=$((calls + 1))
  OUT=$(aws --endpoint-url "$OP_ENDPOINT" --output json "$@" 2>"$ERR") || fail "aws $* exited $?: $(<"$ERR")"
}

# expect WHAT ACTUAL EXPECTED
expect() {
  [[ "$2" == "$3" ]] || fail "$1: got '$2', expected '$3'"
  passed=$((passed + 1))
}

# expect_error CODE ARGS...: the call exits 254/255 (v2/v1) naming CODE on stderr.
expect_error() {
  local code=$1 rc=0
  shift
  calls=$((calls + 1))
  aws --endpoint-url "$OP_ENDPOINT" --output json "$@" >/dev/null 2>"$ERR" || rc=$?
  [[ $rc == 254 || $rc == 255 ]] || fail "aws $*: exit $rc, expected 254/255 with $code ($(<"$ERR"))"
  grep -q "($code)" "$ERR" || fail "aws $*: expected $code, got: $(<"$ERR")"
  passed=$((passed + 1))
}

# unquote JSON_STRING: the text of a JSON string without escapes (a --query ending in join()).
unquote() {
  local text=${1#\"}
  echo "${text%\"}"
}

# all_in WHAT "IDS" "ALLOWED": every id of IDS (whitespace-separated) is one of ALLOWED, and IDS is not empty.
all_in() {
  [[ -n "$2" ]] || fail "$1: no items"
  local id
  for id in $2; do
    [[ " $3 " == *" $id "* ]] || fail "$1: $id is not one of: $3"
  done
  passed=$((passed + 1))
}

# --- describe and list what the test prepared ---
run personalize list-recipes --query "contains(recipes[].recipeArn, 'arn:aws:personalize:::recipe/aws-user-personalization')"
expect "list-recipes has aws-user-personalization" "$OUT" true
run personalize describe-recipe --recipe-arn arn:aws:personalize:::recipe/aws-personalized-ranking \
  --query recipe.recipeType --output text
expect "describe-recipe recipeType" "$OUT" PERSONALIZED_RANKING
run personalize describe-dataset-group --dataset-group-arn "$OP_DATASET_GROUP_ARN" --query datasetGroup.status --output text
expect "describe-dataset-group status" "$OUT" ACTIVE
run personalize list-datasets --dataset-group-arn "$OP_DATASET_GROUP_ARN" --query "sort(datasets[].datasetType)" --output text
expect "list-datasets types" "$OUT" "INTERACTIONS	ITEMS"
run personalize describe-solution-version --solution-version-arn "$OP_SOLUTION_VERSION_ARN" \
  --query "[solutionVersion.status, solutionVersion.solutionArn]" --output text
expect "describe-solution-version" "$OUT" "ACTIVE	$OP_SOLUTION_ARN"
run personalize list-solution-versions --solution-arn "$OP_SOLUTION_ARN" --query "solutionVersions[].solutionVersionArn" --output text
expect "list-solution-versions" "$OUT" "$OP_SOLUTION_VERSION_ARN"
run personalize get-solution-metrics --solution-version-arn "$OP_SOLUTION_VERSION_ARN" --query "type(metrics.coverage)" --output text
expect "get-solution-metrics coverage" "$OUT" number
run personalize describe-campaign --campaign-arn "$OP_CAMPAIGN_ARN" \
  --query "[campaign.status, campaign.solutionVersionArn]" --output text
expect "describe-campaign" "$OUT" "ACTIVE	$OP_SOLUTION_VERSION_ARN"
run personalize list-campaigns --solution-arn "$OP_SOLUTION_ARN" --query "campaigns[].campaignArn" --output text
expect "list-campaigns" "$OUT" "$OP_CAMPAIGN_ARN"
run personalize describe-filter --filter-arn "$OP_GENRE_FILTER_ARN" --query filter.filterExpression --output text
expect "describe-filter expression" "$OUT" 'INCLUDE ItemID WHERE Items.GENRE IN ($GENRE)'
run personalize list-filters --dataset-group-arn "$OP_DATASET_GROUP_ARN" --query "length(Filters)"
expect "list-filters count" "$OUT" 2
run personalize describe-event-tracker --event-tracker-arn "$OP_EVENT_TRACKER_ARN" --query eventTracker.trackingId --output text
expect "describe-event-tracker trackingId" "$OUT" "$OP_TRACKING_ID"
run personalize list-event-trackers --dataset-group-arn "$OP_DATASET_GROUP_ARN" --query "eventTrackers[].eventTrackerArn" --output text
expect "list-event-trackers" "$OUT" "$OP_EVENT_TRACKER_ARN"

# --- create, describe, tag and delete ---
cat >"$TMP/schema.json" <<'JSON'
{"type": "record", "name": "Users", "namespace": "com.amazonaws.personalize.schema",
 "fields": [{"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": "int"}], "version": "1.0"}
JSON
run personalize create-schema --name "$RUN_ID-users" --schema "file://$TMP/schema.json" --query schemaArn --output text
schema_arn=$OUT
run personalize describe-schema --schema-arn "$schema_arn" --query "schema.name" --output text
expect "describe-schema name" "$OUT" "$RUN_ID-users"
run personalize create-dataset-group --name "$RUN_ID-group" --tags tagKey=team,tagValue=cli --query datasetGroupArn --output text
group_arn=$OUT
run personalize describe-dataset-group --dataset-group-arn "$group_arn" --query "[datasetGroup.name, datasetGroup.status]" --output text
expect "describe-dataset-group of a new group" "$OUT" "$RUN_ID-group	ACTIVE"
expect_error ResourceAlreadyExistsException personalize create-dataset-group --name "$RUN_ID-group"
run personalize list-tags-for-resource --resource-arn "$group_arn" --query "tags[].[tagKey, tagValue]" --output text
expect "list-tags-for-resource" "$OUT" "team	cli"
run personalize tag-resource --resource-arn "$group_arn" --tags tagKey=stage,tagValue=test
run personalize untag-resource --resource-arn "$group_arn" --tag-keys team
run personalize list-tags-for-resource --resource-arn "$group_arn" --query "tags[].[tagKey, tagValue]" --output text
expect "tags after tag-resource and untag-resource" "$OUT" "stage	test"
run personalize create-filter --name "$RUN_ID-filter" --dataset-group-arn "$group_arn" \
  --filter-expression 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("watch")' --query filterArn --output text
filter_arn=$OUT
run personalize describe-filter --filter-arn "$filter_arn" --query "[filter.name, filter.datasetGroupArn]" --output text
expect "describe-filter of a new filter" "$OUT" "$RUN_ID-filter	$group_arn"
expect_error ResourceInUseException personalize delete-dataset-group --dataset-group-arn "$group_arn"
run personalize delete-filter --filter-arn "$filter_arn"
expect_error ResourceNotFoundException personalize describe-filter --filter-arn "$filter_arn"
run personalize delete-dataset-group --dataset-group-arn "$group_arn"
expect_error ResourceNotFoundException personalize describe-dataset-group --dataset-group-arn "$group_arn"
run personalize delete-schema --schema-arn "$schema_arn"
expect_error ResourceNotFoundException personalize describe-schema --schema-arn "$schema_arn"

# --- pagination: the CLI's own (--page-size, --max-items, --starting-token) and the server's nextToken ---
pages=()
for n in 1 2 3 4 5; do
  run personalize create-dataset-group --name "$RUN_ID-page-$n" --query datasetGroupArn --output text
  pages+=("$OUT")
done
# Paginated output is aggregated only as JSON, so these queries join their answer into one JSON string.
mine="datasetGroups[?starts_with(name, '$RUN_ID-page-')].name"
run personalize list-dataset-groups --page-size 2 --query "join(' ', sort($mine))"
expect "list-dataset-groups --page-size 2 follows nextToken" "$OUT" \
  "\"$RUN_ID-page-1 $RUN_ID-page-2 $RUN_ID-page-3 $RUN_ID-page-4 $RUN_ID-page-5\""
run personalize list-dataset-groups --page-size 2 --query "join(' ', datasetGroups[].datasetGroupArn)"
all=$(unquote "$OUT")
run personalize list-dataset-groups --max-items 2 --page-size 1 --query "join(' ', [to_string(length(datasetGroups)), NextToken])"
read -r count token <<<"$(unquote "$OUT")"
expect "--max-items 2 count" "$count" 2
[[ -n "$token" ]] || fail "--max-items 2 gave no NextToken"
run personalize list-dataset-groups --max-items 2 --query "join(' ', datasetGroups[].datasetGroupArn)"
first_two=$(unquote "$OUT")
run personalize list-dataset-groups --starting-token "$token" --page-size 3 --query "join(' ', datasetGroups[].datasetGroupArn)"
expect "--starting-token resumes after the first two" "$first_two $(unquote "$OUT")" "$all"
run personalize list-dataset-groups --no-paginate --max-results 1 --query "[length(datasetGroups), nextToken]" --output text
read -r count server_token <<<"$OUT"
expect "--no-paginate --max-results 1 count" "$count" 1
run personalize list-dataset-groups --no-paginate --max-results 1 --next-token "$server_token" \
  --query "datasetGroups[0].datasetGroupArn" --output text
expect "the server's nextToken leads to the second group" "$OUT" "$(cut -d' ' -f2 <<<"$all")"
expect_error InvalidNextTokenException personalize list-dataset-groups --no-paginate --next-token not-a-token
for arn in "${pages[@]}"; do
  run personalize delete-dataset-group --dataset-group-arn "$arn"
done
run personalize list-dataset-groups --query "length($mine)"
expect "deleted groups are gone" "$OUT" 0

# --- runtime: recommendations, filters, ranking ---
run personalize-runtime get-recommendations --campaign-arn "$OP_CAMPAIGN_ARN" --user-id "$OP_COMEDY_USER" \
  --num-results 5 --query "itemList[].itemId" --output text
expect "get-recommendations returns 5" "$(wc -w <<<"$OUT" | tr -d ' ')" 5
all_in "a comedy fan gets comedies" "$OUT" "$OP_COMEDY_ITEMS"
run personalize-runtime get-recommendations --campaign-arn "$OP_CAMPAIGN_ARN" --user-id "$OP_COMEDY_USER" \
  --num-results 5 --filter-arn "$OP_GENRE_FILTER_ARN" --filter-values '{"GENRE": "\"drama\""}' \
  --query "itemList[].itemId" --output text
all_in "--filter-arn with --filter-values GENRE=drama" "$OUT" "$OP_DRAMA_ITEMS"
run personalize-runtime get-recommendations --campaign-arn "$OP_CAMPAIGN_ARN" --user-id "$OP_COMEDY_USER" \
  --num-results 8 --filter-arn "$OP_NO_COMEDY_FILTER_ARN" --query "itemList[].itemId" --output text
all_in "--filter-arn excluding comedies" "$OUT" "$OP_DRAMA_ITEMS"
run personalize-runtime get-recommendations --campaign-arn "$OP_CAMPAIGN_ARN" --user-id "$OP_COMEDY_USER" \
  --num-results 3 --query "[recommendationId != null, length(itemList[?score != null])]" --output text
expect "recommendationId and scores" "$OUT" "True	3"
run personalize-runtime get-personalized-ranking --campaign-arn "$OP_RANKING_CAMPAIGN_ARN" --user-id "$OP_DRAMA_USER" \
  --input-list comedy-00 drama-12 comedy-03 drama-13 --query "personalizedRanking[].itemId" --output text
read -r -a ranked <<<"$OUT"
expect "get-personalized-ranking keeps the list" "$(tr ' ' '\n' <<<"${ranked[*]}" | sort | tr '\n' ' ')" \
  "comedy-00 comedy-03 drama-12 drama-13 "
all_in "a drama fan's ranking starts with the dramas" "${ranked[*]:0:2}" "drama-12 drama-13"
expect_error ResourceNotFoundException personalize-runtime get-recommendations \
  --campaign-arn "${OP_CAMPAIGN_ARN}-missing" --user-id "$OP_COMEDY_USER"
expect_error ResourceNotFoundException personalize-runtime get-recommendations --campaign-arn "$OP_CAMPAIGN_ARN" \
  --user-id "$OP_COMEDY_USER" --filter-arn "${OP_GENRE_FILTER_ARN}-missing"
expect_error InvalidInputException personalize-runtime get-personalized-ranking --campaign-arn "$OP_CAMPAIGN_ARN" \
  --user-id "$OP_DRAMA_USER" --input-list drama-12 drama-13

# --- events: a newcomer's clicks change their next recommendations at once ---
newcomer="$RUN_ID-newcomer"
run personalize-runtime get-recommendations --campaign-arn "$OP_CAMPAIGN_ARN" --user-id "$newcomer" \
  --num-results 5 --query "itemList[].itemId" --output text
all_in "a newcomer gets the popular comedies" "$OUT" "$OP_COMEDY_ITEMS"
run personalize-events put-events --tracking-id "$OP_TRACKING_ID" --user-id "$newcomer" --session-id "$RUN_ID-s1" \
  --event-list '[{"eventType": "watch", "itemId": "drama-03", "sentAt": 1700000000},
                 {"eventType": "watch", "itemId": "drama-04", "sentAt": "2023-11-14T22:13:21Z", "eventId": "e2"}]'
expect "put-events prints nothing" "$OUT" ""
run personalize-runtime get-recommendations --campaign-arn "$OP_CAMPAIGN_ARN" --user-id "$newcomer" \
  --num-results 5 --query "itemList[].itemId" --output text
all_in "after put-events the newcomer gets dramas" "$OUT" "$OP_DRAMA_ITEMS"
expect_error ResourceNotFoundException personalize-events put-events --tracking-id "$RUN_ID-no-such-tracker" \
  --session-id "$RUN_ID-s2" --event-list '[{"eventType": "watch", "itemId": "drama-03", "sentAt": 1700000000}]'

# --- signatures: a wrong secret or an unknown key is refused with the AWS auth codes ---
AWS_SECRET_ACCESS_KEY=not-the-secret expect_error InvalidSignatureException personalize list-dataset-groups
AWS_ACCESS_KEY_ID=AKIDNOSUCHKEY expect_error UnrecognizedClientException personalize-runtime get-recommendations \
  --campaign-arn "$OP_CAMPAIGN_ARN" --user-id "$OP_COMEDY_USER"

echo "aws calls: $calls"
echo "$passed passed, 0 failed"
