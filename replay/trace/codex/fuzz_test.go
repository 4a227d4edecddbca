package codex

import (
	"bytes"
	"context"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// FuzzDecode: whatever the input, the importer returns a run or an error,
// never panics, and a run it returns can be written in the native format.
// Seeds: the lines below and testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"timestamp":"2026-01-01T00:00:00Z","type":"session_meta","payload":{"id":"s","base_instructions":{"text":"x"},"git":{"commit_hash":"a"}}}
{"timestamp":"2026-01-01T00:00:01Z","type":"response_item","payload":{"type":"function_call","name":"f","arguments":"{\"a\":","call_id":"c"}}
{"timestamp":"2026-01-01T00:00:02Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":5,"cached_input_tokens":9}}}}
{"timestamp":"2026-01-01T00:00:03Z","type":"response_item","payload":{"type":"function_call_output","call_id":"c","output":"{\"output\":\"x\",\"metadata\":{\"exit_code\":1}}"}}
`))
	f.Add([]byte(`{"id":"s","timestamp":"2025-01-01T00:00:00Z","instructions":"x"}
{"record_type":"state"}
{"type":"local_shell_call","call_id":"c","status":"completed","action":{"type":"exec","command":["ls"]}}
{"type":"function_call_output","call_id":"c","output":[{"type":"input_image","image_url":"data:"}]}
`))
	f.Add([]byte(`{"timestamp":"x","type":"event_msg","payload":{"type":"exec_command_end","call_id":"c","duration":{"secs":-1,"nanos":9}}}
{"timestamp":"x","type":"compacted","payload":{"message":"m"}}
{"timestamp":"x","type":"event_msg","payload":{"type":"turn_aborted","reason":"interrupted"}}
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := trace.Collect(func(e trace.Emitter) error {
			return Decode(context.Background(), bytes.NewReader(data), "fuzz.jsonl", trace.Options{Lenient: len(data)%2 == 0}, e)
		})
		if err != nil {
			return
		}
		if run.Meta.Format != Name {
			t.Fatalf("a run without its format: %+v", run.Meta)
		}
		if err := trace.Encode(&bytes.Buffer{}, run); err != nil {
			t.Fatalf("encode the imported run: %v", err)
		}
		testutil.CheckEveryLineAccounted(t, data, ignoredLine, func(data []byte) (*trace.Run, error) {
			return trace.Collect(func(e trace.Emitter) error {
				return Decode(context.Background(), bytes.NewReader(data), "fuzz.jsonl", trace.Options{}, e)
			})
		})
	})
}

// ignoredLine reports the records the format documents as carrying nothing
// replay keeps (state lines of old rollouts, ghost snapshots, compaction
// markers, the events skippedEvent lists) or as repeating a response item
// (user_message, agent_message, task_complete's last message), and token counts that carry only rate
// limits.
func ignoredLine(line []byte) bool {
	var l struct {
		Type       string `json:"type"`
		RecordType string `json:"record_type"`
		Payload    struct {
			Type string          `json:"type"`
			Info json.RawMessage `json:"info"`
		} `json:"payload"`
	}
	if json.Unmarshal(line, &l) != nil {
		return false
	}
	switch l.Payload.Type {
	case "ghost_snapshot", "compaction", "compaction_summary", "other":
		return true
	case "user_message", "agent_message", "task_complete":
		return l.Type == "event_msg"
	case "token_count": // rate limits only
		return l.Type == "event_msg" && (len(l.Payload.Info) == 0 || string(l.Payload.Info) == "null")
	}
	if l.Type == "event_msg" && skippedEvent(l.Payload.Type) {
		return true
	}
	return l.RecordType == "state"
}
