package claudecode

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/agentreplay/replay/internal/testutil"
	"github.com/agentreplay/replay/replay/trace"
)

// corpusWant holds counts derived by hand from the corpus files with jq:
//
// llm calls and tokens (one count per message.id, from its LAST line):
//
//	jq -s '[.[] | select(.type=="assistant" and .message.model!="<synthetic>")] | group_by(.message.id)
//	  | [length, (map(last.message.usage.output_tokens)|add), (map(last.message.usage.input_tokens)|add),
//	     (map(last.message.usage.cache_read_input_tokens)|add), (map(last.message.usage.cache_creation_input_tokens)|add)]' F
//
// tools (distinct tool_use ids by name), models, sidechain conversations, first cwd, first gitBranch:
//
//	jq -s '{tools: ([.[] | select(.type=="assistant") | .message.content[]? | select(.type=="tool_use") | {id,name}]
//	  | unique_by(.id) | group_by(.name) | map({(.[0].name): length}) | add),
//	  models: ([.[] | select(.type=="assistant" and .message.model!="<synthetic>") | .message.model] | unique),
//	  sidechains: ([.[] | select(.isSidechain==true and .parentUuid==null)] | length),
//	  cwd: ([.[] | .cwd // empty][0]), branch: ([.[] | .gitBranch // empty | select(.!="")][0])}' F
//
// tool statuses (a result whose text starts "[Request interrupted by user" is interrupted, else is_error is an error;
// a tool_use without result is missing):
//
//	jq -s '[.[] | select(.type=="user") | .message.content | arrays | .[] | select(.type=="tool_result")
//	  | if (.content|tostring|test("Request interrupted by user")) then "interrupted" elif .is_error then "error" else "ok" end]
//	  | group_by(.) | map({(.[0]): length}) | add' F
type corpusWant struct {
	llm                         int
	out, in, cacheRead, cacheWr int64
	tools                       map[string]int
	models                      []string
	children                    int
	cwd, branch                 string
	statuses                    map[string]int
	status                      string
	warnings                    []string // the warnings the file deserves (String, without the directory)
}

