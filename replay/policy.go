package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/agentreplay/replay/replay/trace"
	"github.com/agentreplay/replay/sandbox"
)

// Policy says how a tool call of the new run is answered.
type Policy string

// Policies.
const (
	// Exec runs the call in the sandbox.
	Exec Policy = "exec"
	// Recorded answers with the recorded result of the identical call; a
	// call never recorded is a divergence, answered by the fallback (deny).
	Recorded Policy = "recorded"
	// Deny answers with an error the model sees.
	Deny Policy = "deny"
	// Agent starts a nested agent loop (Task / Agent sub-agents).
	Agent Policy = "agent"
)

// ParsePolicy reads a policy name.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(strings.ToLower(strings.TrimSpace(s))); p {
	case Exec, Recorded, Deny, Agent:
		return p, nil
	}
	return "", fmt.Errorf("unknown tool policy %q: valid policies are exec, recorded, deny, agent", s)
}

// unimplementedWorkspaceTools change only the workspace but the sandbox
// does not implement them (the sandbox's own list, sandbox.IsWorkspaceTool,
// says what runs there): their recorded answer is the answer.
var unimplementedWorkspaceTools = []string{"NotebookEdit"}

// conversationTools have no effect outside the conversation: their recorded
// answer is the answer.
var conversationTools = []string{"TodoWrite", "TodoRead", "ExitPlanMode", "TaskOutput", "BashOutput"}

// agentTools start a sub-agent.
var agentTools = []string{"Task", "Agent"}

// PolicySet holds the policy per tool name, with the defaults for the rest.
type PolicySet struct {
	byName map[string]Policy
	// foreign are the tools of the agent's own that share a name with one
	// the sandbox runs (WithRecording), with why.
	foreign map[string]string
}

// WithRecording returns ps knowing which tools of the recorded run are the
// agent's own although they share a name with one the sandbox runs: told
// apart by the trace's definition of the tool or by its recorded calls
// (any-agent's write_file(text) is not the generic write_file(path,
// content)). Their calls follow the policy of unknown tools.
func (ps PolicySet) WithRecording(orig *trace.Run) PolicySet {
	ps.foreign = map[string]string{}
	defs := map[string]trace.ToolDef{}
	for _, d := range orig.Meta.Instr.Tools {
		if len(d.Schema) > 0 {
			defs[d.Name] = d
		}
	}
	for name, d := range defs {
		if why := foreignDef(name, d.Schema); why != "" {
			ps.foreign[name] = why
		}
	}
	var walk func(r *trace.Run)
	walk = func(r *trace.Run) {
		for _, st := range r.Steps {
			if t := st.Tool; t != nil && ps.foreign[t.Name] == "" {
				if why := foreignCall(t.Name, t.Arguments); why != "" {
					ps.foreign[t.Name] = why
				}
			}
		}
		for _, c := range r.Children {
			walk(c)
		}
	}
	walk(orig)
	return ps
}

// schemaShape reads the property names and required names of an object
// schema (ok false when it is not one).
func schemaShape(raw json.RawMessage) (props map[string]bool, required []string, closed, ok bool) {
	var s struct {
		Type       any                        `json:"type"`
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
		Additional *bool                      `json:"additionalProperties"`
	}
	if json.Unmarshal(raw, &s) != nil || s.Properties == nil {
		return nil, nil, false, false
	}
	props = map[string]bool{}
	for k := range s.Properties {
		props[k] = true
	}
	return props, s.Required, s.Additional != nil && !*s.Additional, true
}

// foreignDef says why the trace's definition of a tool that shares its
// name with one the sandbox runs is another tool: it lacks a property the
// sandbox's tool requires. "" when it fits.
func foreignDef(name string, schema json.RawMessage) string {
	ours, _, ok := sandbox.LookupToolDef(name)
	if !ok {
		return ""
	}
	_, required, _, ok := schemaShape(ours.Schema)
	theirs, _, _, ok2 := schemaShape(schema)
	if !ok || !ok2 {
		return ""
	}
	for _, r := range required {
		if !theirs[r] {
			return fmt.Sprintf("the trace defines its own %s (no %q property): not the sandbox's %s", name, r, name)
		}
	}
	return ""
}

