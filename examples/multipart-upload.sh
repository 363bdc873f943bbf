#!/usr/bin/env bash
# Upload a file of any size through a filegate multipart session, with curl
# and jq: start the session, PUT each part straight to the store, ask for
# more part URLs in batches, then complete. Re-running it with the same
# UPLOAD_ID resumes: parts already stored are skipped.
#
#   FILEGATE=http://127.0.0.1:8080 TOKEN=fg_... examples/multipart-upload.sh FILE KEY
set -euo pipefail
file=$1 key=$2
base=${FILEGATE:-http://127.0.0.1:8080}
auth="Authorization: Bearer ${TOKEN:?set TOKEN}"
size=$(stat -c %s "$file")

if [ -z "${UPLOAD_ID:-}" ]; then
  start=$(curl -sf -H "$auth" -d "$(jq -n --arg k "$key" --argjson s "$size" '{key:$k, size:$s}')" "$base/v1/uploads")
  if [ "$(jq -r .type <<<"$start")" = put ]; then   # small enough for one PUT
    curl -sf -X PUT -T "$file" -H "Content-Type: $(jq -r '.headers["Content-Type"]' <<<"$start")" "$(jq -r .url <<<"$start")"
    echo "uploaded $key in one PUT"; exit 0
  fi
  UPLOAD_ID=$(jq -r .upload_id <<<"$start")
  echo "UPLOAD_ID=$UPLOAD_ID   (set it to resume)"
fi
status=$(curl -sf -H "$auth" "$base/v1/uploads/$UPLOAD_ID")
part_size=$(jq -r .part_size <<<"$status") count=$(jq -r .part_count <<<"$status")
declare -A etag
while read -r n e; do etag[$n]=$e; done < <(jq -r '.parts[] | "\(.number) \(.etag)"' <<<"$status")

todo=(); for ((n = 1; n <= count; n++)); do [ -n "${etag[$n]:-}" ] || todo+=("$n"); done
for ((i = 0; i < ${#todo[@]}; i += 20)); do          # sign 20 part URLs at a time
  batch=$(printf '%s\n' "${todo[@]:i:20}" | jq -s '{numbers: .}')
  urls=$(curl -sf -H "$auth" -d "$batch" "$base/v1/uploads/$UPLOAD_ID/parts")
  while read -r n url; do
    e=$(dd if="$file" bs="$part_size" skip=$((n - 1)) count=1 status=none |
      curl -sf -X PUT --data-binary @- -D - -o /dev/null "$url" | tr -d '\r' | awk -F'"' 'tolower($0) ~ /^etag:/ {print $2}')
    etag[$n]=$e; echo "part $n/$count stored"
  done < <(jq -r '.parts[] | "\(.number) \(.url)"' <<<"$urls")
done

parts=$(for ((n = 1; n <= count; n++)); do echo "{\"number\":$n,\"etag\":\"${etag[$n]}\"}"; done | jq -s '{parts: .}')
curl -sf -H "$auth" -d "$parts" "$base/v1/uploads/$UPLOAD_ID/complete"; echo
