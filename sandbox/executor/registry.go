package executor

import (
	"strings"

	json "github.com/goccy/go-json"
)

// Tool families: whose argument schemas and result texts a tool follows.
const (
	FamilyClaudeCode = "claude-code" // Claude Code's built-in tools
	FamilyGeneric    = "generic"     // plain names and results, for models behind an OpenAI-compatible API
	// FamilyBench are the tools of the agent-benchmark harnesses: SWE-agent's
	// and OpenHands' shell (bash, execute_bash) and file editor
	// (str_replace_editor), inspect_ai's bash and python. Their results are
	// what the harness showed the model: the command's output as a terminal
	// shows it (stdout and stderr interleaved, no exit-code line), editor
	// failures as "ERROR:\n…" text.
	FamilyBench = "agent-bench"
	// FamilyAnthropic is Anthropic's text-editor tool
	// (str_replace_based_edit_tool): the editor's texts, failures marked
	// as errors.
	FamilyAnthropic = "anthropic"
)

// Tool is one tool the executor implements: what a model is offered (name,
// description, JSON schema of the arguments) and the code that runs it.
//
// Tools is the one list of them. The tool definitions offered to models
// (sandbox.ClaudeCodeTools, sandbox.GenericTools) and the replay engine's
// default policy (a tool listed here runs in the sandbox) are derived from
// it, so a tool cannot be offered without being implemented, or be
// implemented and then refused.
type Tool struct {
	Name   string
	Family string
	// Shell marks a tool that runs a shell command line: a policy judges
	// its calls by the programs the command runs.
	Shell       bool
	Description string
	Schema      json.RawMessage

	fn toolFunc
}

func (t Tool) dialect() dialect {
	switch t.Family {
	case FamilyGeneric:
		return generic
	case FamilyBench:
		return bench
	case FamilyAnthropic:
		return anthropicEditor
	}
	return claude
}

