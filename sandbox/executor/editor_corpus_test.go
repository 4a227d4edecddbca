package executor

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEditorAgainstRecordedObservations replays the str_replace_editor
// calls of OpenHands' recorded evaluation runs (the corpus, when present)
// against files rebuilt from the runs' own whole-file views: once a view
// shows a file whole (not clipped), the file is written from it, and every
// later call on it — views with ranges, failed and successful edits,
// inserts, and views of the edited file — must give the recorded text
// exactly.
func TestEditorAgainstRecordedObservations(t *testing.T) {
	path := filepath.Join("..", "..", "..", "shared", "corpus", "openhands", "openhands__multi_swe_bench_examples_output.jsonl")
	f, err := os.Open(path)
	if err != nil {
		t.Skip("no corpus at ../shared/corpus")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	checked, records := 0, 0
	for sc.Scan() {
		var rec struct {
			InstanceID string `json:"instance_id"`
			History    []struct {
				ID           int64  `json:"id"`
				Cause        *int64 `json:"cause"`
				Observation  string `json:"observation"`
				Content      string `json:"content"`
				ToolCallMeta *struct {
					FunctionName  string `json:"function_name"`
					ToolCallID    string `json:"tool_call_id"`
					ModelResponse struct {
						Choices []struct {
							Message struct {
								ToolCalls []struct {
									ID       string `json:"id"`
									Function struct {
										Arguments string `json:"arguments"`
									} `json:"function"`
								} `json:"tool_calls"`
							} `json:"message"`
						} `json:"choices"`
					} `json:"model_response"`
				} `json:"tool_call_metadata"`
			} `json:"history"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		records++
		root := t.TempDir()
		s, err := NewServer(Config{Root: root, Shell: "/bin/sh", Remap: &Remap{From: "/workspace", To: root}})
		if err != nil {
			t.Fatal(err)
		}
		args := map[int64]string{}
		known := map[string]bool{}
		for _, ev := range rec.History {
			m := ev.ToolCallMeta
			if m == nil || m.FunctionName != "str_replace_editor" {
				continue
			}
			if ev.Observation == "" {
				for _, c := range m.ModelResponse.Choices {
					for _, tc := range c.Message.ToolCalls {
						if tc.ID == m.ToolCallID {
							args[ev.ID] = tc.Function.Arguments
						}
					}
				}
				continue
			}
			if ev.Cause == nil || args[*ev.Cause] == "" {
				continue
			}
			raw := args[*ev.Cause]
			var a struct {
				Command   string `json:"command"`
				Path      string `json:"path"`
				ViewRange []int  `json:"view_range"`
			}
			json.Unmarshal([]byte(raw), &a)
			header := "Here's the result of running `cat -n` on " + a.Path + ":\n"
			if !known[a.Path] {
				// A whole, unclipped view rebuilds the file.
				if a.Command == "view" && a.ViewRange == nil && strings.HasPrefix(ev.Content, header) && !strings.Contains(ev.Content, "<response clipped>") {
					body := strings.TrimSuffix(strings.TrimPrefix(ev.Content, header), "\n")
					var lines []string
					for _, l := range strings.Split(body, "\n") {
						_, text, _ := strings.Cut(l, "\t")
						lines = append(lines, text)
					}
					real := filepath.Join(root, strings.TrimPrefix(a.Path, "/workspace"))
					os.MkdirAll(filepath.Dir(real), 0o755)
					if err := os.WriteFile(real, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
						t.Fatal(err)
					}
					known[a.Path] = true
				}
				continue
			}
			got := s.Call(context.Background(), "str_replace_editor", json.RawMessage(raw), 0)
			checked++
			if got.Output != ev.Content || got.IsError {
				t.Errorf("%s: %s\n got: %q\nwant: %q", rec.InstanceID, raw, got.Output, ev.Content)
			}
		}
	}
	if records == 0 || checked < 10 {
		t.Errorf("%d records, %d calls checked against their recorded observations: the corpus file is not what this test reads", records, checked)
	}
	t.Logf("%d str_replace_editor calls of %d recorded runs give their recorded observations exactly", checked, records)
}
