// Package model is replay's model layer: an OpenAI-compatible client over
// go-openai with retries and a disk response cache, a recorded model that
// answers from an original run, and the pricing table.
package model

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
)

//go:embed pricing.json
var embeddedPricing []byte

// Price is what a model costs, in USD per million tokens of each of the four
// disjoint usage counts (see trace.Usage). Reasoning tokens are part of
// output and priced as output.
type Price struct {
	Provider   string  `json:"provider,omitempty"`
	Input      float64 `json:"input"`
	Output     float64 `json:"output"`
	CacheRead  float64 `json:"cache_read"`
	CacheWrite float64 `json:"cache_write"`
	Note       string  `json:"note,omitempty"`
}

// Cost returns the USD cost of u at price p.
func (p Price) Cost(u trace.Usage) float64 {
	return (float64(u.Input)*p.Input +
		float64(u.Output)*p.Output +
		float64(u.CacheRead)*p.CacheRead +
		float64(u.CacheWrite)*p.CacheWrite) / 1e6
}

// Pricing is a dated table of model prices. It satisfies trace.Pricer. A
// Pricing is not changed after it is built, so it is safe for concurrent use.
type Pricing struct {
	// AsOf is the date the prices were compiled (YYYY-MM-DD).
	AsOf string
	// Sources names, per provider, where the prices come from.
	Sources map[string]string
	// Files lists the user files merged over the embedded table, in order.
	Files []string

	models   map[string]Price
	prefixes []string // model names, longest first, for snapshot matching
}

var _ trace.Pricer = (*Pricing)(nil)

// DefaultPricing returns the table embedded in replay.
func DefaultPricing() *Pricing {
	p, err := parsePricing("embedded pricing.json", embeddedPricing, nil)
	if err != nil {
		// The embedded table is tested; a broken one is a build defect.
		panic(err)
	}
	return p
}

// LoadPricing returns the embedded table with the entries of the JSON file at
// path merged over it: a model already known has the fields the file gives
// replaced, a new model is added (input and output are then required;
// cache_read and cache_write default to the input price, i.e. no discount).
// The file has the shape of the embedded pricing.json; only "models" is
// required.
func LoadPricing(path string) (*Pricing, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load pricing %q: %w", path, err)
	}
	p, err := parsePricing(path, data, DefaultPricing())
	if err != nil {
		return nil, err
	}
	p.Files = append(p.Files, path)
	return p, nil
}

// Price implements trace.Pricer.
func (p *Pricing) Price(model string, u trace.Usage) (float64, bool) {
	pr, _, ok := p.Lookup(model)
	if !ok {
		return 0, false
	}
	return pr.Cost(u), true
}

// Lookup finds the price of model. name is the table entry that matched.
//
// Matching, case-insensitively: the name as given; else with provider
// prefixes stripped ("openai/gpt-4o", "models/gemini-2.0-flash",
// "openrouter/anthropic/claude-sonnet-4", Bedrock's
// "us.anthropic.claude-…"); else the longest table entry the name starts with
// when what follows is a snapshot suffix: a separator (- @ :) then a date or
// version number of at least 3 digits, or "latest" ("claude-sonnet-4-20250514",
// "gpt-4o-2024-08-06", "gpt-4-0613", "gemini-2.0-flash-001",
// "claude-sonnet-4@20250514"). A name that merely starts with a known one
// ("gpt-4-turbo" when only gpt-4 is known) is not priced: an unpriced model is
// reported, a wrong price is not.
func (p *Pricing) Lookup(model string) (price Price, name string, ok bool) {
	for _, c := range candidates(model) {
		if pr, ok := p.models[c]; ok {
			return pr, c, true
		}
	}
	for _, c := range candidates(model) {
		for _, k := range p.prefixes {
			if len(k) < len(c) && strings.HasPrefix(c, k) && isSnapshot(c[len(k):]) {
				return p.models[k], k, true
			}
		}
	}
	return Price{}, "", false
}