// Tools lists every tool the executor implements, Claude Code's first, then
// the generic set.
func Tools() []Tool {
	return []Tool{
		{Name: "Bash", Family: FamilyClaudeCode, Shell: true, fn: (*Server).bashTool,
			Description: "Run a shell command in the workspace. The working directory persists between calls.",
			Schema: schema(`{
			"command": {"type": "string", "description": "The command to run"},
			"timeout": {"type": "number", "description": "Timeout in milliseconds (at most 600000)"},
			"description": {"type": "string", "description": "What the command does, in a few words"}
		}`, "command")},
		{Name: "Read", Family: FamilyClaudeCode, Shell: false, fn: (*Server).readTool,
			Description: "Read a file, with line numbers.",
			Schema: schema(`{
			"file_path": {"type": "string", "description": "Absolute path of the file"},
			"offset": {"type": "number", "description": "Line number to start at"},
			"limit": {"type": "number", "description": "Number of lines to read (default 2000)"}
		}`, "file_path")},
		{Name: "Write", Family: FamilyClaudeCode, Shell: false, fn: (*Server).writeTool,
			Description: "Write a file, replacing it if it exists.",
			Schema: schema(`{
			"file_path": {"type": "string", "description": "Absolute path of the file"},
			"content": {"type": "string", "description": "The whole new content"}
		}`, "file_path", "content")},
		{Name: "Edit", Family: FamilyClaudeCode, Shell: false, fn: (*Server).editTool,
			Description: "Replace an exact string in a file; it must be unique unless replace_all is set.",
			Schema: schema(`{
			"file_path": {"type": "string", "description": "Absolute path of the file"},
			"old_string": {"type": "string", "description": "The text to replace"},
			"new_string": {"type": "string", "description": "The replacement"},
			"replace_all": {"type": "boolean", "description": "Replace every occurrence", "default": false}
		}`, "file_path", "old_string", "new_string")},
		{Name: "MultiEdit", Family: FamilyClaudeCode, Shell: false, fn: (*Server).multiEditTool,
			Description: "Apply several exact replacements to one file, in order, all or nothing.",
			Schema: schema(`{
			"file_path": {"type": "string", "description": "Absolute path of the file"},
			"edits": {"type": "array", "minItems": 1, "items": {"type": "object", "properties": {
				"old_string": {"type": "string"}, "new_string": {"type": "string"}, "replace_all": {"type": "boolean", "default": false}
			}, "required": ["old_string", "new_string"], "additionalProperties": false}}
		}`, "file_path", "edits")},
		{Name: "Glob", Family: FamilyClaudeCode, Shell: false, fn: (*Server).globTool,
			Description: "Find files by glob pattern (\"**/*.go\"), oldest first.",
			Schema: schema(`{
			"pattern": {"type": "string", "description": "The glob pattern"},
			"path": {"type": "string", "description": "Directory to search (default: the working directory)"}
		}`, "pattern")},
		{Name: "Grep", Family: FamilyClaudeCode, Shell: false, fn: (*Server).grepTool,
			Description: "Search file contents with a regular expression (ripgrep semantics).",
			Schema: schema(`{
			"pattern": {"type": "string", "description": "The regular expression"},
			"path": {"type": "string", "description": "File or directory to search"},
			"glob": {"type": "string", "description": "Only files matching this glob (\"*.{ts,tsx}\")"},
			"type": {"type": "string", "description": "Only files of this type (go, js, py, …)"},
			"output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
			"-i": {"type": "boolean", "description": "Case insensitive"},
			"-n": {"type": "boolean", "description": "Line numbers (content mode)"},
			"-A": {"type": "number", "description": "Lines after each match"},
			"-B": {"type": "number", "description": "Lines before each match"},
			"-C": {"type": "number", "description": "Lines around each match"},
			"multiline": {"type": "boolean", "description": "Let . and patterns span lines"},
			"head_limit": {"type": "number", "description": "At most this many results"},
			"offset": {"type": "number", "description": "Skip this many results"}
		}`, "pattern")},
		{Name: "LS", Family: FamilyClaudeCode, Shell: false, fn: (*Server).lsTool,
			Description: "List a directory as a tree.",
			Schema: schema(`{
			"path": {"type": "string", "description": "Absolute path of the directory"},
			"ignore": {"type": "array", "items": {"type": "string"}, "description": "Glob patterns to leave out"}
		}`, "path")},
		{Name: "shell", Family: FamilyGeneric, Shell: true, fn: (*Server).bashTool,
			Description: "Run a command in the workspace and return its output and exit code.",
			Schema: schema(`{
			"command": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}], "description": "A shell command, or an argv array run without a shell"},
			"workdir": {"type": "string", "description": "Directory to run in"},
			"timeout_ms": {"type": "number", "description": "Timeout in milliseconds"}
		}`, "command")},
		{Name: "read_file", Family: FamilyGeneric, Shell: false, fn: (*Server).readTool,
			Description: "Read a text file.",
			Schema: schema(`{
			"path": {"type": "string"},
			"offset": {"type": "number", "description": "First line (1-based)"},
			"limit": {"type": "number", "description": "Number of lines"}
		}`, "path")},
		{Name: "write_file", Family: FamilyGeneric, Shell: false, fn: (*Server).writeTool,
			Description: "Create or replace a file.",
			Schema: schema(`{
			"path": {"type": "string"},
			"content": {"type": "string"}
		}`, "path", "content")},
		{Name: "edit_file", Family: FamilyGeneric, Shell: false, fn: (*Server).editTool,
			Description: "Replace exact text in a file (unique unless replace_all), or apply several edits.",
			Schema: schema(`{
			"path": {"type": "string"},
			"old_string": {"type": "string"},
			"new_string": {"type": "string"},
			"replace_all": {"type": "boolean", "default": false},
			"edits": {"type": "array", "items": {"type": "object", "properties": {
				"old_string": {"type": "string"}, "new_string": {"type": "string"}, "replace_all": {"type": "boolean"}
			}, "required": ["old_string", "new_string"]}}
		}`, "path")},
		{Name: "glob", Family: FamilyGeneric, Shell: false, fn: (*Server).globTool,
			Description: "Find files by glob pattern.",
			Schema: schema(`{
			"pattern": {"type": "string"},
			"path": {"type": "string"}
		}`, "pattern")},
		{Name: "grep", Family: FamilyGeneric, Shell: false, fn: (*Server).grepTool,
			Description: "Search file contents with a regular expression.",
			Schema: schema(`{
			"pattern": {"type": "string"},
			"path": {"type": "string"},
			"glob": {"type": "string"},
			"output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
			"ignore_case": {"type": "boolean"},
			"context": {"type": "number"}
		}`, "pattern")},
		{Name: "bash", Family: FamilyBench, Shell: true, fn: (*Server).bashTool,
			Description: "Run a bash command in the workspace (SWE-agent, inspect_ai); the output is what a terminal shows.",
			Schema: schema(`{
			"command": {"type": "string", "description": "The command to run"}
		}`, "command")},
		{Name: "execute_bash", Family: FamilyBench, Shell: true, fn: (*Server).bashTool,
			Description: "Run a bash command in the workspace (OpenHands); the output is what a terminal shows.",
			Schema: schema(`{
			"command": {"type": "string", "description": "The command to run"},
			"is_input": {"type": "string", "description": "Unsupported: input to a running process"},
			"timeout": {"type": "number", "description": "Timeout in seconds"}
		}`, "command")},
		{Name: "python", Family: FamilyBench, Shell: true, fn: (*Server).pythonTool,
			Description: "Run Python code with the image's python3 (inspect_ai's python tool).",
			Schema: schema(`{
			"code": {"type": "string", "description": "The Python code to run"}
		}`, "code")},
		{Name: "str_replace_editor", Family: FamilyBench, Shell: false, fn: (*Server).editorTool,
			Description: "View, create and edit files (SWE-agent, OpenHands): view, create, str_replace, insert, undo_edit.",
			Schema: schema(`{
			"command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"], "description": "The command to run"},
			"path": {"type": "string", "description": "Absolute path of the file or directory"},
			"file_text": {"type": "string", "description": "The content of the file to create (create)"},
			"old_str": {"type": "string", "description": "The exact text to replace; it must occur once (str_replace)"},
			"new_str": {"type": "string", "description": "The replacement (str_replace) or the text to insert (insert)"},
			"insert_line": {"type": "integer", "description": "Insert after this line; 0 inserts at the top (insert)"},
			"view_range": {"type": "array", "items": {"type": "integer"}, "description": "[first, last] lines to view; last -1 is the end (view)"}
		}`, "command", "path")},
		{Name: "str_replace_based_edit_tool", Family: FamilyAnthropic, Shell: false, fn: (*Server).editorTool,
			Description: "Anthropic's text editor: view, create, str_replace, insert, undo_edit.",
			Schema: schema(`{
			"command": {"type": "string", "enum": ["view", "create", "str_replace", "insert", "undo_edit"], "description": "The command to run"},
			"path": {"type": "string", "description": "Absolute path of the file or directory"},
			"file_text": {"type": "string", "description": "The content of the file to create (create)"},
			"old_str": {"type": "string", "description": "The exact text to replace; it must occur once (str_replace)"},
			"new_str": {"type": "string", "description": "The replacement (str_replace) or the text to insert (insert)"},
			"insert_line": {"type": "integer", "description": "Insert after this line; 0 inserts at the top (insert)"},
			"view_range": {"type": "array", "items": {"type": "integer"}, "description": "[first, last] lines to view; last -1 is the end (view)"}
		}`, "command", "path")},
		{Name: "list_dir", Family: FamilyGeneric, Shell: false, fn: (*Server).lsTool,
			Description: "List a directory (one level; directories end in /).",
			Schema: schema(`{
			"path": {"type": "string"}
		}`)},
	}
}

// LookupTool returns the tool of that name.
func LookupTool(name string) (Tool, bool) {
	for _, t := range Tools() {
		if t.Name == name {
			return t, true
		}
	}
	return Tool{}, false
}

// schema is the JSON schema of an object with the given properties (a JSON
// object text) and required names; no other property is allowed. It only
// assembles text (Tools is called on every policy decision); a test checks
// that every schema is valid JSON.
func schema(props string, required ...string) json.RawMessage {
	var b strings.Builder
	b.WriteString(`{"additionalProperties":false,"properties":`)
	b.WriteString(compact(props))
	if len(required) > 0 {
		b.WriteString(`,"required":["`)
		b.WriteString(strings.Join(required, `","`))
		b.WriteString(`"]`)
	}
	b.WriteString(`,"type":"object"}`)
	return json.RawMessage(b.String())
}

// compact drops the whitespace outside strings of a schema written for
// reading.
func compact(s string) string {
	var b strings.Builder
	inString, escaped := false, false
	for _, c := range s {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
