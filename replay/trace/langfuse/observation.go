package langfuse

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// observation is one Langfuse observation as exported by the UI, returned by
// GET /api/public/traces/{id} (observations inside the trace) and by
// GET /api/public/v2/observations. Dynamic fields stay raw until needed.
type observation struct {
	ID                  string          `json:"id"`
	Type                string          `json:"type"`
	Name                string          `json:"name"`
	ParentObservationID string          `json:"parentObservationId"`
	StartTime           string          `json:"startTime"`
	EndTime             string          `json:"endTime"`
	Model               string          `json:"model"`
	ProvidedModelName   string          `json:"providedModelName"`
	ModelParameters     json.RawMessage `json:"modelParameters"`
	Input               json.RawMessage `json:"input"`
	Output              json.RawMessage `json:"output"`
	Metadata            json.RawMessage `json:"metadata"`
	Level               string          `json:"level"`
	StatusMessage       string          `json:"statusMessage"`
	UsageDetails        json.RawMessage `json:"usageDetails"`
	Usage               json.RawMessage `json:"usage"`
	CostDetails         json.RawMessage `json:"costDetails"`
	CalculatedTotalCost json.RawMessage `json:"calculatedTotalCost"`
	TotalCost           json.RawMessage `json:"totalCost"`
	PromptTokens        json.RawMessage `json:"promptTokens"`
	CompletionTokens    json.RawMessage `json:"completionTokens"`
	TotalTokens         json.RawMessage `json:"totalTokens"`
	InputUsage          json.RawMessage `json:"inputUsage"`
	OutputUsage         json.RawMessage `json:"outputUsage"`
	TotalUsage          json.RawMessage `json:"totalUsage"`
	ToolDefinitions     json.RawMessage `json:"toolDefinitions"`
}

// decodeObservation decodes one observation from its byte range (which may
// start with the comma and spaces that preceded it in its list).
func decodeObservation(b []byte) (*observation, error) {
	if i := bytes.IndexByte(b, '{'); i > 0 {
		b = b[i:]
	}
	var o observation
	if err := json.Unmarshal(b, &o); err != nil {
		// Fields of unexpected types: fall back to a generic read of the
		// fields we use, so one odd field does not lose the observation.
		return decodeObservationLoose(b)
	}
	return &o, nil
}

func decodeObservationLoose(b []byte) (*observation, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	s := func(k string) string {
		var v string
		_ = json.Unmarshal(m[k], &v)
		return v
	}
	return &observation{
		ID: s("id"), Type: s("type"), Name: s("name"), ParentObservationID: s("parentObservationId"),
		StartTime: s("startTime"), EndTime: s("endTime"), Model: s("model"), ProvidedModelName: s("providedModelName"),
		ModelParameters: m["modelParameters"], Input: m["input"], Output: m["output"], Metadata: m["metadata"],
		Level: s("level"), StatusMessage: s("statusMessage"), UsageDetails: m["usageDetails"], Usage: m["usage"],
		CostDetails: m["costDetails"], CalculatedTotalCost: m["calculatedTotalCost"], TotalCost: m["totalCost"],
		PromptTokens: m["promptTokens"], CompletionTokens: m["completionTokens"], TotalTokens: m["totalTokens"],
		InputUsage: m["inputUsage"], OutputUsage: m["outputUsage"], TotalUsage: m["totalUsage"],
		ToolDefinitions: m["toolDefinitions"],
	}, nil
}

// isNull reports whether a raw field is absent or null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// maxParse bounds the size of a field read as a generic value: a bigger
// structured value (a 50 MB request) would take several times its size in
// memory, so it is kept verbatim (a Raw part) instead of parsed.
const maxParse = 16 << 20

// value decodes a raw field into a generic value, unwrapping JSON held in
// strings.
func value(raw json.RawMessage) any {
	if isNull(raw) {
		return nil
	}
	if len(raw) > maxParse {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return json.RawMessage(bytes.TrimSpace(raw))
	}
	v, err := decodeAny(raw)
	if err != nil {
		return nil
	}
	// Exports that store values as JSON-encoded strings write null as
	// "null" (and Python producers as "None").
	if s, ok := v.(string); ok && (s == "null" || s == "None") {
		return nil
	}
	return unwrapString(v)
}

// numbers reads a map of numbers (usageDetails, costDetails), ignoring
// entries that are not numbers.
func numbers(raw json.RawMessage) map[string]float64 {
	m := asMap(value(raw))
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		if f, ok := num(v); ok {
			out[k] = f
		}
	}
	return out
}

