package claudecode

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// record is one line of a transcript or of a stream-json output, decoded into
// the fields the importer uses. Everything else (file contents duplicated in
// toolUseResult, snapshots, thinking signatures) is skipped by the decoder.
//
// Decoding is two-pass only where it must be. The fast pass declares the
// common shape of the union fields (message.content as blocks, a tool
// result's content as a string, toolUseResult as an object); a line whose
// union fields have the other shape fails that pass with a type error, and
// only such a line is decoded again for its union fields (see decodeRecord).
type record struct {
	Type        string `json:"type"`
	Subtype     string `json:"subtype"`
	UUID        string `json:"uuid"`
	ParentUUID  string `json:"parentUuid"`
	IsSidechain bool   `json:"isSidechain"`
	AgentID     string `json:"agentId"`
	SessionID   string `json:"sessionId"`
	Timestamp   string `json:"timestamp"`
	Version     string `json:"version"`
	Cwd         string `json:"cwd"`
	GitBranch   string `json:"gitBranch"`
	IsMeta      bool   `json:"isMeta"`
	IsCompact   bool   `json:"isCompactSummary"`

	Message       message        `json:"message"`
	ToolUseResult *toolUseResult `json:"toolUseResult"`

	IsAPIErrorMessage bool            `json:"isApiErrorMessage"`
	APIErrorStatus    json.RawMessage `json:"apiErrorStatus"`
	Error             json.RawMessage `json:"error"`

	// system records (transcript)
	Content json.RawMessage `json:"content"`
	Level   string          `json:"level"`
	// summary records
	Summary string `json:"summary"`
	// attachment records
	Attachment json.RawMessage `json:"attachment"`
	// pr-link records
	PRNumber     json.RawMessage `json:"prNumber"`
	PRURL        string          `json:"prUrl"`
	PRRepository string          `json:"prRepository"`

	// stream-json
	SessionIDSnake     string          `json:"session_id"`
	ParentToolUseID    string          `json:"parent_tool_use_id"`
	ToolUseResultSnake *toolUseResult  `json:"tool_use_result"`
	Model              string          `json:"model"`
	Tools              []string        `json:"tools"`
	ClaudeCodeVersion  string          `json:"claude_code_version"`
	PermissionMode     string          `json:"permissionMode"`
	IsError            bool            `json:"is_error"`
	DurationMS         int64           `json:"duration_ms"`
	DurationAPIMS      int64           `json:"duration_api_ms"`
	NumTurns           int64           `json:"num_turns"`
	Result             string          `json:"result"`
	TotalCostUSD       *float64        `json:"total_cost_usd"`
	Usage              *usage          `json:"usage"`
	ModelUsage         json.RawMessage `json:"modelUsage"`
	PermissionDenials  json.RawMessage `json:"permission_denials"`
	StopReason         string          `json:"stop_reason"`
	TerminalReason     string          `json:"terminal_reason"`
	Attempt            int64           `json:"attempt"`
	ErrorStatus        json.RawMessage `json:"error_status"`

	// Set by decodeRecord from the second pass, never by the decoder.
	contentText  string // message.content when it is a string
	contentIsStr bool
	resultString bool // toolUseResult was a string (an "Error: …" text)

	spare *toolUseResult // reused for ToolUseResult from line to line

	// problems lists the values of the wrong type decodeRecord found (and
	// left out); the importer warns about each.
	problems []trace.FieldProblem

	ts       time.Time // Timestamp parsed, once tsParsed
	tsParsed bool
}

// time returns the timestamp of the record, parsed once.
func (r *record) time() time.Time {
	if !r.tsParsed {
		r.ts, r.tsParsed = parseTime(r.Timestamp), true
	}
	return r.ts
}

type message struct {
	ID         string  `json:"id"`
	Model      string  `json:"model"`
	Role       string  `json:"role"`
	StopReason string  `json:"stop_reason"`
	Content    []block `json:"content"`
	Usage      usage   `json:"usage"`
}

type usage struct {
	Input      int64 `json:"input_tokens"`
	Output     int64 `json:"output_tokens"`
	CacheRead  int64 `json:"cache_read_input_tokens"`
	CacheWrite int64 `json:"cache_creation_input_tokens"`
}

// block is a content block of a message. Content is the tool_result content
// when it is a string; Parts holds it when it is a list of blocks.
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   string          `json:"content"`
	IsError   bool            `json:"is_error"`
	Source    json.RawMessage `json:"source"` // image blocks

	parts    []json.RawMessage // content as blocks (second pass)
	hasParts bool
}

