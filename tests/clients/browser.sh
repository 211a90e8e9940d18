#!/usr/bin/env bash
# A headless "browser" for mcp-remote: it opens the authorization URL through the `open`
# package's xdg-open, which (no desktop here) runs $BROWSER with the URL. This does what a
# person does in teamnotes' pages: the sign-in form (TN_EMAIL, TN_PASSWORD), the consent
# form ("Allow"), then follows the redirect to mcp-remote's loopback callback.
# Appends one line per step to $TN_BROWSER_LOG. Runs in the background: xdg-open returns.
url=$1
log=${TN_BROWSER_LOG:?}
(
  d=$(mktemp -d)
  field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$2" | head -1 | sed 's/.*value="//;s/"$//'; }
  origin=$(sed -E 's#^(https?://[^/]+).*#\1#' <<<"$url")
  echo "open $url" >>"$log"
  curl -s -c "$d/jar" -b "$d/jar" -o "$d/p1" -w 'authorize %{http_code}\n' "$url" >>"$log"
  curl -s -c "$d/jar" -b "$d/jar" -o "$d/p2" -w 'login %{http_code}\n' "$origin/authorize/login" \
    --data-urlencode "req=$(field req "$d/p1")" --data-urlencode "csrf=$(field csrf "$d/p1")" \
    --data-urlencode "email=$TN_EMAIL" --data-urlencode "password=$TN_PASSWORD" >>"$log"
  # the consent page's heading, as a person reads it (tags and entities dropped)
  echo "consent-page $(grep -o '<h1>.*</h1>' "$d/p2" | head -1 | sed 's/<[^>]*>//g')" >>"$log"
  curl -s -c "$d/jar" -b "$d/jar" -D "$d/h3" -o /dev/null -w 'consent %{http_code}\n' "$origin/authorize/consent" \
    --data-urlencode "req=$(field req "$d/p2")" --data-urlencode "csrf=$(field csrf "$d/p2")" -d decision=allow >>"$log"
  cb=$(grep -i '^location:' "$d/h3" | head -1 | cut -d' ' -f2- | tr -d '\r')
  echo "callback ${cb%%\?*}" >>"$log"
  curl -s -o "$d/cb" -w 'callback %{http_code}\n' "$cb" >>"$log"
  rm -rf "$d"
) </dev/null >/dev/null 2>&1 &
exit 0