// usage returns the observation's token usage as disjoint counts.
func (o *observation) usage() *trace.Usage {
	if u := numbers(o.UsageDetails); len(u) > 0 {
		return normalizeUsage(u)
	}
	if u := numbers(o.Usage); len(u) > 0 {
		return normalizeUsage(u)
	}
	// Older API fields, and the totals the API computes (inputUsage, …)
	// when usageDetails is null.
	for _, set := range [][3]json.RawMessage{{o.PromptTokens, o.CompletionTokens, o.TotalTokens}, {o.InputUsage, o.OutputUsage, o.TotalUsage}} {
		legacy := map[string]float64{}
		for k, raw := range map[string]json.RawMessage{"input": set[0], "output": set[1], "total": set[2]} {
			if f, ok := num(value(raw)); ok && f > 0 {
				legacy[k] = f
			}
		}
		if len(legacy) > 0 {
			return normalizeUsage(legacy)
		}
	}
	return nil
}

// cost returns the cost Langfuse recorded for the observation:
// costDetails.total, else calculatedTotalCost, else a non-zero totalCost.
func (o *observation) cost() *float64 {
	if c := numbers(o.CostDetails); c != nil {
		if t, ok := c["total"]; ok {
			return trace.Float(t)
		}
	}
	if f, ok := num(value(o.CalculatedTotalCost)); ok {
		return trace.Float(f)
	}
	if f, ok := num(value(o.TotalCost)); ok && f > 0 {
		return trace.Float(f)
	}
	return nil
}

// params reads modelParameters. Values come as numbers or as strings
// ("0.7", "null"); nonsense values (negative max tokens) are left out.
func (o *observation) params() trace.Params {
	var p trace.Params
	m := asMap(value(o.ModelParameters))
	get := func(keys ...string) (float64, bool) {
		for _, k := range keys {
			if f, ok := num(unwrapString(m[k])); ok {
				return f, true
			}
		}
		return 0, false
	}
	if f, ok := get("temperature"); ok {
		p.Temperature = trace.Float(f)
	}
	if f, ok := get("top_p", "topP"); ok {
		p.TopP = trace.Float(f)
	}
	if f, ok := get("top_k", "topK"); ok && f >= 0 {
		p.TopK = trace.Int(int64(f))
	}
	if f, ok := get("max_tokens", "max_completion_tokens", "max_output_tokens", "maxTokens", "maxOutputTokens", "max_new_tokens"); ok && f > 0 {
		p.MaxTokens = trace.Int(int64(f))
	}
	if f, ok := get("seed"); ok {
		p.Seed = trace.Int(int64(f))
	}
	for _, k := range []string{"stop", "stop_sequences", "stopSequences"} {
		switch v := unwrapString(m[k]).(type) {
		case string:
			if v != "" && v != "null" {
				p.Stop = []string{v}
			}
		case []any:
			for _, s := range v {
				if t, ok := s.(string); ok {
					p.Stop = append(p.Stop, t)
				}
			}
		}
		if len(p.Stop) > 0 {
			break
		}
	}
	if s := str(m, "model"); s != "" {
		p.Model = s
	}
	return p
}

func (o *observation) model() string {
	if o.Model != "" {
		return o.Model
	}
	return o.ProvidedModelName
}

func (o *observation) times() (start, end time.Time) {
	return parseTime(o.StartTime), parseTime(o.EndTime)
}

// attrs returns the observation's metadata as one flat map: the OTel
// attributes Langfuse keeps under "attributes" over the top-level keys.
func (o *observation) attrs() map[string]any {
	m := asMap(value(o.Metadata))
	if m == nil {
		return nil
	}
	a := asMap(unwrapString(m["attributes"]))
	if a == nil {
		return m
	}
	out := make(map[string]any, len(m)+len(a))
	for k, v := range m {
		out[k] = v
	}
	for k, v := range a {
		out[k] = v
	}
	return out
}

// toolName returns the name of the tool a TOOL observation (or a span that
// is a tool call) ran.
func toolName(o *observation, attrs map[string]any) string {
	if n := firstStr(attrs, "gen_ai.tool.name", "tool.name", "ai.toolCall.name"); n != "" {
		return n
	}
	n := o.Name
	for _, p := range []string{"execute_tool ", "running tool: ", "tool.", "tool "} {
		n = strings.TrimPrefix(n, p)
	}
	return n
}

