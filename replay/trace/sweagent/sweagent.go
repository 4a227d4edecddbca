// Package sweagent imports SWE-agent trajectories (.traj files).
//
// A .traj is one JSON document per benchmark instance:
//
//	{"environment": "swe_main",
//	 "trajectory": [{"action", "observation", "response", "thought", "state", "execution_time"?}, …],
//	 "history": [{"role", "content", "agent", "action"?, "is_demo"?, "tool_calls"?, "tool_call_ids"?, "message_type"?}, …],
//	 "info": {"exit_status", "submission", "model_stats": {"instance_cost", "tokens_sent", "tokens_received", "api_calls"}},
//	 "replay_config": {…}}        (1.x only)
//
// Two layouts exist. In 0.x the assistant's action is a command line in
// "action" (the harness's windowed-editor commands open, edit, create, …
// or a shell command), observations come back as user messages, and
// nothing names the repository, commit or model: the instance id (the file
// name, SWE-bench's owner__repo-N) is the only pointer. In 1.x assistant
// messages carry OpenAI-style tool_calls with call ids, observations are
// role "tool" messages, and replay_config records the model
// (agent.model.name, temperature, top_p), env.repo.base_commit and the
// deployment image.
//
// The history is the conversation as the model saw it: the first system
// message is the system prompt; user messages before the first action are
// the task (demonstrations, is_demo, are harness-injected: Meta); every
// assistant message is one model call, its action one tool call; the
// message after it is the tool's result. The result text is the raw
// observation from the next trajectory[] entry with the same command (the history's copy is wrapped in the harness's "(Open file: …)"
// template), else the history's. Call ids that repeat (demonstration
// trajectories reuse them) are made unique with a "#N" suffix.
//
// Tokens and cost are recorded only per instance (info.model_stats), as the
// run's recorded totals; all-zero model_stats (a demonstration or a
// replayed trajectory) are not a recorded cost of zero. The submission is
// the run's patch (Outcome.Patch, CRLF made LF), and its decision: the exit
// status and the files the patch touches.
package sweagent

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	json "github.com/goccy/go-json"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/replay/trace/swebench"
)

// Name is the format name used by --format and stored in runs.
const Name = "swe-agent"

// Format is the SWE-agent trajectory format.
type Format struct{}

// Name implements trace.Format.
func (Format) Name() string { return Name }

var (
	headRE = regexp.MustCompile(`^\s*\{\s*"(environment|trajectory|history|info|replay_config)"\s*:`)
	trajRE = regexp.MustCompile(`"trajectory"\s*:\s*\[`)
	stepRE = regexp.MustCompile(`"(action|observation|history)"\s*:`)
)

// Detect implements trace.Format: a JSON object whose first key is one of
// a trajectory's, with a "trajectory" list of actions and observations.
func (Format) Detect(src *trace.Source) bool {
	if src.IsDir {
		return false
	}
	h := bytes.TrimPrefix(src.Head, []byte("\xef\xbb\xbf"))
	return headRE.Match(h) && trajRE.Match(h) && stepRE.Match(h)
}

type file struct {
	Environment json.RawMessage `json:"environment"`
	Trajectory  []struct {
		Action        string          `json:"action"`
		Observation   string          `json:"observation"`
		ExecutionTime *float64        `json:"execution_time"`
		State         json.RawMessage `json:"state"`
	} `json:"trajectory"`
	History      []message       `json:"history"`
	Info         info            `json:"info"`
	ReplayConfig json.RawMessage `json:"replay_config"`
}

type message struct {
	Role        string          `json:"role"`
	Content     json.RawMessage `json:"content"`
	Agent       string          `json:"agent"`
	MessageType string          `json:"message_type"`
	Action      *string         `json:"action"`
	IsDemo      bool            `json:"is_demo"`
	ToolCalls   []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
	ToolCallIDs []string `json:"tool_call_ids"`
}