var corpusFiles = map[string]corpusWant{
	"ccviewer__1af7fc5e-8455-4414-9ccd-011d40f70b2a.jsonl": {
		llm: 7, out: 953, in: 93, cacheRead: 103219, cacheWr: 12698,
		tools:  map[string]int{"Bash": 2, "Glob": 6, "TodoWrite": 3, "Write": 1},
		models: []string{"claude-sonnet-4-20250514"}, cwd: "/path/to/Demo", status: trace.StatusOK,
	},
	"ccviewer__5c0375b4-57a5-4f26-b12d-d022ee4e51b7.jsonl": {
		llm: 20, out: 3629, in: 129, cacheRead: 324259, cacheWr: 47747,
		tools:  map[string]int{"Bash": 5, "Edit": 1, "Glob": 3, "MultiEdit": 1, "Read": 3, "Task": 3, "TodoWrite": 5},
		models: []string{"claude-sonnet-4-20250514"}, children: 2, cwd: "/path/to/Demo", branch: "main", status: trace.StatusOK,
	},
	"ccviewer__fe5e1c67-53e7-4862-81ae-d0e013e3270b.jsonl": {
		llm: 170, out: 51933, in: 818, cacheRead: 3647854, cacheWr: 137976,
		tools: map[string]int{"Bash": 61, "BashOutput": 5, "Edit": 8, "Glob": 2, "KillBash": 3, "MultiEdit": 3,
			"Read": 28, "Task": 5, "TodoWrite": 19, "Write": 33},
		models: []string{"claude-sonnet-4-20250514"}, children: 5, cwd: "/path/to/Demo",
		statuses: map[string]int{"error": 23, "ok": 144}, status: trace.StatusOK,
	},
	"happy__1-continue-run-ls-tool.jsonl": {
		llm: 3, out: 100, in: 14, cacheRead: 17776, cacheWr: 35691, tools: map[string]int{"LS": 1},
		models: []string{"claude-opus-4-20250514"}, cwd: "/Users/kirilldubovitskiy/projects/happy/handy-cli/notes/test-project",
		branch: "main", status: trace.StatusOK,
	},
	"happy__api-error_rate-limit.jsonl": {cwd: "/tmp/project", branch: "main", status: trace.StatusError},
	"happy__c9de1ad3-3355-4392-b91b-6fcf853be4b0.jsonl": {
		llm: 8, out: 454, in: 36, cacheRead: 138175, cacheWr: 23150,
		tools:  map[string]int{"Read": 4, "Task": 1, "TodoWrite": 2, "Write": 1},
		models: []string{"claude-opus-4-20250514"}, cwd: "/Users/kirilldubovitskiy/projects/happy/handy-cli",
		statuses: map[string]int{"error": 1, "interrupted": 1, "ok": 6}, status: trace.StatusInterrupted,
	},
	"happy__f0b4ca22-f8e4-4c07-a952-8302b638e125.jsonl": {
		llm: 64, out: 4657, in: 533, cacheRead: 2907366, cacheWr: 162562,
		tools: map[string]int{"Bash": 2, "Edit": 27, "Grep": 9, "MultiEdit": 2, "Read": 14, "TodoWrite": 6, "Write": 2,
			"mcp__ide__getDiagnostics": 1},
		models:   []string{"claude-opus-4-20250514", "claude-sonnet-4-20250514"},
		cwd:      "/Users/user/src/plgrc/web/peoplesgrocers/static/src/routes/[...lang]/projects/nested-timers",
		statuses: map[string]int{"error": 4, "ok": 59}, status: trace.StatusInterrupted,
	},
	"happy__goal-status_completed.jsonl": {cwd: "/Users/devdvlive/Projects/happy", branch: "fix/mass-cli-fixes-1405-1408", status: trace.StatusOK},
	"happy__permission-prompt-aborted-with-interrupt.jsonl": {
		llm: 1, out: 5, in: 4, cacheRead: 10491, cacheWr: 5678, tools: map[string]int{"Write": 1},
		models: []string{"claude-opus-4-20250514"}, cwd: "/Users/kirilldubovitskiy/projects/happy/handy-cli",
		statuses: map[string]int{"error": 1}, status: trace.StatusInterrupted,
	},
	"happy__task_non_sdk.jsonl": {
		llm: 5, out: 1163, in: 25, cacheRead: 78093, cacheWr: 28106, tools: map[string]int{"Task": 1, "WebFetch": 1, "WebSearch": 1},
		models: []string{"claude-opus-4-1-20250805", "claude-sonnet-4-20250514"}, children: 1,
		cwd: "/Users/steve/Develop/slopus/happy-cli", branch: "main", status: trace.StatusOK,
	},
	"happy__task_sdk.jsonl": {
		llm: 3, out: 377, in: 14, cacheRead: 22177, cacheWr: 46616, tools: map[string]int{"Read": 1, "Task": 1},
		models: []string{"claude-opus-4-1-20250805"}, cwd: "/Users/steve/Develop/slopus/happy-cli", branch: "main",
		statuses: map[string]int{"ok": 1, "missing": 1}, status: trace.StatusOK,
		// The file ends with a Read call whose result was never written.
		warnings: []string{"happy__task_sdk.jsonl:10: a tool call without a recorded result (kept, marked missing)"},
	},
}

