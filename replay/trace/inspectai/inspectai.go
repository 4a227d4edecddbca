// Package inspectai imports inspect_ai evaluation logs: the JSON log
// (one document: version, eval, plan, results, stats, samples[]) and the
// .eval archive (a zip of header.json — the same document without samples —,
// samples/<id>_epoch_<n>.json, summaries.json and _journal/).
//
// Every sample is a run of its own (trace.Multi; key "<id>_epoch_<n>", as
// the archive names its members), and the samples of one log share the
// eval's id as their session; the sample id is the run's instance, the task
// its agent, eval.model its model. eval.revision (origin and commit) are
// the runs' repo and commit refs: the revision of the evaluation's code.
//
// A sample's messages are the conversation: the first system message is
// the system prompt; user messages are messages; each assistant message is
// one model call (text, reasoning and tool calls), with the usage and time
// of the model event whose output names that message id; each tool message
// is the result of the tool call it names (an error field makes it an
// error). Content given as "attachment://<hash>" is taken from the sample's
// attachments. Token counts: inspect's input_tokens include the cache reads
// and writes (they are subtracted) unless smaller than them (then it
// followed Anthropic's convention and is kept).
//
// The scorers' verdicts are the run's decision (scorer → value); the run is
// resolved when every scorer's value is correct ("C", true) and not
// resolved when every one is incorrect ("I", false); numeric values are
// measures, not verdicts. model_usage summed
// over models is the run's recorded totals.
//
// An archive member that is missing (a sample summaries.json lists but
// samples/ lacks, or header.json) is a warning naming the sample and the
// member; the other samples still import.
package inspectai

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Name is the format name used by --format and stored in runs.
const Name = "inspect-ai"

// Format is the inspect_ai log format (.json and .eval).
type Format struct{}

// Name implements trace.Format.
func (Format) Name() string { return Name }

var (
	versionRE = regexp.MustCompile(`^\s*\{\s*"version"\s*:\s*[0-9]+\s*,`)
	evalRE    = regexp.MustCompile(`"eval"\s*:\s*\{`)
	taskRE    = regexp.MustCompile(`"task"\s*:\s*"`)
)

// Detect implements trace.Format: a zip whose first member is one of a .eval
// archive's, or a JSON log (its first key "version", an "eval" object with
// a task).
func (Format) Detect(src *trace.Source) bool {
	if src.IsDir {
		return false
	}
	h := src.Head
	if bytes.HasPrefix(h, []byte("PK\x03\x04")) {
		return IsEvalArchive(h)
	}
	h = bytes.TrimPrefix(h, []byte("\xef\xbb\xbf"))
	return versionRE.Match(h) && evalRE.Match(h) && taskRE.Match(h)
}

// IsEvalArchive reports whether head, the start of a zip file, is an
// inspect_ai .eval archive: its first member is header.json, summaries.json,
// a sample or a journal file.
func IsEvalArchive(head []byte) bool {
	if len(head) < 30 || !bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		return false
	}
	n := int(binary.LittleEndian.Uint16(head[26:28]))
	if len(head) < 30+n {
		return false
	}
	name := string(head[30 : 30+n])
	return name == "header.json" || name == "summaries.json" || name == "reductions.json" ||
		strings.HasPrefix(name, "_journal/") || (strings.HasPrefix(name, "samples/") && strings.HasSuffix(name, ".json"))
}

// log is the document of a JSON log, or an archive's header.json.
type log struct {
	Version int    `json:"version"`
	Status  string `json:"status"`
	Eval    struct {
		EvalID   string `json:"eval_id"`
		RunID    string `json:"run_id"`
		Task     string `json:"task"`
		TaskID   string `json:"task_id"`
		Model    string `json:"model"`
		Created  string `json:"created"`
		Revision *struct {
			Type   string `json:"type"`
			Origin string `json:"origin"`
			Commit string `json:"commit"`
		} `json:"revision"`
		Packages map[string]string `json:"packages"`
	} `json:"eval"`
	Plan *struct {
		Config struct {
			Temperature *float64 `json:"temperature"`
			TopP        *float64 `json:"top_p"`
			MaxTokens   *int64   `json:"max_tokens"`
			Seed        *int64   `json:"seed"`
		} `json:"config"`
	} `json:"plan"`
	Samples []json.RawMessage `json:"samples"`
}

