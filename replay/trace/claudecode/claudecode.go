// Package claudecode imports Claude Code traces: session transcripts
// (~/.claude/projects/<slug>/<session>.jsonl, with their sub-agent files) and
// the stream-json output of `claude -p --output-format stream-json --verbose`.
//
// Both formats write one Anthropic API response as several lines sharing
// message.id, one per content block, the last one carrying the final usage.
// The importer keeps one pending response per run until a line of another
// response arrives (or the file ends), holding back the tool results that
// arrive meanwhile, and then emits one llm event followed by them. Tool calls
// and results are paired by id, sub-agents become child runs.
package claudecode

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
)

// Format names.
const (
	TranscriptName = "claude-code"
	StreamName     = "claude-stream-json"
)

// RunAs says which run an imported file becomes and where its sub-agents are.
type RunAs struct {
	Key        string // run key; "" is the main run. Sub-agent keys are prefixed with Key + "/".
	Parent     string // parent run key
	ParentCall string // tool call id in the parent that started this run
	Agent      string // role or name of the agent
	// Subagents lists sub-agent transcripts to import as children of this
	// run (e.g. the factory's flattened <agent>-agent-<id>.jsonl files).
	// When nil, the files Claude Code writes beside a session transcript
	// (<dir>/<session>/subagents/…, see DiscoverSubagents) are imported.
	Subagents []string
	// NoDiscovery turns the search for sub-agent files off.
	NoDiscovery bool
}

// Transcript is the Format of Claude Code session transcripts.
type Transcript struct{}

// Name implements trace.Format.
func (Transcript) Name() string { return TranscriptName }

// Detect implements trace.Format.
func (Transcript) Detect(src *trace.Source) bool {
	return !src.IsDir && sniff(src.Head) == kindTranscript
}

// Import implements trace.Format.
func (Transcript) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	return ImportTranscript(ctx, src.Path, opts, e, RunAs{})
}

// Stream is the Format of `claude -p --output-format stream-json` output.
type Stream struct{}

// Name implements trace.Format.
func (Stream) Name() string { return StreamName }

// Detect implements trace.Format.
func (Stream) Detect(src *trace.Source) bool {
	return !src.IsDir && sniff(src.Head) == kindStream
}

// Import implements trace.Format.
func (Stream) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	return ImportStream(ctx, src.Path, opts, e, RunAs{})
}

// ImportTranscript imports the Claude Code session transcript at path as run
// as.Key into e, with its sidechains and sub-agent files as child runs.
func ImportTranscript(ctx context.Context, path string, opts trace.Options, e trace.Emitter, as RunAs) error {
	return importPath(ctx, path, opts, e, as, false)
}

// ImportStream imports the stream-json output at path as run as.Key into e;
// the events of sub-agents (parent_tool_use_id set) become child runs keyed
// "task-<tool call id>".
func ImportStream(ctx context.Context, path string, opts trace.Options, e trace.Emitter, as RunAs) error {
	return importPath(ctx, path, opts, e, as, true)
}

func importPath(ctx context.Context, path string, opts trace.Options, e trace.Emitter, as RunAs, stream bool) error {
	return importFrom(ctx, path, nil, opts, e, as, stream)
}

// importFrom imports the file at path, or, when rd is not nil, the lines rd
// reads (named path in messages).
func importFrom(ctx context.Context, path string, rd io.Reader, opts trace.Options, e trace.Emitter, as RunAs, stream bool) error {
	im := newImporter(e, opts, stream, as)
	root := im.newRun(as.Key, as.Parent, path)
	root.meta.ParentCall = as.ParentCall
	root.meta.Agent = as.Agent
	if err := im.declare(root); err != nil {
		return err
	}
	if !stream {
		files := as.Subagents
		if files == nil && !as.NoDiscovery && rd == nil {
			files = DiscoverSubagents(path)
		}
		if err := im.prepareAgents(ctx, files, root); err != nil {
			return err
		}
	}
	f := &fileCtx{path: path, root: root}
	var err error
	if rd != nil {
		err = im.importReader(ctx, f, rd)
	} else {
		err = im.importFile(ctx, f)
	}
	if err != nil {
		return err
	}
	if err := im.importAgents(ctx); err != nil {
		return err
	}
	if im.records == 0 {
		return fmt.Errorf("import %q: %w: no Claude Code %s records", path, trace.ErrNotTrace, kindWord(stream))
	}
	return im.finish()
}

func kindWord(stream bool) string {
	if stream {
		return "stream-json"
	}
	return "transcript"
}

