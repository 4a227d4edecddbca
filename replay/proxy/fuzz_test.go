package proxy

import (
	"os"
	"path/filepath"
	"testing"
)

var fuzzFormats = []Format{FormatChat, FormatResponses, FormatMessages}

// FuzzRequest feeds arbitrary bodies to the request parser of each wire
// format: it must never panic; a request it accepts normalizes the same way
// twice, and the counterfactual applied to it gives a body that parses
// again. Seeds: testdata/requests/*.json and testdata/fuzz/FuzzRequest.
func FuzzRequest(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "requests", "*.json"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for i := range fuzzFormats {
			f.Add(uint8(i), b)
		}
	}
	f.Add(uint8(0), []byte(`{"model":"m","messages":[{"role":"tool","content":[{"type":"image_url"}]}]}`))
	f.Add(uint8(1), []byte(`{"model":"m","input":"hi","instructions":null}`))
	f.Add(uint8(2), []byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}],"system":[]}`))
	sys := "S"
	temp, n := 0.5, int64(5)
	p, err := New(Config{Mode: ModeForward, Model: "x", System: &sys, ContextAdd: []string{"C"}, Params: Overrides{Temperature: &temp, MaxTokens: &n, Seed: &n}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		format := fuzzFormats[int(which)%len(fuzzFormats)]
		req, err := parseRequest(format, body)
		if err != nil {
			return
		}
		o := normOptions{system: true, tools: true}
		if a, b := normalize(req.System, req.Messages, req.Tools, o), normalize(req.System, req.Messages, req.Tools, o); a != b {
			t.Fatalf("normalize is not deterministic:\n%s\n%s", a, b)
		}
		out, err := p.rewrite(format, body, req)
		if err != nil {
			return // a field the counterfactual edits has another shape
		}
		again, err := parseRequest(format, out)
		if err != nil {
			t.Fatalf("the rewritten body does not parse: %v\n%s", err, out)
		}
		if again.Model != "x" || again.System != "S" {
			t.Fatalf("rewritten: model %q system %q", again.Model, again.System)
		}
	})
}