// toolUseResult holds the small fields of Claude Code's toolUseResult that
// replay needs later. It is decoded from the record and written back as
// ToolCall.Detail: the bulky duplicates (originalFile, file.content,
// structuredPatch, old/newString, old/newTodos, filenames, content, results,
// prompt, command) are never decoded.
type toolUseResult struct {
	Stdout                   json.RawMessage `json:"stdout,omitempty"`
	Stderr                   json.RawMessage `json:"stderr,omitempty"`
	Interrupted              json.RawMessage `json:"interrupted,omitempty"`
	IsImage                  json.RawMessage `json:"isImage,omitempty"`
	ReturnCodeInterpretation json.RawMessage `json:"returnCodeInterpretation,omitempty"`
	NoOutputExpected         json.RawMessage `json:"noOutputExpected,omitempty"`
	BackgroundTaskID         json.RawMessage `json:"backgroundTaskId,omitempty"`
	ExitCode                 json.RawMessage `json:"exitCode,omitempty"`
	ShellID                  json.RawMessage `json:"shellId,omitempty"`
	ShellID2                 json.RawMessage `json:"shell_id,omitempty"`
	Status                   json.RawMessage `json:"status,omitempty"`
	Success                  json.RawMessage `json:"success,omitempty"`
	Message                  json.RawMessage `json:"message,omitempty"`
	DurationMS               json.RawMessage `json:"durationMs,omitempty"`
	DurationSeconds          json.RawMessage `json:"durationSeconds,omitempty"`
	TotalDurationMS          json.RawMessage `json:"totalDurationMs,omitempty"`
	TotalTokens              json.RawMessage `json:"totalTokens,omitempty"`
	TotalToolUseCount        json.RawMessage `json:"totalToolUseCount,omitempty"`
	AgentID                  json.RawMessage `json:"agentId,omitempty"`
	AgentType                json.RawMessage `json:"agentType,omitempty"`
	ResolvedModel            json.RawMessage `json:"resolvedModel,omitempty"`
	IsAsync                  json.RawMessage `json:"isAsync,omitempty"`
	Usage                    json.RawMessage `json:"usage,omitempty"`
	NumFiles                 json.RawMessage `json:"numFiles,omitempty"`
	NumLines                 json.RawMessage `json:"numLines,omitempty"`
	Truncated                json.RawMessage `json:"truncated,omitempty"`
	FilePath                 json.RawMessage `json:"filePath,omitempty"`
	Kind                     json.RawMessage `json:"type,omitempty"`
	Mode                     json.RawMessage `json:"mode,omitempty"`
	UserModified             json.RawMessage `json:"userModified,omitempty"`
	URL                      json.RawMessage `json:"url,omitempty"`
	Code                     json.RawMessage `json:"code,omitempty"`
	CodeText                 json.RawMessage `json:"codeText,omitempty"`
	Bytes                    json.RawMessage `json:"bytes,omitempty"`
	Query                    json.RawMessage `json:"query,omitempty"`
	StdoutLines              json.RawMessage `json:"stdoutLines,omitempty"`
	StderrLines              json.RawMessage `json:"stderrLines,omitempty"`
}

// detail returns the fields of t that are set as a JSON object, nil when
// none is. The values are the raw JSON the decoder copied, written back as is.
func (t *toolUseResult) detail() json.RawMessage {
	fields := [...]struct {
		name string
		raw  json.RawMessage
	}{
		{"stdout", t.Stdout}, {"stderr", t.Stderr}, {"interrupted", t.Interrupted}, {"isImage", t.IsImage},
		{"returnCodeInterpretation", t.ReturnCodeInterpretation}, {"noOutputExpected", t.NoOutputExpected},
		{"backgroundTaskId", t.BackgroundTaskID}, {"exitCode", t.ExitCode}, {"shellId", t.ShellID},
		{"shell_id", t.ShellID2}, {"status", t.Status}, {"success", t.Success}, {"message", t.Message},
		{"durationMs", t.DurationMS}, {"durationSeconds", t.DurationSeconds}, {"totalDurationMs", t.TotalDurationMS},
		{"totalTokens", t.TotalTokens}, {"totalToolUseCount", t.TotalToolUseCount}, {"agentId", t.AgentID},
		{"agentType", t.AgentType}, {"resolvedModel", t.ResolvedModel}, {"isAsync", t.IsAsync}, {"usage", t.Usage},
		{"numFiles", t.NumFiles}, {"numLines", t.NumLines}, {"truncated", t.Truncated}, {"filePath", t.FilePath},
		{"type", t.Kind}, {"mode", t.Mode}, {"userModified", t.UserModified}, {"url", t.URL}, {"code", t.Code},
		{"codeText", t.CodeText}, {"bytes", t.Bytes}, {"query", t.Query}, {"stdoutLines", t.StdoutLines},
		{"stderrLines", t.StderrLines},
	}
	n := 0
	for _, f := range fields {
		if len(f.raw) > 0 {
			n += len(f.name) + len(f.raw) + 4
		}
	}
	if n == 0 {
		return nil
	}
	out := make([]byte, 0, n+2)
	out = append(out, '{')
	for _, f := range fields {
		if len(f.raw) == 0 {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, f.name...)
		out = append(out, '"', ':')
		out = append(out, f.raw...)
	}
	return append(out, '}')
}