type info struct {
	ExitStatus *string `json:"exit_status"`
	Submission *string `json:"submission"`
	ModelStats *struct {
		TotalCost      *float64 `json:"total_cost"`
		InstanceCost   *float64 `json:"instance_cost"`
		TokensSent     int64    `json:"tokens_sent"`
		TokensReceived int64    `json:"tokens_received"`
		APICalls       int64    `json:"api_calls"`
	} `json:"model_stats"`
}

type replayConfig struct {
	Env struct {
		Deployment struct {
			Image string `json:"image"`
			Type  string `json:"type"`
		} `json:"deployment"`
		Repo struct {
			RepoName   string `json:"repo_name"`
			GithubURL  string `json:"github_url"`
			Path       string `json:"path"`
			BaseCommit string `json:"base_commit"`
			Type       string `json:"type"`
		} `json:"repo"`
	} `json:"env"`
	Agent struct {
		Model struct {
			Name        string   `json:"name"`
			Temperature *float64 `json:"temperature"`
			TopP        *float64 `json:"top_p"`
		} `json:"model"`
	} `json:"agent"`
	ProblemStatement struct {
		ID        string `json:"id"`
		GithubURL string `json:"github_url"`
	} `json:"problem_statement"`
}

// Import implements trace.Format. A trajectory is read whole (they are
// at most a few MB).
func (Format) Import(ctx context.Context, src *trace.Source, opts trace.Options, e trace.Emitter) error {
	b, err := os.ReadFile(src.Path)
	if err != nil {
		return err
	}
	return Decode(ctx, b, src.Path, e)
}

// Decode imports the trajectory b; name is used in messages and as the
// run's Source.
func Decode(ctx context.Context, b []byte, name string, e trace.Emitter) error {
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("%s: not a SWE-agent trajectory: %w", name, trace.BadJSON(err))
	}
	if f.Trajectory == nil && f.History == nil {
		return fmt.Errorf("%s: %w: no \"trajectory\" or \"history\" in the JSON object", name, trace.ErrNotTrace)
	}
	im := &importer{name: name, e: e, seen: map[string]int{}}
	return im.run(ctx, &f)
}

type importer struct {
	name string
	e    trace.Emitter
	seen map[string]int // call ids used so far
}

func (im *importer) warn(msg string, args ...any) error {
	return im.e.Emit(&trace.Event{Type: trace.EvWarning, Warning: &trace.Warning{File: im.name, Message: fmt.Sprintf(msg, args...)}})
}

// harnessCommands are SWE-agent's own commands (tool bundles of 0.x and
// 1.x): an action starting with one is a call of that tool, any other
// action a shell command.
var harnessCommands = map[string]bool{
	"open": true, "goto": true, "scroll_up": true, "scroll_down": true, "create": true, "edit": true,
	"insert": true, "append": true, "search_dir": true, "search_file": true, "find_file": true,
	"submit": true, "filemap": true, "str_replace_editor": true, "exit_forfeit": true,
}