// foreignCall says why a recorded call of a tool that shares its name with
// one the sandbox runs was made to another tool: it lacks an argument the
// sandbox's tool requires, or (for the generic set, whose plain names any
// agent may use) passes one it does not take. "" when it fits.
func foreignCall(name string, args json.RawMessage) string {
	ours, generic, ok := sandbox.LookupToolDef(name)
	if !ok {
		return ""
	}
	props, required, closed, ok := schemaShape(ours.Schema)
	var a map[string]json.RawMessage
	if !ok || len(bytes.TrimSpace(args)) == 0 || json.Unmarshal(args, &a) != nil {
		return ""
	}
	for _, r := range required {
		if _, has := a[r]; !has {
			return fmt.Sprintf("its recorded call has no %q argument, which the sandbox's %s requires: a tool of the agent's own", r, name)
		}
	}
	if generic && closed {
		var extra []string
		for k := range a {
			if !props[k] {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			slices.Sort(extra)
			return fmt.Sprintf("its recorded call passes %s, which the sandbox's %s does not take: a tool of the agent's own", strings.Join(quoteAll(extra), ", "), name)
		}
	}
	return ""
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// NewPolicySet returns the defaults overridden by the given NAME=POLICY pairs.
func NewPolicySet(overrides map[string]Policy) PolicySet {
	return PolicySet{byName: overrides}
}

// Decide returns the policy for a call and why it applies. Defaults: tools
// that only read or change the workspace run in the sandbox; sub-agent tools
// start a nested loop; tools that reach outside (network, GitHub writes,
// posting comments, pushing, MCP tools) never run for real: they are
// answered from the recording when the call is identical, else denied. A
// shell command is judged by what it runs.
func (ps PolicySet) Decide(name string, args json.RawMessage) (Policy, string) {
	if p, ok := ps.byName[name]; ok {
		return p, "--tool-policy " + name + "=" + string(p)
	}
	switch {
	case slices.Contains(agentTools, name):
		return Agent, "a sub-agent tool starts a nested agent"
	case slices.Contains(conversationTools, name):
		return Recorded, "no effect outside the conversation"
	}
	if why := ps.foreign[name]; why != "" {
		return Recorded, why + "; answered as an unknown tool (it may reach outside)"
	}
	switch {
	case sandbox.IsShellTool(name):
		if why := reachesOutside(commandOf(args)); why != "" {
			return Recorded, why
		}
		return Exec, "a workspace tool"
	case sandbox.IsWorkspaceTool(name):
		return Exec, "a workspace tool"
	case slices.Contains(unimplementedWorkspaceTools, name):
		return Recorded, "the sandbox does not implement " + name
	case strings.HasPrefix(name, "mcp__"):
		return Recorded, "an MCP tool may change remote state"
	case name == "WebFetch" || name == "WebSearch":
		return Recorded, "reaches the network"
	}
	return Recorded, "an unknown tool may reach outside"
}

func commandOf(args json.RawMessage) string {
	var a struct {
		Command any `json:"command"`
	}
	if json.Unmarshal(args, &a) != nil {
		return ""
	}
	switch c := a.Command.(type) {
	case string:
		return c
	case []any: // Codex's argv form
		var parts []string
		for _, p := range c {
			if s, ok := p.(string); ok {
				parts = append(parts, s)
			}
		}
		// bash -lc "script": the script is the command.
		if len(parts) == 3 && slices.Contains([]string{"bash", "sh", "zsh"}, parts[0][strings.LastIndex(parts[0], "/")+1:]) && strings.HasPrefix(parts[1], "-") && strings.Contains(parts[1], "c") {
			return parts[2]
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// outsideCommands reach the network or remote state whatever their
// arguments.
var outsideCommands = []string{"gh", "curl", "wget", "ssh", "scp", "rsync", "nc", "ncat", "telnet", "ftp", "hub", "glab", "aws", "gcloud", "az", "kubectl", "docker", "npx", "pip", "pip3", "npm", "yarn", "pnpm"}

// wrappers run the command that follows them (after their own options).
var wrappers = []string{"sudo", "env", "time", "nohup", "exec", "command", "nice", "ionice", "stdbuf", "timeout", "xargs", "watch", "chronic", "unbuffer", "setsid", "strace", "ltrace", "doas", "builtin"}

// shells run the script given with -c.
var shells = []string{"sh", "bash", "zsh", "dash", "ksh", "ash", "busybox"}

// reachesOutside says why a shell command reaches outside the workspace, or
// "" when it does not. It looks at every command of a pipeline or list,
// through wrappers (sudo -E, env K=V, timeout 10, xargs) and into scripts
// run by a shell (bash -c '…') or eval.
func reachesOutside(cmd string) string {
	return reachesOutsideDepth(cmd, 0)
}

func reachesOutsideDepth(cmd string, depth int) string {
	if depth > 8 {
		return "a command nested too deep to judge"
	}
	for _, seg := range splitCommands(cmd) {
		words := skipWrappers(strings.Fields(seg))
		if len(words) == 0 {
			continue
		}
		prog := words[0][strings.LastIndex(words[0], "/")+1:]
		switch {
		case slices.Contains(shells, prog) || prog == "eval":
			// The script it runs is a command line of its own.
			rest := words[1:]
			if prog == "busybox" && len(rest) > 0 && slices.Contains(shells, rest[0]) {
				rest = rest[1:]
			}
			if prog != "eval" {
				i := slices.IndexFunc(rest, func(a string) bool { return strings.HasPrefix(a, "-") && strings.Contains(a, "c") })
				if i < 0 {
					continue // a script file: run in the workspace
				}
				rest = rest[i+1:]
			}
			if why := reachesOutsideDepth(unquote(strings.Join(rest, " ")), depth+1); why != "" {
				return why
			}
		case slices.Contains(outsideCommands, prog):
			if prog == "npm" || prog == "yarn" || prog == "pnpm" || prog == "pip" || prog == "pip3" {
				if len(words) > 1 && slices.Contains([]string{"test", "run", "list", "ls", "show", "freeze"}, words[1]) {
					continue
				}
			}
			return fmt.Sprintf("%q reaches the network or remote state", prog)
		case prog == "git" && len(words) > 1:
			switch sub := gitSubcommand(words[1:]); sub {
			case "push", "fetch", "pull", "clone", "ls-remote", "remote", "submodule", "send-email":
				return fmt.Sprintf("\"git %s\" reaches a remote", sub)
			}
		}
	}
	return ""
}

// skipWrappers drops environment assignments, wrappers and the wrappers'
// own options and arguments from the front of a command's words.
func skipWrappers(words []string) []string {
	for len(words) > 0 {
		w := words[0]
		base := w[strings.LastIndex(w, "/")+1:]
		switch {
		case strings.Contains(w, "=") && !strings.HasPrefix(w, "-"):
			words = words[1:]
		case slices.Contains(wrappers, base):
			words = words[1:]
			for len(words) > 0 && (strings.HasPrefix(words[0], "-") || (base == "timeout" || base == "nice" || base == "watch") && isNumberish(words[0])) {
				words = words[1:]
			}
		default:
			return words
		}
	}
	return words
}

// isNumberish is a wrapper's numeric argument (timeout 10, timeout 2m).
func isNumberish(s string) bool {
	return s != "" && (s[0] >= '0' && s[0] <= '9')
}

// unquote takes the outer quotes off a script given to a shell.
func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// gitSubcommand skips git's global options (-C dir, -c k=v, --no-pager…).
func gitSubcommand(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-C" || a == "-c" || a == "--git-dir" || a == "--work-tree":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

// splitCommands cuts a shell command line at ;, &&, ||, | and newlines,
// outside quotes. It is a judgement aid, not a shell parser: $(…) and
// backquoted commands are scanned as words of the command they are in, and
// a command hidden in them is found by the word scan of the whole line.
func splitCommands(s string) []string {
	var (
		out   []string
		cur   strings.Builder
		quote byte
	)
	flush := func() {
		if t := strings.TrimSpace(cur.String()); t != "" {
			out = append(out, t)
		}
		cur.Reset()
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote = c
			cur.WriteByte(c)
		case c == ';' || c == '\n' || c == '|' || c == '&' || c == '(' || c == ')' || c == '`':
			flush()
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			flush()
			i++
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

// callKey identifies a call for matching against the recording: the tool
// name and its arguments in a canonical encoding (keys sorted, no spaces).
// Arguments that only describe a call for a human (Claude Code's Bash and
// Task "description") do not make it a different call.
func callKey(name string, args json.RawMessage) string {
	if name == "Bash" || name == "Task" || name == "Agent" {
		var m map[string]json.RawMessage
		if json.Unmarshal(args, &m) == nil && m["description"] != nil {
			delete(m, "description")
			args, _ = json.Marshal(m)
		}
	}
	return name + "\x00" + string(canonicalJSON(args))
}

// canonicalJSON re-encodes JSON with sorted keys and no insignificant
// space; input that is not JSON is returned trimmed.
func canonicalJSON(b json.RawMessage) []byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return []byte("{}")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return b
	}
	out, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		return b
	}
	return out
}

// VerifyBlockers says, from a trace's summary and before anything runs, why
// a verify of it would prove nothing of the world (and exit 3, incomplete):
// no tool call it would re-execute under ps, or no repository to rebuild.
// Inspect adds them to the trace's replayable reasons.
func VerifyBlockers(sum trace.Summary, ps PolicySet) []string {
	var out []string
	if sum.ToolCalls == 0 {
		out = append(out, "verify: no tool calls recorded, so a verify re-executes nothing and checks nothing of the world")
	} else {
		var names []string
		reexec := false
		for name := range sum.Tools {
			if p, _ := ps.Decide(name, nil); p == Exec || p == Agent {
				reexec = true
				break
			}
			names = append(names, name)
		}
		if !reexec {
			slices.Sort(names)
			out = append(out, fmt.Sprintf("verify: none of its tools is re-executed (%s: answered from the recording, as tools that may reach outside), so a verify checks nothing of the world; --tool-policy NAME=exec re-executes a tool that only touches the workspace", strings.Join(names, ", ")))
		}
	}
	if _, ok := sum.Refs["repo"]; !ok {
		out = append(out, "verify: the trace names no repository, so its tools would run in an empty workspace; pass --repo (a URL, owner/name, a local repository or a git bundle)")
	}
	return out
}