// unionFields is the second pass: the union fields as raw JSON.
type unionFields struct {
	Message struct {
		Content json.RawMessage `json:"content"`
	} `json:"message"`
	ToolUseResult      json.RawMessage `json:"toolUseResult"`
	ToolUseResultSnake json.RawMessage `json:"tool_use_result"`
}

type unionBlock struct {
	Content json.RawMessage `json:"content"`
}

// decodeRecord decodes one line into r (which it resets first). It returns a
// trace.BadJSON-able error only for invalid JSON; values of unexpected types
// are ignored field by field. With options (json.DecodeNoCopyString), the
// strings of r may refer to b, which must then stay unchanged.
// hasToolUseResult reports whether line b holds the key "toolUseResult".
// It looks for `UseResult"` first: its first byte is rare in JSON, so the
// search skips along at memchr speed instead of stopping at every quote (a
// plain bytes.Contains of `"toolUseResult"` was 6% of a folder import).
func hasToolUseResult(b []byte) bool {
	for {
		i := bytes.Index(b, []byte(`UseResult"`))
		if i < 0 {
			return false
		}
		if i >= 5 && string(b[i-5:i]) == `"tool` {
			return true
		}
		b = b[i+1:]
	}
}

func decodeRecord(b []byte, r *record, opts ...json.DecodeOptionFunc) error {
	// Keep the blocks array of the previous line, cleared: most lines have
	// a block or two, and this saves an allocation per line.
	blocks := r.Message.Content[:cap(r.Message.Content)]
	clear(blocks)
	spare := r.spare
	*r = record{}
	r.Message.Content = blocks[:0]
	// toolUseResult is decoded into a struct reused from line to line,
	// cleared only for the lines that have one.
	if hasToolUseResult(b) {
		if spare == nil {
			spare = new(toolUseResult)
		} else {
			*spare = toolUseResult{}
		}
		r.ToolUseResult = spare
	}
	r.spare = spare
	err := json.UnmarshalWithOption(b, r, opts...)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	// A union field had its other shape, or some field had an unexpected
	// type (the typed decoder stops at the first): decode the line again
	// field by field, keeping every well-typed field and naming the others,
	// then the union fields as raw JSON.
	// The typed decoder goes on past a type error: r holds every field but
	// the wrong-typed ones. Those are named only when a field is wrong
	// beyond the union shapes (the common case, a string content, costs
	// one more typed decode).
	if !onlyUnionShapes(b) {
		var probe record
		problems, err := trace.DecodeLoose(b, &probe)
		if err != nil {
			return err
		}
		for _, p := range problems {
			if !unionShape(p) {
				r.problems = append(r.problems, p)
			}
		}
	}
	var u unionFields
	if err := json.Unmarshal(b, &u); err != nil && !errors.As(err, &te) {
		return err
	}
	if raw := u.Message.Content; len(raw) > 0 {
		switch raw[0] {
		case '"':
			var s string
			if json.Unmarshal(raw, &s) == nil {
				r.contentText, r.contentIsStr = s, true
			}
			r.Message.Content = nil
		case '[':
			r.Message.Content = decodeBlocks(raw)
		}
	}
	r.ToolUseResult = unionResult(u.ToolUseResult, r.ToolUseResult, &r.resultString)
	r.ToolUseResultSnake = unionResult(u.ToolUseResultSnake, r.ToolUseResultSnake, &r.resultString)
	return nil
}

// The shapes of a record with its union fields raw: a line that decodes into
// them without a type error has no wrong-typed field.
type (
	shapeRecord struct {
		record
		Message            shapeMessage    `json:"message"`
		ToolUseResult      json.RawMessage `json:"toolUseResult"`
		ToolUseResultSnake json.RawMessage `json:"tool_use_result"`
	}
	shapeMessage struct {
		message
		Content json.RawMessage `json:"content"`
	}
	shapeBlock struct {
		block
		Content json.RawMessage `json:"content"`
	}
)