func (im *importer) run(ctx context.Context, f *file) error {
	v1 := len(bytes.TrimSpace(f.ReplayConfig)) > 0 && string(bytes.TrimSpace(f.ReplayConfig)) != "null"
	var rc replayConfig
	if v1 {
		raw := f.ReplayConfig
		var s string
		if json.Unmarshal(raw, &s) == nil { // some versions store it as a JSON string
			raw = json.RawMessage(s)
		}
		if err := json.Unmarshal(raw, &rc); err != nil {
			if werr := im.warn("replay_config is not the object SWE-agent writes (%v): model, base commit and image left out", err); werr != nil {
				return werr
			}
		}
	}
	workdir := workingDir(f)
	instance := rc.ProblemStatement.ID
	instFrom := "replay_config.problem_statement.id"
	if instance == "" {
		// SWE-agent names the file <instance_id>.traj (a copy may be
		// .traj.json); a copy may carry a prefix, so the id starts where
		// the repository's directory name does when it is there.
		instance = strings.TrimSuffix(strings.TrimSuffix(filepath.Base(im.name), ".json"), ".traj")
		instFrom = "the file name"
		if dir := strings.TrimPrefix(workdir, "/"); dir != "" && !strings.HasPrefix(instance, dir) {
			if i := strings.Index(instance, dir+"-"); i > 0 {
				instance = instance[i:]
			}
		}
	}
	meta := trace.RunMeta{Format: Name, Source: im.name, Session: instance, Instance: instance, Generator: "SWE-agent 0.x"}
	if v1 {
		meta.Generator = "SWE-agent 1.x"
	}
	for _, m := range f.History {
		if m.Agent != "" {
			meta.Agent = m.Agent
			break
		}
	}
	var envName string
	if json.Unmarshal(f.Environment, &envName) == nil && envName != "" {
		meta.Attributes = map[string]string{"swe-agent.environment": envName}
	}

	r := &meta.Refs
	repo := rc.Env.Repo
	switch {
	case repo.GithubURL != "":
		r.Repo = &trace.Ref{Value: repo.GithubURL, Provenance: trace.Recorded, From: "replay_config.env.repo.github_url"}
	case ownerRepoDir(workdir) != "":
		r.Repo = &trace.Ref{Value: ownerRepoDir(workdir), Provenance: trace.Inferred, From: "trajectory[].state.working_dir " + workdir + " (SWE-agent clones owner/repo to /owner__repo)"}
	default:
		if name, ok := swebench.Repo(instance); ok {
			r.Repo = &trace.Ref{Value: name, Provenance: trace.Inferred, From: "instance id " + instance + " (" + instFrom + "), as SWE-bench names it"}
		}
	}
	if repo.BaseCommit != "" {
		r.BaseCommit = &trace.Ref{Value: repo.BaseCommit, Provenance: trace.Recorded, From: "replay_config.env.repo.base_commit"}
	}
	switch {
	case workdir != "":
		r.Cwd = &trace.Ref{Value: workdir, Provenance: trace.Recorded, From: "trajectory[].state.working_dir"}
	case rc.Env.Repo.RepoName != "":
		r.Cwd = &trace.Ref{Value: "/" + strings.TrimPrefix(rc.Env.Repo.RepoName, "/"), Provenance: trace.Inferred, From: "replay_config.env.repo.repo_name (SWE-agent places the repository at /<repo_name>)"}
	}
	if img := rc.Env.Deployment.Image; img != "" {
		r.Image = &trace.Ref{Value: img, Provenance: trace.Recorded, From: "replay_config.env.deployment.image"}
	}
	if u := rc.ProblemStatement.GithubURL; u != "" {
		r.Issue = &trace.Ref{Value: u, Provenance: trace.Recorded, From: "replay_config.problem_statement.github_url"}
	}
	if r.Repo == nil {
		if err := im.warn("record %q: no repository: the trajectory names none (replay_config.env.repo) and the instance id is not SWE-bench's owner__repo-N; give --repo to replay it", instance); err != nil {
			return err
		}
	}
	if r.BaseCommit == nil {
		why := "replay_config.env.repo.base_commit is absent"
		if !v1 {
			why = "a 0.x trajectory has no replay_config.env.repo.base_commit"
		}
		if err := im.warn("record %q: no base commit (%s); give --commit to replay it at a known commit", instance, why); err != nil {
			return err
		}
	}
	md := rc.Agent.Model
	meta.Defaults = trace.Params{Model: md.Name, Temperature: md.Temperature, TopP: md.TopP}
	for _, m := range f.History {
		if m.Role == "system" {
			meta.Instr.System = contentText(m.Content)
			break
		}
	}
	if err := im.e.Emit(&trace.Event{Type: trace.EvRun, Meta: &meta}); err != nil {
		return err
	}

	// An action of the history is the next trajectory[] entry with the same
	// command (a demonstration's history can lack one of them).
	tpos := 0
	traj := func(action string) (obs string, ms int64, ok bool) {
		for j := tpos; j < len(f.Trajectory); j++ {
			t := f.Trajectory[j]
			if strings.TrimSpace(t.Action) != strings.TrimSpace(action) {
				continue
			}
			tpos = j + 1
			if t.ExecutionTime != nil {
				ms = int64(*t.ExecutionTime * 1000)
			}
			return t.Observation, ms, true
		}
		return "", 0, false
	}
	var (
		pending []*trace.ToolCall // calls of the last model response awaiting their result
		actions int
		final   string
		sawTask bool
	)
	flush := func(obs *string) error {
		for i, c := range pending {
			if i == 0 && obs != nil {
				c.Output, c.Status = *obs, trace.ToolOK
			}
			if err := im.e.Emit(&trace.Event{Type: trace.EvTool, Tool: c}); err != nil {
				return err
			}
		}
		pending = nil
		return nil
	}
	systemSeen := false
	for i, m := range f.History {
		if i&63 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		text := contentText(m.Content)
		switch {
		case m.Role == "system" && !systemSeen:
			systemSeen = true
		case m.Role == "assistant":
			if err := flush(nil); err != nil {
				return err
			}
			out := trace.Message{Role: "assistant"}
			if text != "" {
				out.Parts = append(out.Parts, trace.Part{Type: trace.PartText, Text: text})
				final = text
			}
			action := ""
			if m.Action != nil {
				action = strings.TrimRight(*m.Action, "\n")
			}
			var calls []*trace.ToolCall
			switch {
			case len(m.ToolCalls) > 0:
				for _, tc := range m.ToolCalls {
					args := argsJSON(tc.Function.Arguments, action)
					calls = append(calls, &trace.ToolCall{CallID: im.callID(tc.ID), Name: tc.Function.Name, Arguments: args, Status: trace.ToolMissing})
				}
			case strings.TrimSpace(action) != "":
				args, _ := json.Marshal(map[string]string{"command": action})
				calls = append(calls, &trace.ToolCall{CallID: im.callID(fmt.Sprintf("call-%d", actions+1)), Name: commandTool(action), Arguments: args, Status: trace.ToolMissing})
			}
			for _, c := range calls {
				out.Parts = append(out.Parts, trace.Part{Type: trace.PartToolCall, ID: c.CallID, Name: c.Name, Arguments: c.Arguments})
			}
			llm := &trace.LLMCall{Model: meta.Defaults.Model, Output: out}
			if len(calls) > 0 {
				llm.StopReason = "tool_calls"
			}
			if err := im.e.Emit(&trace.Event{Type: trace.EvLLM, LLM: llm}); err != nil {
				return err
			}
			if len(calls) > 0 {
				if obs, ms, ok := traj(action); ok {
					calls[0].Output, calls[0].Status, calls[0].DurationMS = obs, trace.ToolOK, ms
				}
				actions++
			}
			pending = calls
		case (m.Role == "tool" || m.Role == "user") && len(pending) > 0:
			obs := text
			if pending[0].Status == trace.ToolOK { // the raw observation from trajectory[]
				obs = pending[0].Output
			}
			if err := flush(&obs); err != nil {
				return err
			}
		default:
			msg := &trace.Message{Role: m.Role, Parts: []trace.Part{{Type: trace.PartText, Text: text}}}
			if m.Role == "tool" {
				msg.Role = "user"
			}
			msg.Meta = m.IsDemo || m.MessageType == "demonstration" || (sawTask && m.Role == "user")
			if m.Role == "user" && !msg.Meta {
				sawTask = true
			}
			if err := im.e.Emit(&trace.Event{Type: trace.EvMessage, Message: msg}); err != nil {
				return err
			}
		}
	}
	// The last action's result is in trajectory[] only (0.x ends on the
	// submit action).
	for _, c := range pending {
		if err := im.e.Emit(&trace.Event{Type: trace.EvTool, Tool: c}); err != nil {
			return err
		}
	}
	return im.e.Emit(&trace.Event{Type: trace.EvOutcome, Outcome: outcome(f.Info, final)})
}