// toolMessage returns the LangChain ToolMessage an output holds, if any.
func toolMessage(v any) map[string]any {
	m := asMap(v)
	if m == nil {
		return nil
	}
	if isLangChainSerialized(m) {
		id := asList(m["id"])
		if len(id) > 0 && langChainRole(idOf(id[len(id)-1])) == roleTool {
			return asMap(m["kwargs"])
		}
		return nil
	}
	if str(m, "type") == "tool" && m["tool_call_id"] != nil {
		return m
	}
	return nil
}

// isToolSpan reports whether a SPAN (or CHAIN) observation is in fact a tool
// call: OTel tool attributes, or a LangChain ToolMessage as output.
func isToolSpan(o *observation, attrs map[string]any) bool {
	// An OpenInference span kind or a GenAI operation other than a tool
	// call rules it out (BeeAI's agent "update" spans name the tool the
	// agent is about to call).
	if k := str(attrs, "openinference.span.kind"); k != "" && !strings.EqualFold(k, "TOOL") {
		return false
	}
	if op := str(attrs, "gen_ai.operation.name"); op != "" && op != "execute_tool" {
		return false
	}
	if firstStr(attrs, "gen_ai.tool.name", "tool.name", "ai.toolCall.name") != "" {
		return true
	}
	if str(attrs, "gen_ai.operation.name") == "execute_tool" {
		return true
	}
	return toolMessage(value(o.Output)) != nil
}

// toolCallID finds the call id of a tool observation in its metadata or its
// output.
func toolCallID(o *observation, attrs map[string]any, out any) string {
	for _, k := range []string{"gen_ai.tool.call.id", "ai.toolCall.id", "tool_call_id", "tool.id", "tool_call.id"} {
		if id := idOf(attrs[k]); id != "" {
			return id
		}
	}
	if tm := toolMessage(out); tm != nil {
		return idOf(tm["tool_call_id"])
	}
	return ""
}

// argsFromRaw returns a tool observation's input as arguments, verbatim when
// it is structured.
func argsFromRaw(raw json.RawMessage) json.RawMessage {
	if isNull(raw) {
		return nil
	}
	t := bytes.TrimSpace(raw)
	if t[0] == '"' {
		return argsOf(unwrapArgs(value(raw)))
	}
	var b bytes.Buffer
	if json.Compact(&b, t) != nil {
		return append(json.RawMessage(nil), t...)
	}
	return b.Bytes()
}

// toolResult renders a tool observation's output: text when it is text (a
// string, text blocks, a ToolMessage's content), verbatim JSON otherwise.
func toolResult(out any) (text string, raw json.RawMessage, isErr bool) {
	if tm := toolMessage(out); tm != nil {
		isErr = str(tm, "status") == "error"
		out = unwrapString(tm["content"])
	}
	switch v := out.(type) {
	case nil:
		return "", nil, isErr
	case string:
		return v, nil, isErr
	}
	if t := textOf(out); t != "" && t[0] != '{' && t[0] != '[' {
		return t, nil, isErr
	}
	return "", rawOf(out), isErr
}

// responseID finds the provider's response id in an output or metadata.
func responseID(out any, attrs map[string]any) string {
	if id := firstStr(attrs, "gen_ai.response.id", "ai.response.id", "llm.response.id"); id != "" {
		return id
	}
	m := asMap(out)
	if m != nil && (m["choices"] != nil || str(m, "object") == "response" || m["candidates"] != nil) {
		return firstStr(m, "id", "response_id", "responseId")
	}
	return ""
}

// toolDefs reads the tool definitions a generation was offered:
// Langfuse's toolDefinitions ({name: definition}) or the Vercel AI SDK's
// metadata "tools" list.
func toolDefs(o *observation, attrs map[string]any) []trace.ToolDef {
	var defs []trace.ToolDef
	add := func(v any, name string) {
		d := trace.ToolDef{Name: name}
		if m := asMap(unwrapString(v)); m != nil {
			if f := asMap(m["function"]); f != nil {
				m = f
			}
			if n := str(m, "name"); n != "" {
				d.Name = n
			}
			d.Description = str(m, "description")
			if s := firstNonNil(m["parameters"], m["inputSchema"], m["input_schema"], m["schema"]); s != nil {
				d.Schema = rawOf(s)
			}
		}
		if d.Name != "" {
			defs = append(defs, d)
		}
	}
	if td := asMap(value(o.ToolDefinitions)); len(td) > 0 {
		for _, name := range slices.Sorted(maps.Keys(td)) {
			add(td[name], name)
		}
	}
	for _, v := range asList(attrs["tools"]) {
		add(v, "")
	}
	return defs
}