// onlyUnionShapes reports whether the only type errors of line b are the
// other shapes of the union fields.
func onlyUnionShapes(b []byte) bool {
	var sr shapeRecord
	if json.Unmarshal(b, &sr) != nil {
		return false
	}
	switch c := bytes.TrimSpace(sr.Message.Content); {
	case len(c) == 0 || c[0] == '"' || c[0] == 'n':
	case c[0] == '[':
		var bs []shapeBlock
		if json.Unmarshal(c, &bs) != nil {
			return false
		}
		for i := range bs {
			if k := bytes.TrimSpace(bs[i].Content); len(k) > 0 && k[0] != '"' && k[0] != '[' && k[0] != 'n' {
				return false
			}
		}
	default:
		return false
	}
	for _, t := range []json.RawMessage{sr.ToolUseResult, sr.ToolUseResultSnake} {
		if t = bytes.TrimSpace(t); len(t) > 0 && t[0] == '{' {
			var tur toolUseResult
			if json.Unmarshal(t, &tur) != nil {
				return false
			}
		} else if len(t) > 0 && t[0] != '"' && t[0] != '[' && t[0] != 'n' {
			return false
		}
	}
	return true
}

// unionShape reports a problem of DecodeLoose that is in fact the other
// shape of a union field: content as a string, a tool result's content as
// blocks, toolUseResult as an "Error: …" string.
func unionShape(p trace.FieldProblem) bool {
	switch {
	case p.Field == "message.content" && p.Got == "a string":
		return true
	case (p.Field == "toolUseResult" || p.Field == "tool_use_result") && (p.Got == "a string" || p.Got == "an array"):
		// An array is an MCP tool's content, already in the tool_result.
		return true
	case strings.HasPrefix(p.Field, "message.content[") && strings.HasSuffix(p.Field, "].content") && p.Got == "an array":
		return true
	}
	return false
}

// unionResult decodes a toolUseResult that is an object into t (allocated
// if nil) and returns it; a string (an "Error: …" text) sets isString.
func unionResult(raw json.RawMessage, t *toolUseResult, isString *bool) *toolUseResult {
	if len(raw) == 0 {
		return t
	}
	if t != nil {
		*t = toolUseResult{}
	}
	switch raw[0] {
	case '"':
		*isString = true
	case '{':
		if t == nil {
			t = new(toolUseResult)
		}
		_ = json.Unmarshal(raw, t) // wrong-typed fields are left out
	}
	return t
}

// decodeBlocks decodes content blocks whose tool_result contents may be lists.
func decodeBlocks(raw []byte) []block {
	var bs []block
	var te *json.UnmarshalTypeError
	if err := json.Unmarshal(raw, &bs); err != nil {
		if !errors.As(err, &te) {
			return nil
		}
		// The wrong-typed values were reported by decodeRecord's own loose
		// pass; keep the rest.
		bs = nil
		if _, err := trace.DecodeLoose(raw, &bs); err != nil {
			return nil
		}
	}
	var ubs []unionBlock
	if err := json.Unmarshal(raw, &ubs); err != nil && !errors.As(err, &te) {
		return bs
	}
	for i := range bs {
		if i >= len(ubs) {
			break
		}
		c := ubs[i].Content
		if len(c) == 0 || c[0] != '[' {
			continue
		}
		var parts []json.RawMessage
		if json.Unmarshal(c, &parts) == nil {
			bs[i].Content = ""
			bs[i].parts, bs[i].hasParts = parts, true
		}
	}
	return bs
}

// textPart is a content block inside a tool result.
type textPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// parseTime parses a Claude Code timestamp (ISO 8601, ms, Z); a bad one is
// the zero time.
func parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// rawString returns the string a raw JSON value holds, "" when it is not one.
func rawString(raw json.RawMessage) string {
	if len(raw) < 2 || raw[0] != '"' {
		return ""
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// rawInt returns the integer a raw JSON value holds (a number or a numeric
// string; a fraction is truncated) and whether it held one.
func rawInt(raw json.RawMessage) (int64, bool) {
	s := raw
	if len(s) >= 2 && s[0] == '"' {
		s = s[1 : len(s)-1]
	}
	if len(s) == 0 || !(s[0] == '-' || s[0] >= '0' && s[0] <= '9') {
		return 0, false // null, true, false, objects: no allocation for the error
	}
	if n, err := strconv.ParseInt(string(s), 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(string(s), 64); err == nil {
		return int64(f), true
	}
	return 0, false
}