func outcome(in info, final string) *trace.Outcome {
	o := &trace.Outcome{Status: trace.StatusUnknown, Final: final}
	status := ""
	if in.ExitStatus != nil {
		status = *in.ExitStatus
	}
	switch {
	case status == "":
	case strings.HasPrefix(status, "submitted"):
		o.Status = trace.StatusOK
	case strings.Contains(status, "error"):
		o.Status, o.Error = trace.StatusError, "exit status "+status
	default: // exit_cost, exit_context, exit_format, early_exit, …
		o.Status, o.Error = trace.StatusInterrupted, "exit status "+status
	}
	if in.Submission != nil {
		o.Patch = NormalizePatch(*in.Submission)
	}
	if status != "" || o.Patch != "" {
		v, _ := json.Marshal(struct {
			ExitStatus string   `json:"exit_status,omitempty"`
			Files      []string `json:"files"`
		}{status, PatchFiles(o.Patch)})
		o.Decision = &trace.Decision{Kind: "patch", Source: "info.submission", Value: v}
	}
	if ms := in.ModelStats; ms != nil {
		cost := ms.InstanceCost
		if cost == nil {
			cost = ms.TotalCost
		}
		if ms.TokensSent > 0 || ms.TokensReceived > 0 || (cost != nil && *cost > 0) {
			o.Recorded = &trace.Totals{CostUSD: cost, Turns: ms.APICalls,
				Usage: &trace.Usage{Input: ms.TokensSent, Output: ms.TokensReceived}}
		}
	}
	return o
}

