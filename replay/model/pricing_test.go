package model

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agentreplay/replay/internal/testutil"

	"github.com/agentreplay/replay/replay/trace"
)

func TestLookup(t *testing.T) {
	p := DefaultPricing()
	tests := []struct {
		model string
		want  string // table entry; "" = unpriced
	}{
		{"claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"claude-opus-4-20250514", "claude-opus-4"},
		{"claude-opus-4-6", "claude-opus-4-6"},
		{"CLAUDE-Haiku-4-5", "claude-haiku-4-5"},
		{"claude-haiku-4-5-20251001", "claude-haiku-4-5"},
		{"claude-3-5-sonnet-20241022", "claude-3-5-sonnet"},
		{"claude-3-5-sonnet-latest", "claude-3-5-sonnet"},
		{"claude-sonnet-4@20250514", "claude-sonnet-4"},                   // Vertex AI
		{"us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"}, // Bedrock
		{"anthropic/claude-sonnet-4", "claude-sonnet-4"},
		{"openrouter/anthropic/claude-opus-4-6", "claude-opus-4-6"},
		{"gpt-4o", "gpt-4o"},
		{"gpt-4o-2024-08-06", "gpt-4o"},
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13"}, // the older snapshot had its own price
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"openai/gpt-4o-mini", "gpt-4o-mini"},
		{"gpt-4.1-2025-04-14", "gpt-4.1"},
		{"gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"},
		{"gpt-4-0613", "gpt-4"},
		{"gpt-4", "gpt-4"},
		{"gpt-5", "gpt-5"},
		{"gpt-5-2025-08-07", "gpt-5"},
		{"gpt-5-mini-2025-08-07", "gpt-5-mini"},
		{"gpt-5.1-codex-max", "gpt-5.1-codex-max"},
		{"gpt-5.2-codex", "gpt-5.2-codex"},
		{"gemini-2.0-flash", "gemini-2.0-flash"},
		{"gemini-2.0-flash-001", "gemini-2.0-flash"},
		{"models/gemini-2.5-flash", "gemini-2.5-flash"},
		{"mistral/mistral-small-latest", "mistral-small-latest"},
		{"mistral-small-2506", "mistral-small"},
		// Not priced: a different model that merely starts like a known one,
		// local or unknown models, harness markers.
		{"gpt-4o-realtime-preview", ""},
		{"gpt-4-vision-preview", ""},
		{"claude-sonnet-4-7", ""},
		{"gemini-2.0-flash-exp", ""},
		{"meta-llama/llama-4-maverick", ""},
		{"ollama/gemma3", ""},
		{"<synthetic>", ""},
		{"", ""},
		{"/", ""},
	}
	for _, tt := range tests {
		_, got, ok := p.Lookup(tt.model)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.model, got, ok, tt.want)
		}
	}
}

func TestPrice(t *testing.T) {
	p := DefaultPricing()
	u := trace.Usage{Input: 1000, Output: 2000, CacheRead: 100_000, CacheWrite: 5000, Reasoning: 500}
	tests := []struct {
		model string
		u     trace.Usage
		want  float64
	}{
		// Anthropic list prices: $3 in, $15 out, $0.30 cache read, $3.75 cache write (5 min).
		{"claude-sonnet-4-5", u, (1000*3 + 2000*15 + 100_000*0.3 + 5000*3.75) / 1e6},
		{"claude-opus-4-20250514", trace.Usage{Input: 1_000_000}, 15},
		{"claude-opus-4-20250514", trace.Usage{Output: 1_000_000}, 75},
		{"claude-opus-4-6", trace.Usage{Output: 1_000_000}, 25},
		{"claude-haiku-4-5", trace.Usage{CacheRead: 1_000_000}, 0.10},
		// OpenAI: cached input at half or a tenth; no cache write charge beyond input.
		{"gpt-4o-2024-08-06", trace.Usage{Input: 1_000_000, CacheRead: 1_000_000}, 2.5 + 1.25},
		{"gpt-4o-mini", trace.Usage{Input: 1_000_000, Output: 1_000_000}, 0.15 + 0.60},
		{"gpt-4.1", trace.Usage{Input: 1_000_000, Output: 1_000_000, CacheRead: 1_000_000}, 2 + 8 + 0.5},
		{"gpt-5", trace.Usage{Input: 1_000_000, Output: 1_000_000, CacheRead: 1_000_000}, 1.25 + 10 + 0.125},
		{"gpt-4-0613", trace.Usage{Input: 1000, Output: 1000}, 0.03 + 0.06},
		{"gemini-2.0-flash", trace.Usage{Input: 1_000_000, Output: 1_000_000}, 0.10 + 0.40},
		{"mistral-small-latest", trace.Usage{Input: 1_000_000, Output: 1_000_000}, 0.10 + 0.30},
		{"gpt-4o", trace.Usage{}, 0},
	}
	for _, tt := range tests {
		got, ok := p.Price(tt.model, tt.u)
		if !ok || math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Price(%q, %+v) = %v, %v; want %v", tt.model, tt.u, got, ok, tt.want)
		}
	}
	if _, ok := p.Price("llama-4-maverick", u); ok {
		t.Error("an unknown model must be reported as unpriced, not priced at 0")
	}
}