// TestCorpus imports every Claude Code transcript of the shared corpus and
// checks it against the counts derived by hand (see corpusWant).
func TestCorpus(t *testing.T) {
	dir := testutil.RequireCorpus(t, "claude-code")
	files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if len(files) == 0 {
		t.Skip("no transcripts in " + dir)
	}
	var totalOut int64
	var totalLLM int
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			head, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src := &trace.Source{Path: f, Head: head[:min(len(head), trace.HeadSize)]}
			if !(Transcript{}).Detect(src) || (Stream{}).Detect(src) {
				t.Errorf("not detected as a transcript (only)")
			}
			var z trace.Summarizer
			var c trace.Collector
			if err := (Transcript{}).Import(context.Background(), src, trace.Options{}, trace.Tee(&z, &c)); err != nil {
				t.Fatalf("import: %v", err)
			}
			s := z.Summary()
			totalOut += s.Tokens.Output
			totalLLM += s.LLMCalls
			want, ok := corpusFiles[name]
			if !ok {
				t.Logf("no hand-derived counts for %s: imported only", name)
				return
			}
			tokens := trace.Usage{Input: want.in, Output: want.out, CacheRead: want.cacheRead, CacheWrite: want.cacheWr}
			if s.LLMCalls != want.llm || s.Tokens != tokens {
				t.Errorf("llm calls %d tokens %+v, want %d %+v", s.LLMCalls, s.Tokens, want.llm, tokens)
			}
			if want.tools == nil {
				want.tools = map[string]int{}
			}
			if !cmp.Equal(s.Tools, want.tools) {
				t.Errorf("tools %v, want %v", s.Tools, want.tools)
			}
			models := slices.Sorted(slices.Values(s.Models))
			if !cmp.Equal(models, want.models, cmpEmpty) {
				t.Errorf("models %v, want %v", models, want.models)
			}
			if len(s.Children) != want.children {
				t.Errorf("%d sub-agent runs, want %d", len(s.Children), want.children)
			}
			if got := s.Refs["cwd"].Value; got != want.cwd {
				t.Errorf("cwd %q, want %q", got, want.cwd)
			}
			if got := s.Refs["branch"].Value; got != want.branch {
				t.Errorf("branch %q, want %q", got, want.branch)
			}
			if s.Status != want.status {
				t.Errorf("status %s, want %s", s.Status, want.status)
			}
			var warnings []string
			for _, w := range s.Warnings {
				warnings = append(warnings, strings.TrimPrefix(w, filepath.Dir(f)+string(filepath.Separator)))
			}
			if !cmp.Equal(warnings, want.warnings, cmpEmpty) {
				t.Errorf("warnings: %q, want %q", warnings, want.warnings)
			}
			if want.statuses != nil {
				got := map[string]int{}
				c.Run().Walk(func(r *trace.Run) {
					for _, st := range r.Steps {
						if st.Tool != nil {
							got[st.Tool.Status]++
						}
					}
				})
				if !cmp.Equal(got, want.statuses) {
					t.Errorf("tool statuses %v, want %v", got, want.statuses)
				}
			}
		})
	}
	// Over the whole corpus: the output tokens reported are those of the
	// last line of each message.id, and there is one llm call per distinct
	// message.id of the non-synthetic assistant lines:
	//
	//	cat F... | jq -s '[.[] | select(.type=="assistant" and .message.model!="<synthetic>")]
	//	  | group_by(.message.id) | [length, (map(last.message.usage.output_tokens)|add)]'
	//	→ [281, 63271] over the 11 files of the corpus (message ids are distinct across files).
	if len(files) == 11 && (totalLLM != 281 || totalOut != 63271) {
		t.Errorf("corpus: %d llm calls, %d output tokens; want 281, 63271", totalLLM, totalOut)
	}
}

// TestCorpusHarnessOutcomes: the corpus's sessions with an aborted
// permission prompt and user interrupts import those results as the
// harness's, as many as the raw files hold (counted from the raw
// tool_result blocks).
func TestCorpusHarnessOutcomes(t *testing.T) {
	dir := testutil.RequireCorpus(t, "claude-code")
	for _, name := range []string{"happy__permission-prompt-aborted-with-interrupt.jsonl", "happy__c9de1ad3-3355-4392-b91b-6fcf853be4b0.jsonl"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			raw, err := os.ReadFile(path)
			if err != nil {
				testutil.SkipUnlessCI(t, "corpus file missing: %v", err)
				return
			}
			// Raw counts: tool_result blocks whose content is the abort
			// text, and those that are the interrupt text.
			want := map[string]int{}
			for _, line := range strings.Split(string(raw), "\n") {
				var rec struct {
					Type    string `json:"type"`
					Message struct {
						Content json.RawMessage `json:"content"`
					} `json:"message"`
				}
				if json.Unmarshal([]byte(line), &rec) != nil || rec.Type != "user" {
					continue
				}
				var blocks []struct {
					Type    string          `json:"type"`
					Content json.RawMessage `json:"content"`
				}
				json.Unmarshal(rec.Message.Content, &blocks)
				for _, b := range blocks {
					text := trace.ContentText(b.Content)
					switch {
					case b.Type != "tool_result":
					case strings.HasPrefix(text, "Permission prompt was aborted"):
						want[trace.HarnessAborted]++
					case strings.HasPrefix(text, "[Request interrupted by user"):
						want[trace.HarnessInterrupted]++
					}
				}
			}
			if want[trace.HarnessAborted] == 0 {
				t.Fatalf("no aborted prompt counted in the raw file: the counting is wrong")
			}
			run, _ := testutil.ImportFile(t, Transcript{}, path)
			got := map[string]int{}
			run.Walk(func(r *trace.Run) {
				for _, s := range r.Steps {
					if s.Tool != nil && s.Tool.Harness != "" {
						got[s.Tool.Harness]++
					}
				}
			})
			if got[trace.HarnessAborted] != want[trace.HarnessAborted] || got[trace.HarnessInterrupted] < want[trace.HarnessInterrupted] {
				t.Errorf("harness outcomes %v, raw file holds %v", got, want)
			}
		})
	}
}