type sample struct {
	ID          json.RawMessage   `json:"id"`
	Epoch       int               `json:"epoch"`
	Messages    []message         `json:"messages"`
	Output      *output           `json:"output"`
	Scores      json.RawMessage   `json:"scores"`
	ModelUsage  map[string]usage  `json:"model_usage"`
	Events      []json.RawMessage `json:"events"`
	Attachments map[string]string `json:"attachments"`
	TotalTime   *float64          `json:"total_time"`
	Error       *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type output struct {
	Model      string `json:"model"`
	Completion string `json:"completion"`
	Usage      *usage `json:"usage"`
	Choices    []struct {
		StopReason string `json:"stop_reason"`
		Message    struct {
			ID string `json:"id"`
		} `json:"message"`
	} `json:"choices"`
	Time *float64 `json:"time"`
}

type usage struct {
	InputTokens      int64 `json:"input_tokens"`
	OutputTokens     int64 `json:"output_tokens"`
	CacheRead        int64 `json:"input_tokens_cache_read"`
	CacheWrite       int64 `json:"input_tokens_cache_write"`
	ReasoningTokens  int64 `json:"reasoning_tokens"`
	TotalTokens      int64 `json:"total_tokens"`
	ReasoningPresent bool  `json:"-"`
}

func (u usage) canonical() trace.Usage {
	in := u.InputTokens
	if cached := u.CacheRead + u.CacheWrite; cached <= in {
		in -= cached
	}
	return trace.Usage{Input: in, Output: u.OutputTokens, CacheRead: u.CacheRead, CacheWrite: u.CacheWrite, Reasoning: u.ReasoningTokens}
}

type message struct {
	ID         string          `json:"id"`
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Source     string          `json:"source"`
	Model      string          `json:"model"`
	ToolCalls  []toolCall      `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
	Function   string          `json:"function"`
	Error      *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

type toolCall struct {
	ID        string          `json:"id"`
	Function  string          `json:"function"`
	Arguments json.RawMessage `json:"arguments"`
}

// Records implements trace.Multi: "<id>_epoch_<n>" for every sample.
func (Format) Records(ctx context.Context, src *trace.Source, opts trace.Options) ([]string, error) {
	l, err := open(src.Path)
	if err != nil {
		return nil, err
	}
	defer l.close()
	return l.keys, nil
}

// Import implements trace.Format.
func (Format) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	l, err := open(src.Path)
	if err != nil {
		return err
	}
	defer l.close()
	if len(l.keys) == 0 {
		for _, w := range l.warnings {
			if err := e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &w}); err != nil {
				return err
			}
		}
		return fmt.Errorf("%s: %w: the log holds no samples", src.Path, trace.ErrNotTrace)
	}
	key := opts.Record
	if key == "" {
		key = l.keys[0]
	}
	raw, err := l.sample(key)
	if err != nil {
		return err
	}
	var s sample
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("%s: sample %q: %w", src.Path, key, trace.BadJSON(err))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := convert(l, key, &s, src.Path, e); err != nil {
		return err
	}
	// Warnings about the file go with its first record only.
	if key == l.keys[0] {
		for i := range l.warnings {
			if err := e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &l.warnings[i]}); err != nil {
				return err
			}
		}
		if opts.Record == "" && len(l.keys) > 1 {
			return e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &trace.Warning{File: src.Path, Message: fmt.Sprintf(
				"the log holds %d samples (%s); this run is the first, %q: `replay import` stores each sample as a run of its own",
				len(l.keys), strings.Join(l.keys, ", "), key)}})
		}
	}
	return nil
}

// opened is a log ready to read samples from.
type opened struct {
	path     string
	header   log
	keys     []string
	json     map[string]json.RawMessage // JSON log: samples by key
	zip      *zip.ReadCloser
	members  map[string]*zip.File // archive: sample members by key
	warnings []trace.Warning
}

func (l *opened) close() {
	if l.zip != nil {
		l.zip.Close()
	}
}

func sampleKey(id json.RawMessage, epoch int) string {
	var s string
	if json.Unmarshal(id, &s) != nil {
		s = string(bytes.TrimSpace(id))
	}
	if epoch == 0 {
		epoch = 1
	}
	return fmt.Sprintf("%s_epoch_%d", s, epoch)
}

func open(path string) (*opened, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	magic := make([]byte, 4)
	_, err = io.ReadFull(f, magic)
	f.Close()
	if err == nil && bytes.Equal(magic, []byte("PK\x03\x04")) {
		return openArchive(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	l := &opened{path: path, json: map[string]json.RawMessage{}}
	if err := json.Unmarshal(b, &l.header); err != nil {
		return nil, fmt.Errorf("%s: not an inspect_ai log: %w", path, trace.BadJSON(err))
	}
	for i, raw := range l.header.Samples {
		var s struct {
			ID    json.RawMessage `json:"id"`
			Epoch int             `json:"epoch"`
		}
		if err := json.Unmarshal(raw, &s); err != nil {
			l.warnings = append(l.warnings, trace.Warning{File: path, Message: fmt.Sprintf("samples[%d] is not a sample object (%v); skipped", i, err)})
			continue
		}
		k := sampleKey(s.ID, s.Epoch)
		if _, dup := l.json[k]; dup {
			l.warnings = append(l.warnings, trace.Warning{File: path, Message: fmt.Sprintf("samples[%d]: sample %q appears twice; the first is kept", i, k)})
			continue
		}
		l.json[k] = raw
		l.keys = append(l.keys, k)
	}
	l.header.Samples = nil
	return l, nil
}

var memberRE = regexp.MustCompile(`^samples/(.+)_epoch_([0-9]+)\.json$`)

func openArchive(path string) (*opened, error) {
	z, err := zip.OpenReader(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable .eval archive: %w", path, err)
	}
	l := &opened{path: path, zip: z, members: map[string]*zip.File{}}
	byName := map[string]*zip.File{}
	var inZipOrder []string
	for _, f := range z.File {
		byName[f.Name] = f
		if m := memberRE.FindStringSubmatch(f.Name); m != nil {
			k := m[1] + "_epoch_" + m[2]
			l.members[k] = f
			inZipOrder = append(inZipOrder, k)
		}
	}
	readJSON := func(name string, v any) (bool, error) {
		f := byName[name]
		if f == nil {
			return false, nil
		}
		rc, err := f.Open()
		if err != nil {
			return true, err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			return true, err
		}
		return true, json.Unmarshal(b, v)
	}
	ok, err := readJSON("header.json", &l.header)
	if err != nil {
		z.Close()
		return nil, fmt.Errorf("%s: member header.json: %w", path, err)
	}
	if !ok {
		// A log still being written has only its journal's start.
		var start struct {
			Version int `json:"version"`
			Eval    any `json:"eval"`
		}
		found, jerr := readJSON("_journal/start.json", &start)
		msg := "member header.json is missing from the .eval archive (the eval did not finish writing its log?)"
		if found && jerr == nil {
			b, _ := json.Marshal(start)
			json.Unmarshal(b, &l.header)
			msg += "; eval details taken from _journal/start.json"
		} else {
			msg += "; eval details (model, task, revision) unknown"
		}
		l.warnings = append(l.warnings, trace.Warning{File: path, Message: msg})
	}
	// The samples' order: summaries.json's, then any others in zip order.
	var summaries []struct {
		ID    json.RawMessage `json:"id"`
		Epoch int             `json:"epoch"`
	}
	listed := map[string]bool{}
	if ok, err := readJSON("summaries.json", &summaries); ok && err != nil {
		l.warnings = append(l.warnings, trace.Warning{File: path, Message: fmt.Sprintf("member summaries.json is not the list inspect_ai writes (%v); samples taken in archive order", err)})
		summaries = nil
	}
	for _, s := range summaries {
		k := sampleKey(s.ID, s.Epoch)
		listed[k] = true
		if l.members[k] == nil {
			l.warnings = append(l.warnings, trace.Warning{File: path, Message: fmt.Sprintf(
				"record %q: member samples/%s.json is missing from the .eval archive (summaries.json lists the sample); not imported", k, k)})
			continue
		}
		l.keys = append(l.keys, k)
	}
	for _, k := range inZipOrder {
		if !listed[k] {
			l.keys = append(l.keys, k)
		}
	}
	return l, nil
}

func (l *opened) sample(key string) ([]byte, error) {
	if l.zip == nil {
		raw, ok := l.json[key]
		if !ok {
			return nil, fmt.Errorf("%s: no sample %q (the log holds %s)", l.path, key, strings.Join(l.keys, ", "))
		}
		return raw, nil
	}
	f := l.members[key]
	if f == nil {
		return nil, fmt.Errorf("%s: no sample %q (the archive holds %s)", l.path, key, strings.Join(l.keys, ", "))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: member %s: %w", l.path, f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, fs.ErrInvalid) {
			return nil, fmt.Errorf("%s: member %s is damaged: %w", l.path, f.Name, err)
		}
		return nil, fmt.Errorf("%s: member %s: %w", l.path, f.Name, err)
	}
	return b, nil
}

// modelEvent is what a model event tells about one model call.
type modelEvent struct {
	at    time.Time
	usage *usage
	model string
	ms    int64
}

func convert(l *opened, key string, s *sample, path string, e trace.Emitter) error {
	h := &l.header
	instance := strings.TrimSuffix(key, fmt.Sprintf("_epoch_%d", max(s.Epoch, 1)))
	session := h.Eval.EvalID
	if session == "" {
		session = h.Eval.RunID
	}
	meta := trace.RunMeta{Format: Name, Source: path, Agent: h.Eval.Task, Session: session, Instance: instance}
	if v := h.Eval.Packages["inspect_ai"]; v != "" {
		meta.Generator = "inspect_ai " + v
	}
	provider, _, _ := strings.Cut(h.Eval.Model, "/")
	meta.Defaults = trace.Params{Model: h.Eval.Model, Provider: provider}
	if p := h.Plan; p != nil {
		c := p.Config
		meta.Defaults.Temperature, meta.Defaults.TopP, meta.Defaults.MaxTokens, meta.Defaults.Seed = c.Temperature, c.TopP, c.MaxTokens, c.Seed
	}
	if s.Epoch > 1 {
		meta.Attributes = map[string]string{"inspect.epoch": strconv.Itoa(s.Epoch)}
	}
	if r := h.Eval.Revision; r != nil {
		if r.Origin != "" {
			meta.Refs.Repo = &trace.Ref{Value: r.Origin, Provenance: trace.Recorded, From: "eval.revision.origin"}
		}
		if r.Commit != "" {
			meta.Refs.Commit = &trace.Ref{Value: r.Commit, Provenance: trace.Recorded, From: "eval.revision.commit"}
		}
	}
	var warns []trace.Warning
	if meta.Refs.Commit == nil {
		warns = append(warns, trace.Warning{File: path, Message: fmt.Sprintf("record %q: no git revision (eval.revision is absent): the eval's code is not pinned to a commit", key)})
	}
	// Model events by the id of the message they produced.
	events := map[string]modelEvent{}
	var first time.Time
	for _, raw := range s.Events {
		var ev struct {
			Event     string   `json:"event"`
			Timestamp string   `json:"timestamp"`
			Model     string   `json:"model"`
			Output    *output  `json:"output"`
			Working   *float64 `json:"working_time"`
		}
		if json.Unmarshal(raw, &ev) != nil {
			continue
		}
		at, _ := time.Parse(time.RFC3339Nano, ev.Timestamp)
		if first.IsZero() && !at.IsZero() {
			first = at
		}
		if ev.Event != "model" || ev.Output == nil {
			continue
		}
		me := modelEvent{at: at, usage: ev.Output.Usage, model: ev.Output.Model}
		if ev.Output.Time != nil {
			me.ms = int64(*ev.Output.Time * 1000)
		}
		for _, c := range ev.Output.Choices {
			if c.Message.ID != "" {
				events[c.Message.ID] = me
			}
		}
	}
	meta.StartedAt = first
	if !first.IsZero() && s.TotalTime != nil {
		meta.EndedAt = first.Add(time.Duration(*s.TotalTime * float64(time.Second)))
	}
	text := func(raw json.RawMessage) (string, []trace.Part) { return content(raw, s.Attachments) }
	for _, m := range s.Messages {
		if m.Role == "system" {
			meta.Instr.System, _ = text(m.Content)
			break
		}
	}
	if err := e.Emit(&trace.Event{Type: trace.EvRun, Meta: &meta}); err != nil {
		return err
	}
	pending := map[string]*trace.ToolCall{}
	var order []string
	emitTool := func(t *trace.ToolCall) error { return e.Emit(&trace.Event{Type: trace.EvTool, Tool: t}) }
	flush := func() error {
		for _, id := range order {
			if t := pending[id]; t != nil {
				if err := emitTool(t); err != nil {
					return err
				}
			}
		}
		pending, order = map[string]*trace.ToolCall{}, nil
		return nil
	}
	systemSeen := false
	final := ""
	for _, m := range s.Messages {
		switch m.Role {
		case "system":
			if !systemSeen {
				systemSeen = true
				continue
			}
			fallthrough
		case "user":
			if err := flush(); err != nil {
				return err
			}
			_, parts := text(m.Content)
			msg := &trace.Message{Role: m.Role, Parts: parts, Meta: m.Role == "system"}
			if err := e.Emit(&trace.Event{Type: trace.EvMessage, Message: msg}); err != nil {
				return err
			}
		case "assistant":
			if err := flush(); err != nil {
				return err
			}
			t, parts := text(m.Content)
			if t != "" {
				final = t
			}
			llm := &trace.LLMCall{ID: m.ID, Model: m.Model, Output: trace.Message{Role: "assistant", Parts: parts}}
			if llm.Model == "" {
				llm.Model = h.Eval.Model
			}
			ev, ok := events[m.ID]
			if ok {
				if ev.usage != nil {
					u := ev.usage.canonical()
					llm.Usage = &u
				}
				if ev.model != "" {
					llm.Model = ev.model
				}
				llm.LatencyMS = ev.ms
			}
			for _, tc := range m.ToolCalls {
				args := bytes.TrimSpace(tc.Arguments)
				if len(args) == 0 || string(args) == "null" {
					args = []byte("{}")
				}
				llm.Output.Parts = append(llm.Output.Parts, trace.Part{Type: trace.PartToolCall, ID: tc.ID, Name: tc.Function, Arguments: append(json.RawMessage(nil), args...)})
				pending[tc.ID] = &trace.ToolCall{CallID: tc.ID, Name: tc.Function, Arguments: append(json.RawMessage(nil), args...), Status: trace.ToolMissing}
				order = append(order, tc.ID)
			}
			if len(m.ToolCalls) > 0 {
				llm.StopReason = "tool_calls"
			}
			if err := e.Emit(&trace.Event{Type: trace.EvLLM, Time: ev.at, LLM: llm}); err != nil {
				return err
			}
		case "tool":
			t := pending[m.ToolCallID]
			if t == nil {
				t = &trace.ToolCall{CallID: m.ToolCallID, Name: m.Function}
			}
			delete(pending, m.ToolCallID)
			t.Output, _ = text(m.Content)
			t.Status = trace.ToolOK
			if m.Error != nil {
				t.Status = trace.ToolError
				if t.Output == "" {
					t.Output = m.Error.Message
				}
			}
			// Calls made before it keep their order.
			for len(order) > 0 && order[0] != m.ToolCallID {
				if q := pending[order[0]]; q != nil {
					if err := emitTool(q); err != nil {
						return err
					}
					delete(pending, order[0])
				}
				order = order[1:]
			}
			if len(order) > 0 {
				order = order[1:]
			}
			if err := emitTool(t); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for i := range warns {
		if err := e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &warns[i]}); err != nil {
			return err
		}
	}
	return e.Emit(&trace.Event{Type: trace.EvOutcome, Outcome: outcomeOf(s, h, final)})
}

func outcomeOf(s *sample, h *log, final string) *trace.Outcome {
	o := &trace.Outcome{Status: trace.StatusOK, Final: final}
	if s.Output != nil && s.Output.Completion != "" {
		o.Final = s.Output.Completion
	}
	if h.Status != "" && h.Status != "success" {
		o.Status = trace.StatusUnknown
	}
	if s.Error != nil {
		o.Status, o.Error = trace.StatusError, s.Error.Message
	}
	// Scores, in the order the log lists them.
	type score struct {
		name  string
		value json.RawMessage
	}
	var scores []score
	if d := json.NewDecoder(bytes.NewReader(s.Scores)); len(bytes.TrimSpace(s.Scores)) > 0 {
		var m map[string]struct {
			Value json.RawMessage `json:"value"`
		}
		if json.Unmarshal(s.Scores, &m) == nil {
			if tok, err := d.Token(); err == nil && tok == json.Delim('{') {
				for d.More() {
					k, err := d.Token()
					if err != nil {
						break
					}
					name, _ := k.(string)
					var skip json.RawMessage
					if d.Decode(&skip) != nil {
						break
					}
					scores = append(scores, score{name, m[name].Value})
				}
			}
		}
	}
	if len(scores) > 0 {
		var b bytes.Buffer
		b.WriteByte('{')
		for i, sc := range scores {
			if i > 0 {
				b.WriteByte(',')
			}
			k, _ := json.Marshal(sc.name)
			b.Write(k)
			b.WriteByte(':')
			v := sc.value
			if len(v) == 0 {
				v = json.RawMessage("null")
			}
			b.Write(v)
		}
		b.WriteByte('}')
		o.Decision = &trace.Decision{Kind: "score", Source: "samples[].scores", Value: json.RawMessage(b.Bytes())}
		verdict, from := (*bool)(nil), ""
		for i, sc := range scores {
			v, ok := correct(sc.value)
			if !ok || (verdict != nil && *verdict != v) {
				verdict = nil
				break
			}
			verdict = &v
			if i == 0 {
				from = "scores." + sc.name + ".value"
			}
		}
		if verdict != nil {
			if len(scores) > 1 {
				from = "scores.*.value"
			}
			o.Resolved, o.ResolvedFrom = verdict, from
		}
	}
	var tot trace.Usage
	has := false
	for _, u := range s.ModelUsage {
		tot.Add(u.canonical())
		has = true
	}
	if has {
		o.Recorded = &trace.Totals{Usage: &tot}
	}
	return o
}

// correct reads a score value as inspect_ai's CORRECT / INCORRECT.
func correct(v json.RawMessage) (bool, bool) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		switch s {
		case "C":
			return true, true
		case "I":
			return false, true
		}
		return false, false
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		return b, true
	}
	return false, false // numbers are measures (accuracy, closeness), not verdicts
}

// content returns a message content's text and parts: a string, or a list
// of content items (text, reasoning, image, …); attachment:// references
// are resolved.
func content(raw json.RawMessage, att map[string]string) (string, []trace.Part) {
	resolve := func(s string) string {
		if k, ok := strings.CutPrefix(s, "attachment://"); ok {
			if v, ok := att[k]; ok {
				return v
			}
		}
		return s
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		s = resolve(s)
		if s == "" {
			return "", nil
		}
		return s, []trace.Part{{Type: trace.PartText, Text: s}}
	}
	var items []struct {
		Type      string `json:"type"`
		Text      string `json:"text"`
		Reasoning string `json:"reasoning"`
	}
	if json.Unmarshal(raw, &items) != nil {
		return "", nil
	}
	var rawItems []json.RawMessage
	json.Unmarshal(raw, &rawItems)
	var parts []trace.Part
	var texts []string
	for i, it := range items {
		switch it.Type {
		case "text":
			t := resolve(it.Text)
			parts = append(parts, trace.Part{Type: trace.PartText, Text: t})
			texts = append(texts, t)
		case "reasoning":
			parts = append(parts, trace.Part{Type: trace.PartReasoning, Text: resolve(it.Reasoning)})
		default:
			p := trace.Part{Type: trace.PartOther}
			if it.Type == "image" {
				p.Type = trace.PartImage
			}
			if i < len(rawItems) {
				p.Raw = append(json.RawMessage(nil), rawItems[i]...)
			}
			parts = append(parts, p)
		}
	}
	return strings.Join(texts, "\n"), parts
}