// Models returns the names in the table, sorted.
func (p *Pricing) Models() []string {
	names := make([]string, 0, len(p.models))
	for k := range p.models {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// isSnapshot reports whether rest, what follows a known model name, marks a
// snapshot of it: a separator (- @ :) then "latest" or at least 3 digits.
func isSnapshot(rest string) bool {
	if len(rest) < 2 || !strings.ContainsRune("-@:", rune(rest[0])) {
		return false
	}
	body := rest[1:]
	if body == "latest" {
		return true
	}
	n := 0
	for n < len(body) && '0' <= body[n] && body[n] <= '9' {
		n++
	}
	return n >= 3
}

// candidates lists the names to try for model: itself, then with each
// leading provider segment removed.
func candidates(model string) []string {
	m := strings.ToLower(strings.TrimSpace(model))
	if m == "" {
		return nil
	}
	out := []string{m}
	for {
		i := strings.IndexByte(m, '/')
		if i < 0 {
			break
		}
		m = m[i+1:]
		if m == "" {
			break
		}
		out = append(out, m)
	}
	// Bedrock model ids: "anthropic.claude-…", "us.anthropic.claude-…-v1:0".
	if _, after, found := strings.Cut(m, "anthropic."); found && after != "" {
		out = append(out, after)
	}
	return out
}

// file is the JSON shape of pricing.json.
type file struct {
	AsOf     string                     `json:"as_of"`
	Currency string                     `json:"currency"`
	Unit     string                     `json:"unit"`
	Sources  map[string]string          `json:"sources"`
	Notes    []string                   `json:"notes"`
	Models   map[string]json.RawMessage `json:"models"`
}

type entry struct {
	Provider   *string  `json:"provider"`
	Input      *float64 `json:"input"`
	Output     *float64 `json:"output"`
	CacheRead  *float64 `json:"cache_read"`
	CacheWrite *float64 `json:"cache_write"`
	Note       *string  `json:"note"`
}

// parsePricing reads a pricing file named name; its entries are merged over
// base when base is not nil.
func parsePricing(name string, data []byte, base *Pricing) (*Pricing, error) {
	fail := func(field string, err error) error {
		if field == "" {
			return fmt.Errorf("load pricing %q: %w", name, err)
		}
		return fmt.Errorf("load pricing %q: %s: %w", name, field, err)
	}
	var f file
	if err := strictDecode(data, &f); err != nil {
		return nil, fail("", describeJSONError(data, err))
	}
	if f.Currency != "" && !strings.EqualFold(f.Currency, "USD") {
		return nil, fail("currency", fmt.Errorf("prices must be in USD, got %q", f.Currency))
	}
	if f.Unit != "" && f.Unit != "per 1M tokens" {
		return nil, fail("unit", fmt.Errorf("prices must be per 1M tokens (\"per 1M tokens\"), got %q", f.Unit))
	}
	if f.Models == nil {
		return nil, fail("models", errors.New("missing: the file must have a \"models\" object"))
	}
	p := &Pricing{models: map[string]Price{}, Sources: map[string]string{}}
	if base != nil {
		p.AsOf = base.AsOf
		for k, v := range base.Sources {
			p.Sources[k] = v
		}
		for k, v := range base.models {
			p.models[k] = v
		}
		p.Files = slices.Clone(base.Files)
	}
	if f.AsOf != "" {
		p.AsOf = f.AsOf
	}
	for k, v := range f.Sources {
		p.Sources[k] = v
	}
	for rawName, raw := range f.Models {
		field := fmt.Sprintf("models[%q]", rawName)
		key := strings.ToLower(strings.TrimSpace(rawName))
		if key == "" {
			return nil, fail(field, errors.New("empty model name"))
		}
		var e entry
		if err := strictDecode(raw, &e); err != nil {
			var typ *json.UnmarshalTypeError
			if errors.As(err, &typ) && typ.Field != "" {
				return nil, fail(field+"."+typ.Field, fmt.Errorf("must be a %s, got a JSON %s", typeName(typ.Type.Kind().String()), typ.Value))
			}
			return nil, fail(field, err)
		}
		old, known := p.models[key]
		if !known && (e.Input == nil || e.Output == nil) {
			return nil, fail(field, errors.New("a new model needs both \"input\" and \"output\" prices (USD per 1M tokens)"))
		}
		pr := old
		if !known {
			pr = Price{CacheRead: *e.Input, CacheWrite: *e.Input}
		}
		for _, n := range []struct {
			name string
			src  *float64
			dst  *float64
		}{{"input", e.Input, &pr.Input}, {"output", e.Output, &pr.Output}, {"cache_read", e.CacheRead, &pr.CacheRead}, {"cache_write", e.CacheWrite, &pr.CacheWrite}} {
			if n.src == nil {
				continue
			}
			if *n.src < 0 || math.IsNaN(*n.src) || math.IsInf(*n.src, 0) {
				return nil, fail(field+"."+n.name, fmt.Errorf("must be a price >= 0 in USD per 1M tokens, got %v", *n.src))
			}
			*n.dst = *n.src
		}
		if e.Provider != nil {
			pr.Provider = *e.Provider
		}
		if e.Note != nil {
			pr.Note = *e.Note
		}
		p.models[key] = pr
	}
	p.prefixes = p.Models()
	slices.SortStableFunc(p.prefixes, func(a, b string) int { return len(b) - len(a) })
	return p, nil
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// describeJSONError turns a decoding error into one that names the line and,
// where known, the field.
func describeJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("line %d: %w", lineOf(data, syn.Offset), err)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Errorf("line %d: %s: must be a %s, got a JSON %s", lineOf(data, typ.Offset), typ.Field, typeName(typ.Type.Kind().String()), typ.Value)
		}
		return fmt.Errorf("line %d: must be a %s, got a JSON %s", lineOf(data, typ.Offset), typeName(typ.Type.Kind().String()), typ.Value)
	case errors.Is(err, io.EOF):
		return errors.New("empty file")
	}
	return err
}

func typeName(kind string) string {
	switch kind {
	case "float64", "ptr":
		return "number"
	case "map", "struct":
		return "JSON object"
	case "slice":
		return "JSON array"
	}
	return kind
}

func lineOf(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	return 1 + bytes.Count(data[:off], []byte("\n"))
}