// NormalizePatch makes a recorded submission a plain unified diff: the
// terminal's CRLF line ends become LF and leading blank lines go.
func NormalizePatch(p string) string {
	p = strings.ReplaceAll(p, "\r\n", "\n")
	return strings.TrimLeft(p, "\r\n")
}

// PatchFiles lists the files a unified git diff touches, in order.
func PatchFiles(patch string) []string {
	files := []string{}
	for line := range strings.SplitSeq(patch, "\n") {
		if rest, ok := strings.CutPrefix(line, "diff --git a/"); ok {
			if i := strings.Index(rest, " b/"); i >= 0 {
				files = append(files, rest[:i])
			}
		}
	}
	return files
}

// workingDir returns the working directory of the trajectory's first
// state (a JSON object, or in 0.x a JSON string holding one).
func workingDir(f *file) string {
	for _, t := range f.Trajectory {
		raw := t.State
		var s string
		if json.Unmarshal(raw, &s) == nil {
			raw = json.RawMessage(s)
		}
		var st struct {
			WorkingDir string `json:"working_dir"`
		}
		if json.Unmarshal(raw, &st) == nil && st.WorkingDir != "" {
			return st.WorkingDir
		}
	}
	return ""
}

var ownerRepoRE = regexp.MustCompile(`^/([A-Za-z0-9][A-Za-z0-9.-]*(?:_[A-Za-z0-9.-]+)*)__([A-Za-z0-9.][A-Za-z0-9._-]*)$`)

// ownerRepoDir returns owner/repo for a 0.x working directory /owner__repo,
// or "".
func ownerRepoDir(dir string) string {
	m := ownerRepoRE.FindStringSubmatch(dir)
	if m == nil || strings.Contains(m[2], "__") {
		return ""
	}
	return m[1] + "/" + m[2]
}

// commandTool names the tool an action line calls.
func commandTool(action string) string {
	fields := strings.Fields(action)
	if len(fields) > 0 && harnessCommands[fields[0]] {
		return fields[0]
	}
	return "bash"
}

func (im *importer) callID(id string) string {
	if id == "" {
		id = "call"
	}
	n := im.seen[id]
	im.seen[id] = n + 1
	if n == 0 {
		return id
	}
	return fmt.Sprintf("%s#%d", id, n+1)
}

// argsJSON returns a tool call's arguments as a JSON object: OpenAI's JSON
// string decoded, or the action line as {"command": …} when they are not
// JSON.
func argsJSON(raw json.RawMessage, action string) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(s)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' && json.Valid(raw) {
		return append(json.RawMessage(nil), raw...)
	}
	b, _ := json.Marshal(map[string]string{"command": action})
	return b
}

func contentText(raw json.RawMessage) string { return trace.ContentText(raw) }