func TestEmbeddedTable(t *testing.T) {
	p := DefaultPricing()
	if !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`).MatchString(p.AsOf) {
		t.Errorf("as_of = %q, want a date", p.AsOf)
	}
	for _, prov := range []string{"anthropic", "openai", "google", "mistral"} {
		if p.Sources[prov] == "" {
			t.Errorf("no source for provider %q", prov)
		}
	}
	for _, name := range p.Models() {
		pr := p.models[name]
		if pr.Provider == "" || pr.Input <= 0 || pr.Output <= 0 || pr.CacheRead <= 0 || pr.CacheWrite <= 0 {
			t.Errorf("%s: incomplete entry %+v", name, pr)
		}
		if pr.Output < pr.Input || pr.CacheRead > pr.Input {
			t.Errorf("%s: implausible entry %+v (output cheaper than input, or cache reads dearer than input)", name, pr)
		}
		if _, got, _ := p.Lookup(name); got != name {
			t.Errorf("Lookup(%q) matched %q, want itself", name, got)
		}
	}
}

func TestLoadPricing(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	path := write("ok.json", `{
  "as_of": "2027-01-01",
  "models": {
    "gpt-4o": {"input": 2},
    "acme-coder-1": {"provider": "acme", "input": 1, "output": 4},
    "Acme-Coder-2": {"input": 1, "output": 4, "cache_read": 0.1, "cache_write": 1.5}
  }
}`)
	p, err := LoadPricing(path)
	if err != nil {
		t.Fatal(err)
	}
	if p.AsOf != "2027-01-01" || !slices.Equal(p.Files, []string{path}) {
		t.Errorf("AsOf, Files = %q, %q", p.AsOf, p.Files)
	}
	check := func(model string, want Price) {
		t.Helper()
		got, _, ok := p.Lookup(model)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %+v", model, got, ok, want)
		}
	}
	// An override replaces only the fields it gives.
	check("gpt-4o-2024-08-06", Price{Provider: "openai", Input: 2, Output: 10, CacheRead: 1.25, CacheWrite: 2.5})
	// A new model: cache prices default to input (no discount).
	check("acme-coder-1", Price{Provider: "acme", Input: 1, Output: 4, CacheRead: 1, CacheWrite: 1})
	check("acme-coder-2-20270101", Price{Input: 1, Output: 4, CacheRead: 0.1, CacheWrite: 1.5})
	// The rest of the embedded table is still there.
	check("claude-sonnet-4", Price{Provider: "anthropic", Input: 3, Output: 15, CacheRead: 0.3, CacheWrite: 3.75})

	bad := []struct {
		name, content, want string
	}{
		{"syntax.json", "{\n  \"models\": {\n    \"x\": {\"input\": 1,}\n  }\n}", `line 3: invalid character '}'`},
		{"negative.json", `{"models": {"gpt-4o": {"output": -1}}}`, `models["gpt-4o"].output: must be a price >= 0`},
		{"type.json", `{"models": {"gpt-4o": {"input": "2.5"}}}`, `models["gpt-4o"].input: must be a number, got a JSON string`},
		{"unknown.json", `{"models": {"gpt-4o": {"inptu": 1}}}`, `models["gpt-4o"]: json: unknown field "inptu"`},
		{"incomplete.json", `{"models": {"new-model": {"input": 1}}}`, `models["new-model"]: a new model needs both "input" and "output"`},
		{"currency.json", `{"currency": "EUR", "models": {}}`, `currency: prices must be in USD`},
		{"nomodels.json", `{"as_of": "2027-01-01"}`, `models: missing`},
		{"toplevel.json", `{"model": {}}`, `json: unknown field "model"`},
		{"empty.json", ``, `empty file`},
		{"trailing.json", `{"models": {}} {}`, `unexpected data after the JSON object`},
	}
	for _, tt := range bad {
		path := write(tt.name, tt.content)
		_, err := LoadPricing(path)
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		if !strings.HasPrefix(err.Error(), `load pricing "`+path+`": `) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q, want it to name the file and contain %q", tt.name, err, tt.want)
		}
	}
	if _, err := LoadPricing(filepath.Join(dir, "missing.json")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Errorf("missing file: %v", err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

// TestCorpusModelsPriced checks that every model of the providers the table
// covers (Anthropic, OpenAI, Google, Mistral) named in a model field of the
// real traces in shared/corpus is priced. Other models (Llama, Gemma served
// locally or through a router) are deliberately left unpriced.
func TestCorpusModelsPriced(t *testing.T) {
	root := findCorpus(t)
	// Model fields as they appear in the corpus formats: "model": "…" (Claude
	// Code, Langfuse, OpenAI payloads, also JSON inside JSON strings),
	// "llm.model_name", "gen_ai.request.model"/"gen_ai.response.model" as plain
	// keys or OTLP attributes ({"key":…,"value":{"stringValue":…}}).
	field := regexp.MustCompile(`\\*"(?:model|model_name|modelName|llm\.model_name|gen_ai\.(?:request|response)\.model)\\*"\s*:\s*(?:\{\s*\\*"stringValue\\*"\s*:\s*)?\\*"([^"\\]+)`)
	otlp := regexp.MustCompile(`"key"\s*:\s*"gen_ai\.(?:request|response)\.model"\s*,\s*"value"\s*:\s*\{\s*"stringValue"\s*:\s*"([^"]+)"`)
	covered := regexp.MustCompile(`(?i)(^|/)(claude-|gpt-|gemini-|mistral-|codestral-|o[134](-|$))`)
	p := DefaultPricing()
	seen := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".md") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, re := range []*regexp.Regexp{field, otlp} {
			for _, m := range re.FindAllSubmatch(data, -1) {
				if _, ok := seen[string(m[1])]; !ok {
					seen[string(m[1])] = path
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Sanity: the scan must find the models we know are there (checked with
	// grep -o '"model":"[^"]*"' over corpus/claude-code and corpus/langfuse).
	for _, m := range []string{"claude-sonnet-4-20250514", "gpt-4o-mini", "gemini-2.0-flash", "claude-opus-4-6"} {
		if _, ok := seen[m]; !ok {
			t.Errorf("corpus scan did not find model %q: the scan is broken", m)
		}
	}
	names := make([]string, 0, len(seen))
	for m := range seen {
		names = append(names, m)
	}
	slices.Sort(names)
	for _, m := range names {
		if !covered.MatchString(m) {
			t.Logf("not covered by the table (by design): %q", m)
			continue
		}
		if _, name, ok := p.Lookup(m); !ok {
			t.Errorf("model %q (in %s) is not priced", m, seen[m])
		} else {
			t.Logf("%q priced as %q", m, name)
		}
	}
}

func findCorpus(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		c := filepath.Join(dir, "shared", "corpus")
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			testutil.SkipUnlessCI(t, "shared/corpus not found beside the repository: corpus checks skipped")
		}
		dir = parent
	}
}

// FuzzParsePricing feeds arbitrary pricing files: parsing never panics, and a
// table it accepts holds only usable prices.
func FuzzParsePricing(f *testing.F) {
	f.Add(embeddedPricing)
	f.Add([]byte(`{"models": {"gpt-4o": {"input": 2}, "x": {"input": 1, "output": 2}}}`))
	f.Add([]byte(`{"models": {"": {"input": 1, "output": 2}}}`))
	f.Add([]byte(`{"models": {"a": {"input": 1e400, "output": -0}}}`))
	f.Add([]byte(`{"currency": "usd", "unit": "per 1M tokens", "models": null}`))
	base := DefaultPricing() // parsePricing copies it, never changes it
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := parsePricing("fuzz.json", data, base)
		if err != nil {
			if !strings.HasPrefix(err.Error(), `load pricing "fuzz.json": `) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, name := range p.Models() {
			pr := p.models[name]
			for _, v := range []float64{pr.Input, pr.Output, pr.CacheRead, pr.CacheWrite} {
				if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("%s: accepted unusable price %+v", name, pr)
				}
			}
			if _, got, ok := p.Lookup(name); !ok || got != name {
				t.Fatalf("Lookup(%q) = %q, %v", name, got, ok)
			}
		}
	})
}