// Result is the final record of a stream-json output.
type Result struct {
	Status  string // trace.StatusOK or trace.StatusError
	Subtype string // success, error_max_turns, error_during_execution, …
	Error   string // set when Status is error
	Final   string // the result text
	Session string
	Totals  trace.Totals // cost, usage, turns and duration as recorded
}

func (res *Result) outcome() *trace.Outcome {
	t := res.Totals
	return &trace.Outcome{Status: res.Status, Error: res.Error, Final: res.Final, Recorded: &t}
}

// streamResult reads a result record; own copies the strings it keeps.
func streamResult(rec *record, own func(string) string) *Result {
	res := &Result{Status: trace.StatusOK, Subtype: own(rec.Subtype), Final: own(rec.Result), Session: own(rec.SessionIDSnake)}
	if rec.IsError || rec.Subtype != "success" {
		res.Status = trace.StatusError
		switch {
		case rec.IsError && rec.Result != "":
			res.Error = res.Final
		case rec.Subtype != "":
			res.Error = res.Subtype
		default:
			res.Error = "the run failed"
		}
	}
	res.Totals = trace.Totals{CostUSD: rec.TotalCostUSD, Turns: rec.NumTurns, DurationMS: rec.DurationMS}
	if u := rec.Usage; u != nil {
		res.Totals.Usage = &trace.Usage{Input: u.Input, Output: u.Output, CacheRead: u.CacheRead, CacheWrite: u.CacheWrite}
	}
	return res
}

// ReadResult returns the last result record of the stream-json output at
// path, or nil when it has none (the run did not finish). Only lines that
// look like a result are decoded.
func ReadResult(ctx context.Context, path string) (*Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read result %q: %w", path, err)
	}
	defer f.Close()
	var res *Result
	err = trace.ScanLines(ctx, f, path, trace.Options{Lenient: true}, func(trace.Warning) {}, func(_ int, b []byte) error {
		if !bytes.Contains(b, []byte(`"result"`)) {
			return nil
		}
		var rec record
		if err := decodeRecord(b, &rec); err != nil {
			return trace.BadJSON(err)
		}
		if rec.Type == "result" {
			res = streamResult(&rec, func(s string) string { return s })
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

type kind int

const (
	kindNone kind = iota
	kindTranscript
	kindStream
)

// isTranscriptType reports record types that transcripts write with a
// camelCase sessionId.
func isTranscriptType(typ string) bool {
	switch typ {
	case "user", "assistant", "system", "attachment", "summary", "file-history-snapshot",
		"queue-operation", "last-prompt", "agent-setting", "agent-name", "ai-title", "custom-title",
		"progress", "mode", "permission-mode", "cost-state", "pr-link":
		return true
	}
	return false
}

type sniffProbe struct {
	Type           string          `json:"type"`
	Subtype        string          `json:"subtype"`
	SessionID      string          `json:"sessionId"`
	SessionIDSnake string          `json:"session_id"`
	LeafUUID       string          `json:"leafUuid"`
	Snapshot       json.RawMessage `json:"snapshot"`
	ParentTool     json.RawMessage `json:"parent_tool_use_id"`
}

// sniff classifies a file by its first lines.
func sniff(head []byte) kind {
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Buffer(make([]byte, 0, 64<<10), trace.HeadSize+1)
	for i := 0; i < 32 && sc.Scan(); i++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' {
			return kindNone
		}
		var probe sniffProbe
		if err := json.Unmarshal(line, &probe); err != nil {
			// A line longer than the head: judge by its beginning.
			return sniffPrefix(line)
		}
		switch {
		case probe.SessionIDSnake != "" && probe.SessionID == "" &&
			(probe.Type == "system" || probe.Type == "result" || len(probe.ParentTool) > 0):
			return kindStream
		case probe.SessionID != "" && isTranscriptType(probe.Type):
			return kindTranscript
		case probe.Type == "summary" && probe.LeafUUID != "":
			return kindTranscript
		case probe.Type == "file-history-snapshot" && len(probe.Snapshot) > 0:
			return kindTranscript
		}
	}
	return kindNone
}

// sniffPrefix judges a line cut by the head size.
func sniffPrefix(line []byte) kind {
	has := func(s string) bool { return bytes.Contains(line, []byte(s)) }
	switch {
	case has(`"session_id":"`) && (has(`"parent_tool_use_id":`) || has(`"subtype":"init"`)):
		return kindStream
	case has(`"sessionId":"`) && (has(`"parentUuid":`) || has(`"isSidechain":`)):
		return kindTranscript
	}
	return kindNone
}
