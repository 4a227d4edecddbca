#!/usr/bin/env bash
# The README's first command: replay the bundled example faithfully, then as
# a counterfactual, and show how the new run differs. No API key, no network:
# the repository is a git bundle, the pull request a fixture of GitHub's REST
# responses, and the counterfactual's model a scripted OpenAI-compatible
# server on loopback. Needs Docker, Go, git, and a static busybox for the
# sandbox image (installed from Debian's busybox-static when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."

bash sandbox/ci-prepare.sh >/dev/null
make -s build
bin=./bin/replay
home=$(mktemp -d)
export REPLAY_CACHE="$home/cache"
trap 'kill $fake 2>/dev/null || true; rm -rf "$home"' EXIT
world=(--repo testdata/example/widgets.bundle --github-fixture testdata/example/github)

echo "== replay verify: the review agent's run, re-executed in the sandbox with the recorded answers"
"$bin" --home "$home" verify testdata/example/run "${world[@]}"

echo
echo "== replay run: the same PR, with another model behind an OpenAI-compatible endpoint"
port=$(( 20000 + RANDOM % 20000 ))
go build -o "$home/fakemodel" ./internal/tools/fakemodel
"$home/fakemodel" -script testdata/example/fake-model.json -addr "127.0.0.1:$port" 2>/dev/null &
fake=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
"$bin" --home "$home" testdata/example/run --model fake-reviewer --base-url "http://127.0.0.1:$port/v1" "${world[@]}"

echo
echo "== replay eval run: the example as a regression case (a maintainer overrode the bot and approved), with the same model"
"$bin" --home "$home" eval run testdata/example/suite --model fake-reviewer --base-url "http://127.0.0.1:$port/v1" --results "$home/results.jsonl"
